"""``/v1/messages`` for models of providers of kind ``anthropic``: passed through untouched.

The client's bytes go upstream as they came (re-encoded only when the model has another
upstream id), with the provider's key as ``x-api-key``, the client's ``anthropic-version`` (the
provider's when it sent none) and its ``anthropic-beta``; nothing else of the client's headers.
The answer comes back as it arrives, a stream included; only its usage is read from it, for
metering (``gateway.messages_usage``). The pass-through client's retries and fallbacks apply
(to the model's fallbacks of kind ``anthropic``). An upstream's error keeps its status and
type, with anything secret-looking taken out of its message; a rejected provider key is a 502,
as on the chat path: the client is not at fault."""

import asyncio
import contextlib
from typing import Any

import orjson

from threadline.api.anthropic_front.call import MessagesCall
from threadline.api.anthropic_front.errors import AnthropicError, error_event
from threadline.api.asgi import header_values
from threadline.api.model_passthrough import disconnected, setup_error
from threadline.errors import APIError, UpstreamError
from threadline.gateway.messages_usage import MessagesStreamUsage, message_usage
from threadline.providers.llm.passthrough import Opened, StreamBroken, UpstreamUnreachable
from threadline.records.anthropic import ERROR_TYPES, error_type_for

_RETRY_HEADERS = ("retry-after", "retry-after-ms", "x-should-retry")


async def create(call: MessagesCall) -> None:
    estimate = len(call.body) // 4 + call.max_tokens
    await call.state.gateway.reserve(call.meter.ticket, estimate)
    opened = await _open(call, "/messages", estimate)
    try:
        if opened.status >= 300:
            call.span_failed(str(opened.status))
            await call.finish(None)
            raise _upstream_error(opened)
        if call.stream:
            await _stream(call, opened, estimate)
        else:
            body = opened.body or b""
            if call.span is not None:
                call.span.body(body)
            cost = await call.finish(message_usage(body) or (estimate, 0))
            await call.send_json(body, cost, _content_type(opened))
    finally:
        opened.close()
        call.span_failed("interrupted")  # unless it has ended


async def count_tokens(call: MessagesCall) -> None:
    opened = await _open(call, "/messages/count_tokens", 0)
    try:
        if opened.status >= 300:
            raise _upstream_error(opened)
        await call.send_json(opened.body or b"", 0, _content_type(opened))
    finally:
        opened.close()


async def _open(call: MessagesCall, path: str, estimate: int) -> Opened:
    def body_for(upstream_model: str) -> bytes:
        if upstream_model == call.model:
            return call.body  # as the client sent it
        return orjson.dumps({**call.data, "model": upstream_model})

    stream = call.stream and path == "/messages"
    headers = _headers(call)
    if path == "/messages":  # a model call: its span, in whose trace the upstream answers
        headers.update(call.start_span())
    else:  # counting tokens: the upstream joins the request's trace
        headers.update(call.state.tracer.outgoing_headers())
    try:
        opened = await call.state.passthrough.open(
            call.chain, path, body_for, stream=stream, extra_headers=headers
        )
    except UpstreamUnreachable as failure:
        raise await call.unreachable(failure, estimate) from None
    except BaseException:  # the client left (cancelled) while the upstream was asked
        call.span_failed("interrupted")
        raise
    if call.span is not None:
        call.span.answered(opened.target)
    metrics = call.state.gateway.metrics
    metrics.upstream_latency.labels(opened.target.upstream.name).observe(opened.waited)
    return opened


def _headers(call: MessagesCall) -> dict[str, str]:
    version = header_values(call.scope, b"anthropic-version")
    if not version:
        provider = call.state.models.config.providers.get(call.chain[0].upstream.name)
        version = [provider.anthropic_version] if provider is not None else []
    headers = {"anthropic-version": version[0]} if version else {}
    betas = header_values(call.scope, b"anthropic-beta")
    if betas:
        headers["anthropic-beta"] = ",".join(betas)
    return headers


async def _stream(call: MessagesCall, opened: Opened, estimate: int) -> None:
    sniffer = MessagesStreamUsage()
    send = call.send
    await call.start_stream()
    gone: asyncio.Task[Any] | None = None
    try:
        async for chunk in opened.chunks():
            if call.span is not None:
                call.span.chunk(chunk)
            sniffer.feed(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if gone is None:
                gone = asyncio.ensure_future(disconnected(call.receive))
            elif gone.done():
                return
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except StreamBroken:
        if call.span is not None:
            call.span.broke()
        upstream = opened.target.upstream.name
        error = UpstreamError(f"The upstream model server ({upstream}) dropped the stream.")
        # An event cut off is ended first, so that the error is read as an event of its own.
        cut = b"" if sniffer.between_events else b"\n\n"
        with contextlib.suppress(OSError):
            body = cut + error_event(error, call.request_id)
            await send({"type": "http.response.body", "body": body, "more_body": False})
    finally:
        if gone is not None:
            gone.cancel()
        await call.finish(sniffer.usage or (estimate, 0))


def _content_type(opened: Opened) -> bytes:
    return opened.response.headers.get("content-type", "application/json").encode("latin-1")


def _upstream_error(opened: Opened) -> APIError:
    upstream = opened.target.upstream
    status = opened.status
    setup = setup_error(opened)
    if setup is not None:
        return setup
    kind, message = _error_of(opened.body)
    headers = {
        name: opened.response.headers[name]
        for name in _RETRY_HEADERS
        if name in opened.response.headers
    }
    return AnthropicError(
        upstream.redact(message, 1000)
        if message
        else f"The upstream model server ({upstream.name}) returned HTTP {status}.",
        status=status,
        anthropic_type=kind if kind in ERROR_TYPES.values() else error_type_for(status),  # type: ignore[arg-type]
        headers=headers,
    )


def _error_of(body: bytes | None) -> tuple[str | None, str | None]:
    """The type and message of an Anthropic error body (or an OpenAI-shaped one)."""
    try:
        data = orjson.loads(body or b"")
    except orjson.JSONDecodeError:
        return None, None
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None, None
    kind, message = error.get("type"), error.get("message")
    return (
        kind if isinstance(kind, str) else None,
        message if isinstance(message, str) else None,
    )
