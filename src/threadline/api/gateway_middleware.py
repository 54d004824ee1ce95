"""The gateway in front of every route: who is calling, may they, and what did it cost.

For every ``/v1`` request (routes added later included): authenticate the key (cached), check
its expiry and IP allowlist, take the request's share of the key's and project's limits
(refusing with OpenAI's 429s), add the ``x-ratelimit-*`` headers, hand Assistants-API requests
of a pass-through project to ``assistants_passthrough``, and when the response has ended free
its slot and write its request-log line (off the request path: an append to a batch). Other
paths (``/admin``) are logged too; health checks and metrics are not.

Pure ASGI: one wrapper around ``send``, no task and no body copy per request."""

import logging
import time

import orjson
from starlette.requests import ClientDisconnect
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from threadline import ids
from threadline.api.asgi import encode_headers, header_values, send_error
from threadline.api.deps import bearer_token, principal_for
from threadline.app_state import AppState
from threadline.errors import APIError, InternalError, PermissionDenied
from threadline.gateway.client_ip import ClientAddresses
from threadline.gateway.limits import Ticket
from threadline.gateway.principal import Principal
from threadline.gateway.routes import is_assistants_api, is_metered
from threadline.records.gateway import RequestLogRecord

logger = logging.getLogger("threadline.api")
_UNWATCHED = frozenset({"/healthz", "/v1/health", "/metrics"})
_BODY_LOG_LIMIT = 65_536
# nginx's "client closed request": the client went away before it could be answered.
CLIENT_CLOSED_REQUEST = 499


class RequestMeter:
    """What the gateway knows of one request; endpoints fill in the model and usage."""

    __slots__ = (
        "cost_nanos",
        "error_code",
        "input_tokens",
        "model",
        "output_tokens",
        "principal",
        "request_body",
        "response_body",
        "route",
        "started",
        "status",
        "ticket",
    )

    def __init__(self) -> None:
        self.principal: Principal | None = None
        self.ticket: Ticket | None = None
        self.model: str | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.cost_nanos: int | None = None
        self.status = 500
        self.started = False
        self.error_code: str | None = None
        self.route: str | None = None
        self.request_body: bytearray | None = None
        self.response_body: bytearray | None = None


class GatewayMiddleware:
    def __init__(self, app: ASGIApp, fast_routes: dict[str, ASGIApp] | None = None) -> None:
        """``fast_routes``: POST paths served straight from here, without the framework's
        layers (the pass-through endpoints: their routes stay registered all the same)."""
        self.app = app
        self._fast = fast_routes or {}
        self._addresses: ClientAddresses | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        if not path or path in _UNWATCHED:
            await self.app(scope, receive, send)
            return
        state = scope["app"].state.threadline
        gateway = state.gateway
        started = time.perf_counter()
        meter = RequestMeter()
        scope_state = scope.setdefault("state", {})
        scope_state["gateway"] = meter
        # Bodies only of the API: admin responses carry new keys.
        log_bodies = state.settings.request_log_bodies and path.startswith("/v1/")

        async def watched_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                meter.started = True
                meter.status = message["status"]
                ticket = meter.ticket
                if ticket is not None and ticket.headers:
                    message["headers"] = [
                        *message.get("headers", ()),
                        *encode_headers(ticket.headers),
                    ]
            elif meter.status >= 400 or log_bodies:
                _keep_body(meter, message, log_bodies)
            await send(message)

        if log_bodies:
            receive = _recording(receive, meter)
        try:
            if path.startswith("/v1/"):
                try:
                    principal = await self._admit(scope, state, meter)
                except APIError as error:
                    meter.error_code = error.code or error.error_type
                    await send_error(watched_send, error)
                    return
                if principal.assistants_passthrough and is_assistants_api(path):
                    from threadline.api.assistants_passthrough import forward

                    meter.route = "assistants-passthrough"
                    await forward(scope, receive, watched_send, state, principal, meter)
                    return
                endpoint = self._fast.get(path) if scope["method"] == "POST" else None
                if endpoint is not None:
                    await _serve_fast(endpoint, scope, receive, watched_send, meter)
                    return
            await self.app(scope, receive, watched_send)
            if meter.status == 200 and meter.principal is not None and _creates_thread(scope):
                await gateway.thread_created(meter.principal)
        except ClientDisconnect:
            # Nothing is wrong with the server and nobody is left to answer: one line, no
            # traceback, and counted apart from the server's own errors.
            if not meter.started:
                meter.status = CLIENT_CLOSED_REQUEST
                meter.error_code = "client_closed_request"
            logger.info(
                "client closed the connection before its request was read: %s %s",
                scope["method"],
                path[:200],
            )
        finally:
            if meter.ticket is not None and not meter.ticket.finished:
                await gateway.finish(meter.principal, meter.ticket)
            route = meter.route or _route_of(scope)
            gateway.request_done(_log_row(scope, meter, started, state, log_bodies), route)

    async def _admit(self, scope: Scope, state: AppState, meter: RequestMeter) -> Principal:
        token = bearer_token(header_values(scope, b"authorization"))
        principal = await principal_for(state, token)
        meter.principal = principal
        scope["state"]["principal"] = principal
        if principal.networks is not None:
            address = self._client_address(scope, state)
            if not principal.allows_address(address):
                raise PermissionDenied(
                    f"Requests from {address} are not allowed for this API key (see its "
                    "IP allowlist).",
                    code="ip_not_allowed",
                    headers={"x-should-retry": "false"},
                )
        metered = is_metered(scope["method"], scope["path"])
        meter.ticket = await state.gateway.admit(principal, metered=metered)
        return principal

    def _client_address(self, scope: Scope, state: AppState) -> str | None:
        if self._addresses is None:
            self._addresses = ClientAddresses(state.settings.trusted_proxies)
        client = scope.get("client")
        peer = client[0] if client else None
        return self._addresses.of(peer, header_values(scope, b"x-forwarded-for"))


