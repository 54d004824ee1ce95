"""Fan-out of a run's stream events from the worker executing it to the requests streaming it.

In one process this is a set of queues per run. A request subscribes *before* it lets the worker
start (the run id is chosen first), so it cannot miss the first event. A subscription ends after
an event that ends the stream segment (the run finished, or waits for tool outputs), or when the
bus is told the run's segment is over."""

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator

from threadline.schemas.run_objects import StreamEvent

# Yielded after an idle spell, so the stream can send an SSE comment and stay open.
KEEPALIVE = StreamEvent(":keep-alive", b"")
# Put on a subscriber's queue to end its iteration without an event.
_END = StreamEvent(":end", b"")


class Subscription:
    def __init__(self, bus: "EventBus", run_id: str) -> None:
        self._bus = bus
        self.run_id = run_id
        self.queue: asyncio.Queue[StreamEvent] = asyncio.Queue()

    async def events(self, keepalive_seconds: float | None = None) -> AsyncIterator[StreamEvent]:
        """Events until the segment ends; ``KEEPALIVE`` after each idle ``keepalive_seconds``."""
        try:
            while True:
                try:
                    event = await asyncio.wait_for(self.queue.get(), keepalive_seconds)
                except TimeoutError:
                    yield KEEPALIVE
                    continue
                if event is _END:
                    return
                yield event
                if event.ends_segment:
                    return
        finally:
            self.close()

    def close(self) -> None:
        self._bus._remove(self)


class EventBus:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)

    def subscribe(self, run_id: str) -> Subscription:
        subscription = Subscription(self, run_id)
        self._subscribers[run_id].add(subscription)
        return subscription

    def publish(self, run_id: str, event: StreamEvent) -> None:
        for subscription in self._subscribers.get(run_id, ()):
            subscription.queue.put_nowait(event)

    def end(self, run_id: str) -> None:
        """The run's segment is over without a closing event (e.g. the worker lost the run)."""
        for subscription in self._subscribers.get(run_id, ()):
            subscription.queue.put_nowait(_END)

    def has_subscribers(self, run_id: str) -> bool:
        return bool(self._subscribers.get(run_id))

    def _remove(self, subscription: Subscription) -> None:
        subscribers = self._subscribers.get(subscription.run_id)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[subscription.run_id]
