"""Server-sent events as both official SDKs read them: ``event:`` and ``data:`` lines, comment
lines as keep-alives, and ``event: done`` / ``data: [DONE]`` before the response closes.

The response is written by hand (raw ASGI) rather than by ``StreamingResponse``: the events that
queued up while the writer waited go out in one send (a run's 0 ms answer is a handful of writes,
not one per token), and watching for the client to leave takes one plain task instead of a task
group per response."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Protocol

from fastapi.responses import Response
from starlette.types import Receive, Scope, Send

from threadline.engine.event_bus import KEEPALIVE
from threadline.schemas.run_objects import StreamEvent

DONE = b"event: done\ndata: [DONE]\n\n"
_KEEPALIVE_BYTES = b": keep-alive\n\n"
KEEPALIVE_SECONDS = 15.0


class EventSource(Protocol):
    """What a stream sends from: a run's ``Subscription``, or a response's events."""

    def batches(
        self, keepalive_seconds: float | None = None
    ) -> AsyncIterator[list[StreamEvent]]: ...

    def end(self) -> None: ...

    def close(self) -> None: ...


def encode(event: StreamEvent) -> bytes:
    if event is KEEPALIVE:
        return _KEEPALIVE_BYTES
    return b"event: " + event.name.encode() + b"\ndata: " + event.data + b"\n\n"


class EventStreamResponse(Response):
    """The response for a streamed run: ``first`` (what the request itself produced), then the
    run's events from ``subscription`` until its segment ends. A client that goes away only
    stops its own stream: the run goes on."""

    media_type = "text/event-stream"

    def __init__(self, first: list[StreamEvent], subscription: EventSource) -> None:
        # Not Response.__init__: it would add a content-length for an empty body.
        self.status_code = 200
        self.background = None
        self.init_headers({"cache-control": "no-cache", "x-accel-buffering": "no"})
        self._first = first
        self._subscription = subscription

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        subscription = self._subscription
        gone = asyncio.ensure_future(_disconnected(receive))
        gone.add_done_callback(lambda _: subscription.end())
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            first, ended = _segment(self._first)
            await _send_body(send, b"".join(map(encode, first)))
            if not ended:
                async for batch in subscription.batches(KEEPALIVE_SECONDS):
                    await _send_body(send, b"".join(map(encode, batch)))
            # Sent however the run's events ended, so no client waits forever.
            await send({"type": "http.response.body", "body": DONE, "more_body": False})
        finally:
            gone.cancel()
            subscription.close()


def _segment(events: list[StreamEvent]) -> tuple[list[StreamEvent], bool]:
    """``events`` up to the one that ends the segment, and whether one did."""
    for position, event in enumerate(events):
        if event.ends_segment:
            return events[: position + 1], True
    return events, False


async def _send_body(send: Send, body: bytes) -> None:
    await send({"type": "http.response.body", "body": body, "more_body": True})


async def _disconnected(receive: Receive) -> None:
    """Returns when the client has gone (or the response is complete)."""
    with contextlib.suppress(Exception):  # whatever receive() fails with, the client is gone
        while (await receive())["type"] != "http.disconnect":
            pass


def event_stream(first: list[StreamEvent], subscription: EventSource) -> Response:
    return EventStreamResponse(first, subscription)
