"""The gateway in front of every route: who is calling, may they, and what did it cost.

For every ``/v1`` request (routes added later included): authenticate the key (cached), check
its expiry and IP allowlist, take the request's share of the key's and project's limits
(refusing with OpenAI's 429s; model calls are told apart by the route they match, see
``gateway_routes``), add the ``x-ratelimit-*`` headers (and ``x-threadline-cache`` when the
endpoint looked the response cache up), and dispatch: Assistants-API requests of a pass-through
project to the Assistants pass-through, the model pass-through routes to their endpoints
directly, the rest to the application. When the response has ended, free its slot
and write its request-log line (off the request path: an append to a batch). Other paths
(``/admin``) are logged too; health checks, metrics and the console's static files are not.
Refusals of Anthropic's Messages API (``/v1/messages``) are rendered in Anthropic's shape, and
its clients' ``x-api-key`` header is taken for a key when there is no ``Authorization``.

Both pass-throughs are given by the composition root (``app.py``). Pure ASGI: one wrapper
around ``send``, no task and no body copy per request."""

import logging
import time
from collections.abc import Awaitable, Callable, Mapping

import orjson
from starlette.requests import ClientDisconnect
from starlette.routing import get_route_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from threadline import ids
from threadline.api.anthropic_front.errors import MESSAGES_PATH, send_anthropic_error
from threadline.api.asgi import encode_headers, header_values, send_error
from threadline.api.deps import (
    api_key_header,
    bearer_token,
    ensure_address_allowed,
    principal_for,
)
from threadline.api.gateway_routes import RouteClass, RouteTable
from threadline.api.meter import RequestMeter
from threadline.app_state import AppState
from threadline.errors import APIError, InternalError
from threadline.gateway.client_ip import ClientAddresses
from threadline.gateway.principal import Principal
from threadline.records.gateway import RequestLogRecord

logger = logging.getLogger("threadline.api")
_UNWATCHED = frozenset({"/healthz", "/v1/health", "/metrics", "/"})
# The console's pages and assets (not its API): a browser loading the console is not traffic
# the request log, the metrics or the limits are about.
_CONSOLE = "/console"
_CONSOLE_API = "/console/api/"
_BODY_LOG_LIMIT = 65_536
# nginx's "client closed request": the client went away before it could be answered.
CLIENT_CLOSED_REQUEST = 499
FORWARDED_LABEL = "assistants-passthrough"

# The Assistants pass-through: forwards one request of a pass-through project.
Forward = Callable[
    [Scope, Receive, Send, AppState, Principal, RequestMeter, RouteClass], Awaitable[None]
]


class GatewayMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        routes: RouteTable,
        fast_routes: Mapping[str, ASGIApp],
        forward_assistants: Forward,
    ) -> None:
        """``fast_routes``: POST paths served straight from here, without the framework's
        layers (the model pass-through endpoints: their routes stay registered all the same).
        ``forward_assistants``: serves the Assistants-API requests of pass-through projects."""
        self.app = app
        self._routes = routes
        self._fast = {
            path: (endpoint, routes.match("POST", path)) for path, endpoint in fast_routes.items()
        }
        self._forward = forward_assistants
        self._addresses: ClientAddresses | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_unwatched(scope["path"]):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state: AppState = scope["app"].state.threadline
        fast, route = self._match(scope)
        meter = RequestMeter(route.template)
        scope.setdefault("state", {})["gateway"] = meter
        # Bodies only of the API: admin responses carry new keys.
        log_bodies = state.settings.request_log_bodies and scope["path"].startswith("/v1/")
        send = _watched(send, meter, log_bodies)
        if log_bodies:
            receive = _recording(receive, meter)
        try:
            if scope["path"].startswith("/v1/"):
                await self._serve_api(scope, receive, send, state, meter, route, fast)
            else:
                await self.app(scope, receive, send)
        except ClientDisconnect:
            _client_left(scope, meter)
        finally:
            await _finish(scope, state, meter, started, log_bodies)

    def _match(self, scope: Scope) -> tuple[ASGIApp | None, RouteClass]:
        """The request's fast endpoint if it has one, and the class of the route it matches."""
        if scope["method"] == "POST":
            fast = self._fast.get(scope["path"])
            if fast is not None:
                return fast
        return None, self._routes.match(scope["method"], get_route_path(scope))

    async def _serve_api(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        state: AppState,
        meter: RequestMeter,
        route: RouteClass,
        fast: ASGIApp | None,
    ) -> None:
        try:
            principal = await self._admit(scope, state, meter, route)
        except APIError as error:
            meter.error_code = error.code or error.error_type
            await _send_error(scope, send, error)
            return
        if principal.assistants_passthrough and (
            route.assistants_api
            or (
                route.responses_api
                and state.models.serves_responses(principal.assistants_passthrough)
            )
        ):
            meter.label = FORWARDED_LABEL
            await self._forward(scope, receive, send, state, principal, meter, route)
        elif fast is not None:
            await _serve_fast(fast, scope, receive, send, meter)
        else:
            await self.app(scope, receive, send)
            if route.creates_thread and meter.status == 200:
                await state.gateway.thread_created(principal)

    async def _admit(
        self, scope: Scope, state: AppState, meter: RequestMeter, route: RouteClass
    ) -> Principal:
        """Who is calling, from where, and their request's share of the limits."""
        authorization = header_values(scope, b"authorization")
        if authorization:
            token = bearer_token(authorization)
        else:  # Anthropic's clients may send their key as x-api-key
            token = api_key_header(header_values(scope, b"x-api-key"))
        principal = await principal_for(state, token)
        meter.principal = principal
        scope["state"]["principal"] = principal
        if principal.networks is not None:
            ensure_address_allowed(principal, self._client_address(scope, state))
        meter.ticket = await state.gateway.admit(principal, metered=route.metered)
        return principal

    def _client_address(self, scope: Scope, state: AppState) -> str | None:
        if self._addresses is None:
            self._addresses = ClientAddresses(state.settings.trusted_proxies)
        client = scope.get("client")
        peer = client[0] if client else None
        return self._addresses.of(peer, header_values(scope, b"x-forwarded-for"))


def _watched(send: Send, meter: RequestMeter, log_bodies: bool) -> Send:
    """``send`` that notes the status, adds the rate-limit headers and keeps what is logged."""

    async def watched_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            meter.started = True
            meter.status = message["status"]
            ticket = meter.ticket
            if ticket is not None and ticket.headers:
                message["headers"] = [*message.get("headers", ()), *encode_headers(ticket.headers)]
            if meter.cache is not None:  # the key's answers are cached: say whether this was
                message["headers"] = [*message.get("headers", ()), _cache_header(meter.cache)]
        elif meter.status >= 400 or log_bodies:
            _keep_body(meter, message, log_bodies)
        await send(message)

    return watched_send


async def _serve_fast(
    endpoint: ASGIApp, scope: Scope, receive: Receive, send: Send, meter: RequestMeter
) -> None:
    """An endpoint called directly; its errors answered here as the framework's handlers would
    (the same rendering: ``send_error``)."""
    try:
        await endpoint(scope, receive, send)
    except ClientDisconnect:
        raise  # the gateway counts it; there is no one to answer
    except APIError as error:
        if meter.started:
            raise
        meter.error_code = error.code or error.error_type
        await _send_error(scope, send, error)
    except Exception:
        if meter.started:
            raise
        logger.exception("unhandled error")
        error = InternalError("The server had an error processing your request.")
        await _send_error(scope, send, error)


async def _send_error(scope: Scope, send: Send, error: APIError) -> None:
    """``error`` in OpenAI's shape, or in Anthropic's for its Messages API."""
    if scope["path"].startswith(MESSAGES_PATH):
        await send_anthropic_error(scope, send, error)
    else:
        await send_error(send, error)


def is_unwatched(path: str) -> bool:
    return path in _UNWATCHED or (path.startswith(_CONSOLE) and not path.startswith(_CONSOLE_API))


def _cache_header(outcome: str) -> tuple[bytes, bytes]:
    return b"x-threadline-cache", outcome.encode()


def _client_left(scope: Scope, meter: RequestMeter) -> None:
    """Nothing is wrong with the server and nobody is left to answer: one line, no traceback,
    and counted apart from the server's own errors."""
    if not meter.started:
        meter.status = CLIENT_CLOSED_REQUEST
        meter.error_code = "client_closed_request"
    logger.info(
        "client closed the connection before its request was read: %s %s",
        scope["method"],
        scope["path"][:200],
    )


async def _finish(
    scope: Scope, state: AppState, meter: RequestMeter, started: float, log_bodies: bool
) -> None:
    """Free the request's share of the limits, and log and count it."""
    gateway = state.gateway
    if meter.ticket is not None and not meter.ticket.finished:
        await gateway.finish(meter.principal, meter.ticket)
    gateway.request_done(_log_row(scope, meter, started, state, log_bodies), meter.label)


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
        "cache": meter.cache,
        "request_body": None,
        "response_body": None,
    }
    if log_bodies:
        token = header_values(scope, b"authorization") + header_values(scope, b"x-api-key")
        redact = state.body_redactor
        if meter.request_body:
            row["request_body"] = redact(bytes(meter.request_body), token)
        if meter.response_body:
            row["response_body"] = redact(bytes(meter.response_body), token)
    return row
