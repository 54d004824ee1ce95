"""``POST /v1/chat/completions`` for models an Anthropic upstream serves: the request translated
to a Messages request, the answer translated back to a ``chat.completion`` (JSON) or
``chat.completion.chunk``s ending in ``data: [DONE]`` (SSE).

``model_passthrough`` does everything else as for any model — the key, its limits, the budget's
reservation, the cost, usage and the request log — and hands over here once it knows the model
is translated (``ModelRegistry.translates_chat``, one set lookup). Metering uses the translated
usage: Anthropic's input, cache-read and cache-write tokens together are the prompt tokens. A
model's fallbacks may be of either kind: the chain is tried in runs of one kind, each with
``PassthroughClient.open``'s retries, the next run after a failure a fallback may cure."""

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from starlette.types import Receive, Send

from threadline.api.asgi import render_error
from threadline.errors import (
    APIError,
    InvalidRequest,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from threadline.gateway.pricing import format_usd
from threadline.gateway.usage_sniff import Usage
from threadline.providers.llm.anthropic_completions import ChunkStream, chat_completion
from threadline.providers.llm.anthropic_requests import Untranslatable, messages_request
from threadline.providers.llm.chunks import Malformed
from threadline.providers.llm.passthrough import (
    Opened,
    PassthroughClient,
    StreamBroken,
    Target,
    UpstreamUnreachable,
    error_detail,
)
from threadline.providers.llm.retry_policy import falls_back
from threadline.providers.llm.status import InBandError
from threadline.records.jsonvalue import JsonObject

log = logging.getLogger("threadline.providers.llm")

# Records the request's usage (None: nothing to bill) and returns its cost in nano-USD.
Finish = Callable[[Usage | None], Awaitable[int]]

_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_RETRY_HEADERS = ("retry-after", "retry-after-ms", "x-should-retry")


class TranslatedChat:
    """One chat completion request, as the Messages request every Anthropic target gets."""

    def __init__(self, data: JsonObject, model: str, *, stream: bool, include_usage: bool):
        try:  # before anything is reserved or sent: the client's 400
            self._request = messages_request(data, model=model, stream=stream)
        except Untranslatable as error:
            raise InvalidRequest(error.message, param=error.param) from None
        self.model = model
        self.stream = stream
        self.include_usage = include_usage

    def body_for(self, upstream_model: str) -> bytes:
        return orjson.dumps({**self._request, "model": upstream_model})

    async def open(
        self,
        client: PassthroughClient,
        chain: list[Target],
        chat_body_for: Callable[[str], bytes],
        extra_headers: Mapping[str, str] | None = None,
    ) -> Opened:
        """``client.open`` over the chain, a run of targets of one kind at a time: the same
        result and failures as one ``open`` (see passthrough.py)."""
        last: Opened | None = None
        unreachable: UpstreamUnreachable | None = None
        for kind, group in itertools.groupby(chain, key=lambda target: target.upstream.kind):
            targets = list(group)
            if last is not None or unreachable is not None:
                log.warning("pass-through: falling back to %s", targets[0].upstream.name)
            try:
                if kind == "anthropic":
                    opened = await client.open(
                        targets,
                        "/messages",
                        self.body_for,
                        stream=self.stream,
                        extra_headers=extra_headers,
                    )
                else:
                    opened = await client.open(
                        targets,
                        "/chat/completions",
                        chat_body_for,
                        stream=self.stream,
                        extra_headers=extra_headers,
                    )
            except UpstreamUnreachable as failure:
                unreachable = failure
                continue
            if last is not None:
                last.close()
            if opened.status < 300 or not falls_back(opened.status):
                return opened
            last = opened
        if last is not None:
            return last
        assert unreachable is not None
        raise unreachable

    async def answer(self, opened: Opened, send: Send, finish: Finish) -> None:
        """A ``chat.completion`` for an Anthropic upstream's whole answer."""
        try:
            body, usage = chat_completion(orjson.loads(opened.body or b""), self.model)
        except (ValueError, Malformed):
            await finish(None)
            raise UpstreamError(
                f"The upstream model server ({opened.target.upstream.name}) sent an answer "
                "that is not a message."
            ) from None
        cost = await finish((usage.prompt_tokens, usage.output_tokens))
        payload = orjson.dumps(body)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            (b"x-threadline-cost", format_usd(cost).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def stream_answer(
        self, opened: Opened, receive: Receive, send: Send, finish: Finish, estimate: int
    ) -> None:
        """``chat.completion.chunk``s for an Anthropic upstream's stream, as they come."""
        chunks = ChunkStream(self.model, include_usage=self.include_usage)
        await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
        gone: asyncio.Task[Any] | None = None
        try:
            async for data in opened.chunks():
                out = chunks.feed(data)
                if out:
                    await send({"type": "http.response.body", "body": out, "more_body": True})
                if chunks.failure is not None:
                    raise chunks.failure
                if gone is None:
                    # Still going after its first chunk: watch for the client leaving.
                    gone = asyncio.ensure_future(_disconnected(receive))
                elif gone.done():
                    return
            await send({"type": "http.response.body", "body": chunks.end(), "more_body": False})
        except (StreamBroken, InBandError, Malformed, ValueError) as failure:
            # The client has its 200: an in-band error, as OpenAI sends one, then the end.
            frame = _error_frame(opened, failure)
            with contextlib.suppress(OSError):
                await send({"type": "http.response.body", "body": frame, "more_body": False})
        finally:
            if gone is not None:
                gone.cancel()
            usage = chunks.usage
            await finish(
                (usage.prompt_tokens, usage.output_tokens) if chunks.turn.started else (estimate, 0)
            )


def upstream_error(opened: Opened) -> APIError | None:
    """An Anthropic upstream's error answer in OpenAI's terms; None for the answers every
    upstream's are told apart by alone (401/403, redirects: ``model_passthrough``'s)."""
    status, upstream = opened.status, opened.target.upstream
    if status < 400 or status in (401, 403):
        return None
    detail = error_detail(opened.body, upstream.redact)
    message = detail["message"] if detail else f"returned HTTP {status}"
    retry = {n: opened.response.headers[n] for n in _RETRY_HEADERS if n in opened.response.headers}
    error: APIError
    if status == 429:
        error = RateLimited(
            f"The upstream model server ({upstream.name}) is rate limiting: {message}"
        )
    elif status == 529:
        error = UpstreamError(
            f"The upstream model server ({upstream.name}) is overloaded: {message}",
            code="upstream_overloaded",
        )
        error.status_code, error.error_type = 503, "server_error"
    elif status == 504:
        error = UpstreamTimeout(f"The upstream model server ({upstream.name}) timed out: {message}")
    elif status >= 500:
        error = UpstreamError(f"The upstream model server ({upstream.name}) failed: {message}")
    else:
        code = "context_length_exceeded" if "prompt is too long" in message else None
        error = InvalidRequest(message, code=code)
        error.status_code = status
    error.headers = retry
    return error


def _error_frame(opened: Opened, failure: Exception) -> bytes:
    name = opened.target.upstream.name
    if isinstance(failure, StreamBroken):
        what = "dropped the stream"
    elif isinstance(failure, InBandError):
        detail = opened.target.upstream.redact(failure.message or "an error")
        what = f"sent an error: {detail}"
    else:
        what = "sent a malformed stream"
    error = APIError(f"The upstream model server ({name}) {what}.")
    return b"data: " + render_error(error).body + b"\n\n"


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
