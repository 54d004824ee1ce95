"""A ``ChatProvider`` over any OpenAI-compatible Chat Completions endpoint.

The request goes out over plain HTTP (``transport.py``) and the stream is read with ``orjson``:
the SDK's per-chunk models and SSE decoding were a third of a run's CPU. This module owns the one
retry loop, and it retries only before the first delta was yielded. After that a failure is final,
because the caller may already have shown the output to its client. Failure messages are written
here, never copied from the upstream unsanitised: they name no key and no URL. What is retried,
and after how long, is ``retry_policy``'s decision."""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Protocol

import httpx
import orjson

from threadline import __version__
from threadline.providers.llm.base import ChatDelta, ChatRequest, FailureCode, UpstreamFailure
from threadline.providers.llm.call_span import ModelCallSpan
from threadline.providers.llm.chunks import ChunkNormalizer, Malformed
from threadline.providers.llm.event_stream import EventStreamDecoder
from threadline.providers.llm.redaction import Redactor
from threadline.providers.llm.retry_policy import next_wait, quota_exhausted, should_retry
from threadline.providers.llm.status import InBandError, error_body, retry_after
from threadline.providers.llm.transport import (
    AiohttpTransport,
    HttpxTransport,
    Transport,
    TransportError,
    TransportTimeout,
    UpstreamResponse,
    drain,
)
from threadline.telemetry import NO_TRACER, Tracer

__all__ = ["OpenAICompatibleProvider", "Redactor", "Sleep", "TurnReader", "UpstreamOptions"]

log = logging.getLogger("threadline.providers.llm")

Sleep = Callable[[float], Awaitable[None]]

# After ``[DONE]``, how long the rest of the body may take to arrive (see ``drain``).
_DRAIN_SECONDS = 0.1
_MAX_CONNECTIONS = 200  # an upstream's connections at once; more requests wait for one


@dataclass(frozen=True, slots=True)
class UpstreamOptions:
    """Timeouts and the retry policy of one upstream."""

    connect_timeout: float = 10.0
    read_timeout: float = 120.0  # waiting for the first byte, and between two reads
    max_retries: int = 2  # retries after the first attempt, before any output only
    max_retry_wait: float = 60.0  # a longer Retry-After fails at once instead of waiting
    backoff_base: float = 0.25  # 0.25 s, 0.5 s, 1 s, … when the upstream names no delay
    backoff_cap: float = 4.0


class TurnReader(Protocol):
    """How the streamed body of one attempt becomes ``ChatDelta``s (one reader per attempt)."""

    def deltas(
        self, response: UpstreamResponse, call: ModelCallSpan | None
    ) -> AsyncIterator[ChatDelta]:
        """The deltas as they arrive (``call``: the turn's span, when traced); raises
        ``Malformed``, ``InBandError``, ``ValueError`` (undecodable data) or the transport's
        errors."""
        ...

    def last(self) -> ChatDelta | None:
        """The finish_reason and usage once the body was read; None if it never said how the
        turn ended (a truncated stream)."""
        ...


class _Retryable(Exception):
    def __init__(self, failure: UpstreamFailure, retry_after: float | None = None) -> None:
        super().__init__(failure.message)
        self.failure = failure
        self.retry_after = retry_after


