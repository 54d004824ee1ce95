"""``Idempotency-Key`` on POST /v1/…: the first request runs and its 2xx response is kept; a
retry with the same key and body gets that response again (``idempotent-replayed: true``), with
another body a 400, while the first is still running a 409 (which the SDKs retry).

Raw ASGI, inside the gateway middleware (so the caller is authenticated and keys are per
project) and only for requests that carry the header: everything else passes straight through.
The whole JSON body is read first, within the usual body limit, to fingerprint the request."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from threadline.api.asgi import header_values, read_body, send_bytes, send_error
from threadline.app_state import AppState
from threadline.errors import APIError, InvalidRequest
from threadline.services.idempotency import (
    Claimed,
    InFlight,
    Mismatch,
    Replay,
    in_flight_error,
    mismatch_error,
)

# Responses larger than this are not kept (nothing in this API answers a POST with as much; a
# non-streamed response is in memory anyway).
_MAX_KEPT_BYTES = 8 * 1024 * 1024


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        keys = header_values(scope, b"idempotency-key") if scope["type"] == "http" else []
        principal = scope.get("state", {}).get("principal")
        if not keys or scope["method"] != "POST" or principal is None:
            await self.app(scope, receive, send)
            return
        state = scope["app"].state.threadline
        key = keys[0]
        try:
            if any("multipart/" in value for value in header_values(scope, b"content-type")):
                raise InvalidRequest(
                    "Idempotency-Key is supported on JSON requests only, not on uploads.",
                    param="Idempotency-Key",
                )
            body = await read_body(scope, receive, state.settings.max_json_body_bytes)
            request = b"\n".join((scope["path"].encode(), scope.get("query_string", b""), body))
            claim = await state.idempotency.claim(principal.project_id, key, request)
        except APIError as error:
            await send_error(send, error)
            return
        if isinstance(claim, Replay):
            replayed = [(b"idempotent-replayed", b"true")]
            await send_bytes(send, claim.status, claim.body, replayed, claim.content_type.encode())
            return
        if isinstance(claim, Mismatch):
            await send_error(send, mismatch_error(key))
            return
        if isinstance(claim, InFlight):
            await send_error(send, in_flight_error())
            return
        assert isinstance(claim, Claimed)
        await self._first(scope, _replaying(body, receive), send, state, principal.project_id, key)

    async def _first(
        self, scope: Scope, receive: Receive, send: Send, state: AppState, project_id: str, key: str
    ) -> None:
        response = _Kept()
        settled = False

        async def settle() -> None:
            nonlocal settled
            if settled:
                return
            settled = True
            if response.keepable:
                await state.idempotency.record(
                    project_id, key, response.status, response.content_type, bytes(response.body)
                )
            else:
                await state.idempotency.forget(project_id, key)

        async def keeping(message: Message) -> None:
            response.see(message)
            if message["type"] != "http.response.body" or message.get("more_body", False):
                await send(message)
                return
            # Settled before the answer's last bytes leave: the request a client sends once it
            # has the answer (the corrected one after an error, a retry after a success) finds
            # the key free or its answer kept, never still in flight.
            try:
                await settle()
            finally:
                await send(message)

        try:
            await self.app(scope, receive, keeping)
        except BaseException:
            if not settled:
                await state.idempotency.forget(project_id, key)
            raise
        await settle()


class _Kept:
    """The response as it goes out: kept if it is a whole 2xx JSON answer, not a stream."""

    def __init__(self) -> None:
        self.status = 0
        self.content_type = "application/json"
        self.body = bytearray()
        self.stream = False

    def see(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            for name, value in message.get("headers", ()):
                if name.lower() == b"content-type":
                    self.content_type = value.decode("latin-1")
            self.stream = self.content_type.startswith("text/event-stream")
        elif message["type"] == "http.response.body" and not self.stream:
            self.body += message.get("body", b"")

    @property
    def keepable(self) -> bool:
        return 200 <= self.status < 300 and not self.stream and len(self.body) <= _MAX_KEPT_BYTES


def _replaying(body: bytes, receive: Receive) -> Receive:
    """The body read for the fingerprint, handed to the app as if it arrived now; afterwards
    the client's own messages (a disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replay
