"""Pure ASGI middleware (no per-request task or body copy, unlike BaseHTTPMiddleware)."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from threadline import ids

REQUEST_ID_HEADER = b"x-threadline-request-id"


class RequestIdMiddleware:
    """Tags every response with ``x-threadline-request-id`` so a client report can be traced."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ids.request_id()
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)