class OpenAICompatibleProvider:
    """One OpenAI-compatible upstream (one connection pool). ``stream`` sends ``request.model``
    as the upstream model id; the registry binds configured names to their upstream ids."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        name: str = "default",
        options: UpstreamOptions | None = None,
        http_client: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
        tracer: Tracer = NO_TRACER,
    ) -> None:
        self.name = name
        self.options = options or UpstreamOptions()
        self._sleep = sleep
        self._tracer = tracer
        self._base_url = base_url
        self._transport: Transport
        if http_client is None:
            self._transport = AiohttpTransport(
                self.options.connect_timeout, self.options.read_timeout, _MAX_CONNECTIONS
            )
        else:
            timeout = httpx.Timeout(self.options.read_timeout, connect=self.options.connect_timeout)
            self._transport = HttpxTransport(http_client, timeout)
        self._url = base_url.rstrip("/") + "/chat/completions"
        # Only these: no OPENAI_* variable is forwarded, and without a key no Authorization.
        self._headers = {
            "content-type": "application/json",
            "accept": "application/json",
            "user-agent": f"Threadline/{__version__}",
        }
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
        host = httpx.URL(base_url).host
        self._redact = Redactor([s for s in (api_key, base_url, host) if s])

    def __repr__(self) -> str:
        return f"OpenAICompatibleProvider(name={self.name!r})"

    async def aclose(self) -> None:
        await self._transport.aclose()

    provider_name = "openai"  # gen_ai.provider.name of its spans

    def _encode(self, request: ChatRequest) -> bytes:
        """The request's body; another API's provider (``anthropic_provider``) overrides it."""
        return orjson.dumps(chat_body(request))

    def _reader(self) -> TurnReader:
        return _ChunkReader()

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        body = self._encode(request)
        if not self._tracer.enabled:
            return self._attempts(request.model, body, self._headers, None)
        return self._traced(request, body)

    async def _traced(self, request: ChatRequest, body: bytes) -> AsyncIterator[ChatDelta]:
        """The turn within its span: its traceparent sent upstream, what comes back noted."""
        call = ModelCallSpan(self._tracer, request, self._base_url, self.provider_name)
        failure: BaseException | None = None
        try:
            headers = call.headers(self._headers)
            async with aclosing(self._attempts(request.model, body, headers, call)) as deltas:
                async for delta in deltas:
                    call.delta(delta)
                    yield delta
        except BaseException as error:
            failure = error
            raise
        finally:
            call.end(failure)

    async def _attempts(
        self, model: str, body: bytes, headers: dict[str, str], call: ModelCallSpan | None
    ) -> AsyncIterator[ChatDelta]:
        """The attempts of one model turn: retried as ``retry_policy`` says, before any output."""
        attempt = 0
        while True:
            try:
                # aclosing: if our consumer stops, the attempt (and its response) closes now.
                async with aclosing(self._attempt(model, body, headers, call)) as deltas:
                    async for delta in deltas:
                        yield delta
                return
            except _Retryable as retry:
                failure = retry.failure
                wait = next_wait(attempt, retry.retry_after, self.options)
                if wait is None:
                    if attempt < self.options.max_retries:
                        log.warning(
                            "upstream %s asked to retry after %.0f s, more than %.0f s: giving up",
                            self.name,
                            retry.retry_after,
                            self.options.max_retry_wait,
                        )
                    raise failure from None
                attempt += 1
                log.warning(
                    "upstream %s: %s; retry %d/%d in %.2f s",
                    self.name,
                    failure.message,
                    attempt,
                    self.options.max_retries,
                    wait,
                )
                await self._sleep(wait)

    async def _attempt(
        self, model: str, body: bytes, headers: dict[str, str], call: ModelCallSpan | None
    ) -> AsyncIterator[ChatDelta]:
        try:
            response = await self._transport.post(self._url, body, headers)
        except TransportTimeout:
            raise _Retryable(self._failure("server_error", "timed out")) from None
        except TransportError:
            raise _Retryable(self._failure("server_error", "could not be reached")) from None
        try:  # releases the connection however this generator ends
            if not 200 <= response.status < 300:
                raise await self._status_failure(response, model)
            reader = self._reader()
            emitted = False
            try:
                async with aclosing(reader.deltas(response, call)) as deltas:
                    async for delta in deltas:
                        emitted = True
                        yield delta
                last = reader.last()
                if last is None:
                    raise Malformed("ended the stream without a finish_reason (truncated)")
            except (TransportTimeout, TransportError, ValueError, Malformed, InBandError) as exc:
                failure = self._stream_failure(exc, emitted)
                if emitted or failure.code == "invalid_prompt":
                    raise failure from None
                raise _Retryable(failure) from None
        finally:
            await response.close()
        yield last

    def _failure(self, code: FailureCode, what: str) -> UpstreamFailure:
        return UpstreamFailure(code, f"The upstream model server ({self.name}) {what}.")

    async def _status_failure(self, response: UpstreamResponse, model: str) -> Exception:
        status = response.status
        try:
            body = error_body(orjson.loads(await response.read()))
        except (TransportTimeout, TransportError, ValueError):
            body = {}
        detail = self._redact(body.get("message", "")) if body.get("message") else ""
        quota = quota_exhausted(status, body)
        failure = self._failure_for(status, detail, model, quota)
        if should_retry(status, response.headers, quota_exhausted=quota):
            return _Retryable(failure, retry_after(response.headers))
        return failure

    def _failure_for(self, status: int, detail: str, model: str, quota: bool) -> UpstreamFailure:
        if status == 429:
            return self._failure(
                "rate_limit_exceeded",
                "reported that its quota is exhausted"
                if quota
                else "is rate limiting Threadline (HTTP 429)",
            )
        if status in (400, 413, 422):
            message = "The upstream model server rejected the request"
            return UpstreamFailure("invalid_prompt", f"{message}: {detail}" if detail else message)
        if status in (401, 403):
            return self._failure(
                "server_error",
                f"rejected Threadline's API key (HTTP {status}); check the key configured for "
                f"provider '{self.name}' (THREADLINE_UPSTREAM_API_KEY or its api_key_env)",
            )
        if status == 404:
            return self._failure(
                "server_error",
                f"answered 404: model '{self._redact(model, 100)}' not found upstream; check the "
                "model's upstream_model in THREADLINE_CONFIG and that the base URL ends in /v1",
            )
        if 300 <= status < 400:
            return self._failure(
                "server_error",
                f"answered with a redirect (HTTP {status}), which Threadline does not follow; "
                "configure the final URL as base_url",
            )
        return self._failure("server_error", f"returned HTTP {status}")

    def _stream_failure(self, exc: Exception, emitted: bool) -> UpstreamFailure:
        when = "after output had started" if emitted else "before any output"
        if isinstance(exc, TransportTimeout):
            what = "timed out"
        elif isinstance(exc, TransportError):
            what = "dropped the connection"
        elif isinstance(exc, InBandError):
            body = exc.body
            detail = self._redact(
                body.get("message") or exc.message or "An error occurred during streaming"
            )
            if not emitted and (
                body.get("type") == "invalid_request_error"
                or body.get("code") in (400, "400", "context_length_exceeded")
            ):
                return UpstreamFailure(
                    "invalid_prompt", f"The upstream model server rejected the request: {detail}"
                )
            what = f"sent an error ({detail})"
        elif isinstance(exc, Malformed):
            what = str(exc)
        else:  # JSON or UTF-8 decoding
            what = "sent a malformed chunk"
        return self._failure("server_error", f"{what} {when}")


def chat_body(request: ChatRequest) -> dict[str, object]:
    """The Chat Completions request of a turn (streamed, with usage)."""
    body: dict[str, object] = {
        "model": request.model,
        "messages": request.messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    optional: dict[str, object] = {
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_tokens": request.max_tokens,
        "response_format": request.response_format,
        "reasoning_effort": request.reasoning_effort,
    }
    if request.tools:  # tool_choice and parallel_tool_calls are errors without tools
        optional["tools"] = request.tools
        optional["tool_choice"] = request.tool_choice
        optional["parallel_tool_calls"] = request.parallel_tool_calls
    body.update({key: value for key, value in optional.items() if value is not None})
    return body


class _ChunkReader:
    __slots__ = ("normalizer",)

    def __init__(self) -> None:
        self.normalizer = ChunkNormalizer()

    def deltas(
        self, response: UpstreamResponse, call: ModelCallSpan | None
    ) -> AsyncIterator[ChatDelta]:
        return _deltas(response, self.normalizer, call)

    def last(self) -> ChatDelta | None:
        return self.normalizer.last()


async def _deltas(
    response: UpstreamResponse, normalizer: ChunkNormalizer, call: ModelCallSpan | None
) -> AsyncIterator[ChatDelta]:
    decoder = EventStreamDecoder()
    async with aclosing(response.chunks()) as chunks:
        async for raw in chunks:
            for event in decoder.feed(raw):
                data = event.data
                if data.startswith(b"[DONE]"):
                    await drain(chunks, _DRAIN_SECONDS)
                    return
                chunk = orjson.loads(data)  # JSON or UTF-8 errors are ValueErrors
                if call is not None and not call.head_read:
                    call.head(chunk)
                if isinstance(chunk, dict) and chunk.get("error"):
                    raise InBandError(chunk["error"])
                for delta in normalizer.feed(chunk):
                    yield delta
