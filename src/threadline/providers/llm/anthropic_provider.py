"""A ``ChatProvider`` over Anthropic's Messages API (providers of ``kind: anthropic``): what runs
and responses call when their model is served by Anthropic.

It is the OpenAI-compatible provider with another request and another stream: the same
transport, the same one retry loop (before the first delta only, as ``retry_policy`` decides:
429, 529 "overloaded", 502-504, connection errors; an ``error`` event before any output, such as
a mid-stream ``overloaded_error``, too), the same failure codes and sanitised messages. Requests
are ``POST {base_url}/messages`` with ``x-api-key`` and ``anthropic-version``; the body is
``anthropic_requests``' translation and the stream is read by ``anthropic_stream``."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing

import httpx
import orjson

from threadline import __version__
from threadline.providers.llm.anthropic_requests import Untranslatable, messages_request
from threadline.providers.llm.anthropic_stream import AnthropicTurn
from threadline.providers.llm.base import ChatDelta, ChatRequest, UpstreamFailure
from threadline.providers.llm.call_span import ModelCallSpan
from threadline.providers.llm.event_stream import EventStreamDecoder
from threadline.providers.llm.openai_compatible import (
    OpenAICompatibleProvider,
    Sleep,
    UpstreamOptions,
    chat_body,
)
from threadline.providers.llm.transport import UpstreamResponse, drain
from threadline.records.anthropic import ANTHROPIC_VERSION
from threadline.telemetry import NO_TRACER, Tracer

# After ``message_stop``, how long the rest of the body may take to arrive (see ``drain``).
_DRAIN_SECONDS = 0.1


class AnthropicProvider(OpenAICompatibleProvider):
    """One Anthropic upstream; ``stream`` sends ``request.model`` as the upstream model id."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        anthropic_version: str = ANTHROPIC_VERSION,
        name: str = "anthropic",
        options: UpstreamOptions | None = None,
        http_client: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
        tracer: Tracer = NO_TRACER,
    ) -> None:
        super().__init__(
            base_url=base_url,
            api_key=api_key,
            name=name,
            options=options,
            http_client=http_client,
            sleep=sleep,
            tracer=tracer,
        )
        self._url = base_url.rstrip("/") + "/messages"
        self._headers = {
            "content-type": "application/json",
            "accept": "text/event-stream",
            "user-agent": f"Threadline/{__version__}",
            "anthropic-version": anthropic_version,
        }
        if api_key:
            self._headers["x-api-key"] = api_key

    provider_name = "anthropic"

    def __repr__(self) -> str:
        return f"AnthropicProvider(name={self.name!r})"

    def _encode(self, request: ChatRequest) -> bytes:
        try:
            body = messages_request(chat_body(request), model=request.model, stream=True)
        except Untranslatable as error:
            raise UpstreamFailure(
                "invalid_prompt", f"The request cannot be sent to an Anthropic model: {error}"
            ) from None
        return orjson.dumps(body)

    def _reader(self) -> "_EventReader":
        return _EventReader()

    def _failure_for(self, status: int, detail: str, model: str, quota: bool) -> UpstreamFailure:
        if status == 529:
            return self._failure("server_error", "is overloaded (HTTP 529)")
        return super()._failure_for(status, detail, model, quota)


class _EventReader:
    """One attempt's Anthropic event stream, as ``ChatDelta``s (a ``TurnReader``)."""

    __slots__ = ("turn",)

    def __init__(self) -> None:
        self.turn = AnthropicTurn()

    async def deltas(
        self, response: UpstreamResponse, call: ModelCallSpan | None
    ) -> AsyncIterator[ChatDelta]:
        decoder = EventStreamDecoder()
        turn = self.turn
        async with aclosing(response.chunks()) as chunks:
            async for raw in chunks:
                for event in decoder.feed(raw):
                    if not event.data:
                        continue
                    for delta in turn.feed(orjson.loads(event.data)):
                        yield delta
                if turn.ended:
                    await drain(chunks, _DRAIN_SECONDS)
                    return

    def last(self) -> ChatDelta | None:
        return self.turn.last()
