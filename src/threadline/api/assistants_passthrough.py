"""Assistants pass-through mode: a project whose ``assistants_passthrough`` names a provider has
its Assistants, Files and Vector Stores requests forwarded unchanged to that upstream (another
Threadline, Azure OpenAI's classic Assistants…), under this gateway's keys, limits and logs.

When that provider serves the Responses API natively (``responses: native``), the project's
``/v1/responses…`` and ``/v1/conversations…`` requests are forwarded the same way.

Request and response bodies stream through byte for byte (uploads included); only the
provider's key goes upstream. Runs are billed from the usage the upstream reports when it shows
a run finished — in a stream's ``thread.run.<end>`` event or in a run object it returns — once
per run however often it is seen; responses likewise, from a ``response.<end>`` event or a
response object (meter ``responses``). A key limited to some models is held to them: the
``model`` of an assistant, run or response it creates or changes, and the model of the
assistant a run uses (asked of the upstream)."""

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from threadline.api.asgi import read_body, send_error
from threadline.api.gateway_routes import RouteClass
from threadline.api.meter import RequestMeter
from threadline.app_state import AppState
from threadline.errors import APIError, ModelNotAllowed, UpstreamError
from threadline.gateway.pricing import RESPONSES, RUNS
from threadline.gateway.principal import Principal
from threadline.providers.llm.event_stream import EventStreamDecoder
from threadline.providers.llm.passthrough import RawUpstream

_FORWARDED_REQUEST_HEADERS = (b"content-type", b"accept", b"openai-beta", b"idempotency-key")
_DROPPED_RESPONSE_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "server",
        "date",
        "x-threadline-request-id",
        "x-threadline-cost",
    }
)
_FINISHED = frozenset({"completed", "incomplete", "failed", "cancelled", "expired"})
_RUN_END_EVENTS = frozenset(f"thread.run.{status}".encode() for status in _FINISHED)
_RESPONSE_END_EVENTS = frozenset(f"response.{status}".encode() for status in _FINISHED)
_MAX_JSON_SCAN = 8 * 1024 * 1024


