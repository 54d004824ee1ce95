"""Server-sent events as both official SDKs read them: ``event:`` and ``data:`` lines, comment
lines as keep-alives, and ``event: done`` / ``data: [DONE]`` before the response closes."""

from collections.abc import AsyncIterator, Iterable

from fastapi.responses import StreamingResponse

from threadline.engine.event_bus import KEEPALIVE, Subscription
from threadline.schemas.run_objects import StreamEvent

DONE = b"event: done\ndata: [DONE]\n\n"
_KEEPALIVE_BYTES = b": keep-alive\n\n"
KEEPALIVE_SECONDS = 15.0


def encode(event: StreamEvent) -> bytes:
    return b"event: " + event.name.encode() + b"\ndata: " + event.data + b"\n\n"


async def _frames(first: Iterable[StreamEvent], subscription: Subscription) -> AsyncIterator[bytes]:
    try:
        ended = False
        for event in first:
            yield encode(event)
            if event.ends_segment:
                ended = True
                break
        if not ended:
            async for event in subscription.events(keepalive_seconds=KEEPALIVE_SECONDS):
                yield _KEEPALIVE_BYTES if event is KEEPALIVE else encode(event)
        # Sent however the run's events ended, so no client waits forever.
        yield DONE
    finally:
        subscription.close()


def event_stream(first: Iterable[StreamEvent], subscription: Subscription) -> StreamingResponse:
    """The response for a streamed run: ``first`` (what the request itself produced), then the
    run's events from ``subscription`` until its segment ends. A client that goes away only
    stops its own stream: the run goes on."""
    return StreamingResponse(
        _frames(first, subscription),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )
