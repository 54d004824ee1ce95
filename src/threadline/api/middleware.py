"""Pure ASGI middleware (no per-request task or body copy, unlike BaseHTTPMiddleware)."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from threadline import ids
from threadline.api.asgi import send_error
from threadline.errors import InvalidRequest

REQUEST_ID_HEADER = b"x-threadline-request-id"
# Admin (and the console's own API) answers carry keys and usage: no cache, shared or private,
# may keep them. (API answers need no such header: every request carries Authorization, which
# shared caches never store answers to unless told, and none of them returns a secret.)
# ``X-Content-Type-Options`` is added to every answer by the server itself (cli/serving.py).
_ADMIN_PREFIXES = ("/admin", "/console/api")
_ADMIN_HEADERS = ((b"cache-control", b"no-store"),)


class RequestIdMiddleware:
    """Tags every response with ``x-threadline-request-id`` so a client report can be traced,
    and marks admin answers as not to be stored."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ids.request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        extra = _ADMIN_HEADERS if scope["path"].startswith(_ADMIN_PREFIXES) else ()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", ()),
                    (REQUEST_ID_HEADER, request_id.encode()),
                    *extra,
                ]
            await send(message)

        await self.app(scope, receive, send_with_id)


class RejectNullBytesInUrl:
    """Answers 400 for a URL carrying an encoded NUL (``%00``) before any route runs.

    No id or cursor can contain one, and PostgreSQL refuses such strings as query parameters, so
    turning them away here keeps every route from failing with a 500 on them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            b"%00" in scope.get("raw_path", b"") or b"%00" in scope.get("query_string", b"")
        ):
            await send_error(send, InvalidRequest("The URL must not contain null characters."))
            return
        await self.app(scope, receive, send)
