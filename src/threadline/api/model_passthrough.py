"""``POST /v1/chat/completions`` and ``POST /v1/embeddings``: forwarded to the model's upstream
as they are (every parameter, tools, streaming), priced from the usage the upstream reports.

These are raw ASGI endpoints: the gateway middleware has already authenticated and admitted
the request, the body is parsed once to route it (its ``model``) and checked against the
spec's request schema (a malformed body is the client's 400, never sent upstream), and the
answer's bytes are forwarded without being parsed again — only the usage is read from them. A
stream's usage comes from its last chunk (asked for with ``stream_options.include_usage`` and
removed again for clients that did not ask). Errors are OpenAI-shaped; an upstream's own error
is passed on with anything secret-looking taken out. Models an Anthropic upstream serves are
translated both ways instead (``anthropic_chat_passthrough``); embeddings are refused for them."""

import asyncio
import contextlib
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from threadline.api import cached_answers
from threadline.api.anthropic_chat_passthrough import TranslatedChat
from threadline.api.anthropic_chat_passthrough import upstream_error as anthropic_error
from threadline.api.asgi import read_body, render_error
from threadline.api.deps import invalid_json
from threadline.api.meter import RequestMeter
from threadline.api.passthrough_spans import PassthroughSpan
from threadline.app_state import AppState
from threadline.errors import (
    APIError,
    InvalidRequest,
    ModelNotAllowed,
    NotFound,
    UpstreamError,
    UpstreamTimeout,
)
from threadline.gateway.pricing import CHAT, EMBEDDINGS, format_usd
from threadline.gateway.principal import Principal
from threadline.gateway.response_cache import CHAT_STREAM_END, CacheLookup, StreamCapture
from threadline.gateway.usage_sniff import StreamUsage, Usage, body_usage
from threadline.providers.llm.passthrough import (
    Opened,
    StreamBroken,
    Target,
    UpstreamUnreachable,
    error_detail,
)
from threadline.records.jsonvalue import JsonObject
from threadline.schemas.gateway_requests import REQUEST_CHECKS