async def _serve_fast(
    endpoint: ASGIApp, scope: Scope, receive: Receive, send: Send, meter: RequestMeter
) -> None:
    """An endpoint called directly; its errors answered here as the error mapper would."""
    try:
        await endpoint(scope, receive, send)
    except ClientDisconnect:
        raise  # the gateway counts it; there is no one to answer
    except APIError as error:
        if meter.started:
            raise
        meter.error_code = error.code or error.error_type
        await send_error(send, error)
    except Exception:
        if meter.started:
            raise
        logger.exception("unhandled error")
        await send_error(send, InternalError("The server had an error processing your request."))


def _creates_thread(scope: Scope) -> bool:
    return scope["method"] == "POST" and scope["path"] in ("/v1/threads", "/v1/threads/runs")


def _recording(receive: Receive, meter: RequestMeter) -> Receive:
    meter.request_body = bytearray()

    async def recorded() -> Message:
        message = await receive()
        body = meter.request_body
        if body is not None and len(body) < _BODY_LOG_LIMIT:
            body += message.get("body", b"")
        return message

    return recorded


def _keep_body(meter: RequestMeter, message: Message, log_bodies: bool) -> None:
    if meter.response_body is None:
        meter.response_body = bytearray()
    if len(meter.response_body) < _BODY_LOG_LIMIT:
        meter.response_body += message.get("body", b"")
    if not log_bodies and not message.get("more_body") and meter.error_code is None:
        try:
            error = orjson.loads(bytes(meter.response_body)).get("error") or {}
            code = error.get("code") or error.get("type")
            meter.error_code = str(code)[:64] if code else None
        except (orjson.JSONDecodeError, AttributeError):
            pass


def _route_of(scope: Scope) -> str:
    """The route template (a metrics label: never a raw path with ids in it)."""
    route = scope.get("route")
    if route is None:  # refused before routing, or a raw endpoint: match it now
        for candidate in scope["app"].router.routes:
            if candidate.matches(scope)[0] == Match.FULL:
                route = candidate
                break
    return getattr(route, "path", None) or "unmatched"


def _log_row(
    scope: Scope, meter: RequestMeter, started: float, state: AppState, log_bodies: bool
) -> RequestLogRecord:
    principal = meter.principal
    row: RequestLogRecord = {
        "id": scope["state"].get("request_id") or ids.request_id(),
        "created_at": int(time.time() * 1000),
        "method": scope["method"],
        "path": scope["path"][:2048],
        "status": meter.status,
        "api_key_id": principal.key_id if principal else None,
        "project_id": principal.project_id if principal else None,
        "model": meter.model,
        "input_tokens": meter.input_tokens,
        "output_tokens": meter.output_tokens,
        "cost_nanos": meter.cost_nanos,
        "latency_ms": round((time.perf_counter() - started) * 1000, 3),
        "error_code": meter.error_code,
        "request_body": None,
        "response_body": None,
    }
    if log_bodies:
        token = header_values(scope, b"authorization")
        redact = state.body_redactor
        if meter.request_body:
            row["request_body"] = redact(bytes(meter.request_body), token)
        if meter.response_body:
            row["response_body"] = redact(bytes(meter.response_body), token)
    return row