async def forward(
    scope: Scope,
    receive: Receive,
    send: Send,
    state: AppState,
    principal: Principal,
    meter: RequestMeter,
    route: RouteClass,
) -> None:
    """One request of a pass-through project, forwarded (the gateway has admitted it);
    ``route`` is the class of the route it matched."""
    upstream = state.models.raw_upstream(principal.assistants_passthrough or "")
    if upstream is None:
        await send_error(
            send,
            UpstreamError(
                "This project's Assistants pass-through provider is not configured here.",
                code="upstream_unavailable",
            ),
        )
        return
    try:
        body = await _request_body(scope, receive, state, principal, upstream, route)
        response = await state.passthrough.send(
            scope["method"],
            upstream,
            _upstream_path(scope),
            body=body,
            # With tracing on, the upstream's work joins this request's trace.
            headers={**_request_headers(scope), **state.tracer.outgoing_headers()},
        )
    except APIError as error:
        await send_error(send, error)
        return
    except Exception as error:
        if _client_left(error):
            raise ClientDisconnect() from None  # the gateway counts it; no one to answer
        await send_error(
            send,
            UpstreamError(
                f"The Assistants upstream ({upstream.name}) could not be reached.",
                code="upstream_unavailable",
            ),
        )
        return
    try:
        headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in response.headers.items()
            if name.lower() not in _DROPPED_RESPONSE_HEADERS
            and not name.lower().startswith("x-ratelimit-")
        ]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        runs = _RunWatcher(response.headers.get("content-type", ""), route)
        async for chunk in response.content.iter_any():
            runs.feed(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        response.close()
    for run in runs.finished():
        meter.model = meter.model or run.model
        if route.answers_responses and route.creates_run:  # the response it created
            meter.input_tokens, meter.output_tokens = run.input_tokens, run.output_tokens
        await state.gateway.record_passthrough_run(
            principal,
            f"{upstream.name}:{run.id}",
            run.model,
            run.input_tokens,
            run.output_tokens,
            meter=run.meter,
        )


def _upstream_path(scope: Scope) -> str:
    path = scope["path"].removeprefix("/v1")
    query = scope.get("query_string", b"")
    return f"{path}?{query.decode('latin-1')}" if query else path


def _request_headers(scope: Scope) -> dict[str, str]:
    return {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in scope["headers"]
        if name in _FORWARDED_REQUEST_HEADERS
    }


async def _request_body(
    scope: Scope,
    receive: Receive,
    state: AppState,
    principal: Principal,
    upstream: RawUpstream,
    route: RouteClass,
) -> bytes | AsyncIterator[bytes] | None:
    if scope["method"] in ("GET", "DELETE", "HEAD"):
        return None
    if principal.models is None or not route.model_in_body:
        return _streamed(receive)  # uploads stream through without being held in memory
    body = await read_body(scope, receive, state.settings.max_json_body_bytes)
    await _check_models(body, route, principal, state, upstream)
    return body


async def _streamed(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            # Ending the stream here would hand the upstream a truncated body as complete.
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body"):
            return


def _client_left(error: BaseException) -> bool:
    """Whether ``error`` comes from the client leaving mid-body (the HTTP client sending the
    streamed body to the upstream wraps what the body's iterator raised)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ClientDisconnect):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def _check_models(
    body: bytes, route: RouteClass, principal: Principal, state: AppState, upstream: RawUpstream
) -> None:
    try:
        data = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError:
        return  # the upstream answers the malformed body
    if not isinstance(data, dict):
        return
    model = data.get("model")
    if model is None and route.creates_run and isinstance(data.get("assistant_id"), str):
        model = await _assistant_model(state, upstream, data["assistant_id"])
    if isinstance(model, str) and not principal.allows_model(model):
        raise ModelNotAllowed(model)


async def _assistant_model(state: AppState, upstream: RawUpstream, assistant_id: str) -> str | None:
    if not re.fullmatch(r"[A-Za-z0-9_\-]{1,128}", assistant_id):
        return None
    response = await state.passthrough.send(
        "GET", upstream, f"/assistants/{assistant_id}", headers={"OpenAI-Beta": "assistants=v2"}
    )
    try:
        if response.status != 200:
            return None
        model = orjson.loads(await response.read()).get("model")
        return model if isinstance(model, str) else None
    finally:
        response.close()


@dataclass(frozen=True, slots=True)
class _Finished:
    """A run or response the upstream shows finished, with what it used."""

    id: str
    model: str
    input_tokens: int
    output_tokens: int
    meter: str  # RUNS or RESPONSES


# object -> (meter, input tokens' name, output tokens' name) in its usage
_BILLED_OBJECTS = {
    "thread.run": (RUNS, "prompt_tokens", "completion_tokens"),
    "response": (RESPONSES, "input_tokens", "output_tokens"),
}


class _RunWatcher:
    """Finds finished runs and responses (with their usage) in a forwarded response."""

    def __init__(self, content_type: str, route: RouteClass) -> None:
        self._events = (
            EventStreamDecoder(max_line=_MAX_JSON_SCAN)
            if content_type.startswith("text/event-stream")
            else None
        )
        self._json = content_type.startswith("application/json") and (
            route.answers_runs or route.answers_responses
        )
        self._buffer = bytearray()
        self._runs: list[_Finished] = []

    def feed(self, chunk: bytes) -> None:
        if self._events is not None:
            for event in self._events.feed(chunk):
                if event.name in _RUN_END_EVENTS:
                    self._collect(_loads(event.data))
                elif event.name in _RESPONSE_END_EVENTS:
                    data = _loads(event.data)
                    self._collect(data.get("response") if isinstance(data, dict) else None)
        elif self._json and len(self._buffer) < _MAX_JSON_SCAN:
            self._buffer += chunk

    def _collect(self, data: Any) -> None:
        if not isinstance(data, dict):
            return
        billed = _BILLED_OBJECTS.get(data.get("object"))  # type: ignore[arg-type]
        if billed is not None:
            if data.get("status") in _FINISHED and isinstance(data.get("id"), str):
                meter, input_name, output_name = billed
                usage = data.get("usage")
                usage = usage if isinstance(usage, dict) else {}
                self._runs.append(
                    _Finished(
                        data["id"],
                        str(data.get("model") or ""),
                        _count(usage.get(input_name)),
                        _count(usage.get(output_name)),
                        meter,
                    )
                )
        elif isinstance(data.get("data"), list):
            for item in data["data"]:  # a list of runs
                self._collect(item)

    def finished(self) -> list[_Finished]:
        if self._json and self._buffer:
            self._collect(_loads(bytes(self._buffer)))
        return self._runs


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