MAX_BODY_BYTES = 32 * 1024 * 1024  # images travel inline as base64
# The in-band error of a stream the upstream broke off (the client has its 200 already).
_BROKEN_FRAME = (
    b"data: "
    + render_error(APIError("The upstream model server dropped the stream.")).body
    + b"\n\n"
)
_SSE_TYPE = "text/event-stream; charset=utf-8"
_SSE_HEADERS = [
    (b"content-type", _SSE_TYPE.encode()),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class ModelPassthrough:
    """One pass-through endpoint: ``/chat/completions`` or ``/embeddings``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.route = "/v1" + path  # the response cache's route
        self.meter_name = CHAT if path == "/chat/completions" else EMBEDDINGS
        self.operation = "chat" if path == "/chat/completions" else "embeddings"  # GenAI's
        self.check_body = REQUEST_CHECKS[path]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["app"].state.threadline
        meter: RequestMeter = scope["state"]["gateway"]
        principal = meter.principal
        assert principal is not None  # the gateway middleware authenticated every /v1 request
        body = await read_body(scope, receive, MAX_BODY_BYTES)
        data = _json_object(body)
        model = data.get("model")
        if not isinstance(model, str) or not model:
            raise InvalidRequest("You must provide a model parameter.", param="model")
        self.check_body(data)  # before anything is reserved or sent upstream
        if not principal.allows_model(model):
            raise ModelNotAllowed(model)
        chain = state.models.passthrough_chain(model)
        if chain is None:
            raise NotFound(
                f"The model '{model}' does not exist or you do not have access to it.",
                param="model",
                code="model_not_found",
            )
        meter.model = model
        stream = self.meter_name == CHAT and data.get("stream") is True
        cached: CacheLookup | None = None
        if principal.cache_ttl is not None:  # before ``data`` is changed for the upstream
            cached = await cached_answers.look_up(scope, meter, self.route, model, data)
            if cached.hit is not None:
                await cached_answers.replay(send, meter, cached.hit)
                return
        strip_usage = stream and not _asks_usage(data)
        translated: TranslatedChat | None = None
        if state.models.translates_chat(model):  # an Anthropic upstream serves it
            if self.meter_name == CHAT:
                translated = TranslatedChat(
                    data, model, stream=stream, include_usage=stream and not strip_usage
                )
            else:
                chain = _embeddings_chain(chain, model)
        if strip_usage:
            options = data.get("stream_options")  # an object or null: the schema says so
            data["stream_options"] = {
                **(options if isinstance(options, dict) else {}),
                "include_usage": True,
            }
        estimate = len(body) // 4 + _completion_budget(data)
        gateway = state.gateway
        await gateway.reserve(meter.ticket, estimate)

        def body_for(upstream_model: str) -> bytes:
            if upstream_model == model and not strip_usage:
                return body  # as the client sent it
            return orjson.dumps({**data, "model": upstream_model})

        # Tracing on: the call's span, whose traceparent goes upstream with the request.
        span = (
            PassthroughSpan(state.tracer, self.operation, data, chain[0])
            if state.tracer.enabled
            else None
        )
        try:
            headers = span.headers if span is not None else None
            if translated is None:
                opened = await state.passthrough.open(
                    chain, self.path, body_for, stream=stream, extra_headers=headers
                )
            else:
                opened = await translated.open(state.passthrough, chain, body_for, headers)
        except UpstreamUnreachable as failure:
            if span is not None:
                span.failed("timeout" if failure.timed_out else "unreachable", failure.message)
            await self._finish(state, meter, principal, (estimate, 0))
            error_class = UpstreamTimeout if failure.timed_out else UpstreamError
            raise error_class(
                f"The upstream model server ({failure.message}).", code="upstream_unavailable"
            ) from None
        except BaseException:  # the client left (cancelled) while the upstream was asked
            if span is not None:
                span.failed("interrupted")
            raise
        gateway.metrics.upstream_latency.labels(opened.target.upstream.name).observe(opened.waited)
        if span is not None:
            span.answered(opened.target)
        try:
            # A fallback of a translated model may be OpenAI-compatible: its answer is forwarded.
            anthropic = None
            if translated is not None and opened.target.upstream.kind == "anthropic":
                anthropic = translated
            if opened.status >= 300:
                if span is not None:
                    span.failed(str(opened.status))
                await self._finish(state, meter, principal, None)
                error = anthropic_error(opened) if anthropic is not None else None
                raise error or _upstream_error(opened)
            if anthropic is not None:

                async def finish(usage: Usage | None) -> int:
                    if span is not None:  # the answer is translated: only its usage is known
                        span.end(usage)
                    return await self._finish(state, meter, principal, usage)

                answer_to = send
                if cached is not None:
                    answer_to = cached_answers.storing(
                        send, gateway.cache, cached, stream=stream, end_marker=CHAT_STREAM_END
                    )
                if stream:
                    await anthropic.stream_answer(opened, receive, answer_to, finish, estimate)
                else:
                    await anthropic.answer(opened, answer_to, finish)
            elif stream:
                await self._stream(
                    opened,
                    receive,
                    send,
                    meter,
                    strip_usage,
                    state,
                    principal,
                    estimate,
                    cached,
                    span,
                )
            else:
                usage = body_usage(opened.body or b"") or (estimate, 0)
                if span is not None:
                    span.body(opened.body or b"")
                    span.end(usage)
                cost = await self._finish(state, meter, principal, usage)
                content_type = opened.response.headers.get("content-type", "application/json")
                headers = [
                    (b"content-type", content_type.encode("latin-1")),
                    (b"content-length", str(len(opened.body or b"")).encode()),
                    (b"x-threadline-cost", format_usd(cost).encode()),
                ]
                if cached is not None and opened.status == 200 and opened.body:
                    # Before the response ends: the client's next request may be the same.
                    await state.gateway.cache.store(cached, content_type, opened.body, stream=False)
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": opened.body or b""})
        finally:
            opened.close()
            if span is not None:
                span.failed("interrupted")  # unless it has ended

    async def _stream(
        self,
        opened: Opened,
        receive: Receive,
        send: Send,
        meter: RequestMeter,
        strip_usage: bool,
        state: AppState,
        principal: Principal,
        estimate: int,
        cached: CacheLookup | None,
        span: PassthroughSpan | None,
    ) -> None:
        sniffer = StreamUsage(strip=strip_usage)
        # The answer as the client gets it, stored once its last event is in, before that is
        # sent: a client's next request may be the same one.
        capture = (
            state.gateway.cache.capture(cached, CHAT_STREAM_END) if cached is not None else None
        )
        await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
        gone: asyncio.Task[Any] | None = None
        try:
            async for chunk in opened.chunks():
                if span is not None:
                    span.chunk(chunk)
                out = sniffer.feed(chunk)
                if capture is not None and capture.add(out) and cached is not None:
                    await self._keep_stream(state, cached, capture, opened.status)
                    capture = None
                if out:
                    await send({"type": "http.response.body", "body": out, "more_body": True})
                if gone is None:
                    # Still going after its first chunk: watch for the client leaving, so a
                    # long stream is not read to its end for nobody.
                    gone = asyncio.ensure_future(_disconnected(receive))
                elif gone.done():
                    break
            rest = sniffer.flush()
            if capture is not None and capture.add(rest) and cached is not None:
                await self._keep_stream(state, cached, capture, opened.status)
            await send({"type": "http.response.body", "body": rest, "more_body": False})
        except StreamBroken:
            # The upstream broke mid-stream: the client has the 200 already, so it gets an
            # in-band error, as OpenAI sends one, then the end.
            if span is not None:
                span.broke()
            with contextlib.suppress(OSError):
                await send(
                    {"type": "http.response.body", "body": _BROKEN_FRAME, "more_body": False}
                )
        finally:
            if gone is not None:
                gone.cancel()
            usage = sniffer.usage or (estimate, 0)
            if span is not None:
                span.end(usage)
            await self._finish(state, meter, principal, usage)

    async def _keep_stream(
        self, state: AppState, cached: CacheLookup, capture: StreamCapture, status: int
    ) -> None:
        """Store a stream that ended whole (with ``[DONE]``: not cut, not an in-band error)."""
        body = capture.body()
        if body is not None and status == 200:
            await state.gateway.cache.store(cached, _SSE_TYPE, body, stream=True)

    async def _finish(
        self, state: AppState, meter: RequestMeter, principal: Principal, usage: Usage | None
    ) -> int:
        prompt, completion = usage or (0, 0)
        meter.input_tokens, meter.output_tokens = prompt, completion
        cost = await state.gateway.finish(
            principal,
            meter.ticket,
            model=meter.model,
            meter=self.meter_name if usage is not None else None,
            input_tokens=prompt,
            output_tokens=completion,
        )
        meter.cost_nanos = cost
        return int(cost)


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _json_object(body: bytes) -> JsonObject:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise invalid_json(error) from None
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return data


def _asks_usage(data: JsonObject) -> bool:
    options = data.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _completion_budget(data: JsonObject) -> int:
    for name in ("max_completion_tokens", "max_tokens"):
        value = data.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return 0


def _embeddings_chain(chain: list[Target], model: str) -> list[Target]:
    """The OpenAI-compatible upstreams of a chain: Anthropic has no embeddings API."""
    served = [target for target in chain if target.upstream.kind != "anthropic"]
    if not served:
        raise InvalidRequest(
            f"The model '{model}' is served by an Anthropic provider, which has no embeddings "
            "API; use an embeddings model of an OpenAI-compatible provider.",
            param="model",
            code="model_not_supported",
        )
    return served


def setup_error(opened: Opened) -> UpstreamError | None:
    """An upstream answer that is Threadline's configuration's fault, not the client's: the
    provider's key refused, or a redirect (never followed). None for any other answer."""
    upstream = opened.target.upstream
    status = opened.status
    if status in (401, 403):
        return UpstreamError(
            f"The upstream model server ({upstream.name}) rejected Threadline's API key; check "
            "the key configured for this provider.",
            code="upstream_auth_failed",
        )
    if 300 <= status < 400:
        return UpstreamError(
            f"The upstream model server ({upstream.name}) answered with a redirect, which "
            "Threadline does not follow; configure the final URL as its base_url."
        )
    return None


def _upstream_error(opened: Opened) -> APIError:
    upstream = opened.target.upstream
    status = opened.status
    setup = setup_error(opened)
    if setup is not None:
        return setup
    detail = error_detail(opened.body, upstream.redact) or {
        "message": f"The upstream model server ({upstream.name}) returned HTTP {status}.",
        "type": "server_error" if status >= 500 else "invalid_request_error",
        "param": None,
        "code": None,
    }
    error = APIError(detail["message"], param=detail["param"], code=detail["code"])
    error.status_code = status
    error.error_type = detail["type"] or "invalid_request_error"
    retry = {
        name: opened.response.headers[name]
        for name in ("retry-after", "retry-after-ms", "x-should-retry")
        if name in opened.response.headers
    }
    error.headers = retry
    return error


# Shared with Anthropic's Messages API (api/anthropic_front), served the same way.
json_object = _json_object
upstream_error = _upstream_error
disconnected = _disconnected
