"""Fan-out of a run's stream events from the worker executing it to the requests streaming it.

In one process this is a set of mailboxes per run. A request subscribes *before* it lets the
worker start (the run id is chosen first), so it cannot miss the first event. A subscription ends
after an event that ends the stream segment (the run finished, or waits for tool outputs), or when
the bus (or the stream's own client) says the segment is over.

A mailbox is a list and one waiting future, not an ``asyncio.Queue``: its reader takes every event
published since it last looked at once (the SSE writer sends them in one write), and a quiet
spell is a timer on that future rather than a ``wait_for`` task per event."""

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator

from threadline.schemas.run_objects import StreamEvent

# Yielded after an idle spell, so the stream can send an SSE comment and stay open.
KEEPALIVE = StreamEvent(":keep-alive", b"")
# Put in a subscriber's mailbox to end its iteration without an event.
_END = StreamEvent(":end", b"")


class Subscription:
    def __init__(self, bus: "EventBus", run_id: str) -> None:
        self._bus = bus
        self.run_id = run_id
        self._pending: list[StreamEvent] = []
        self._waiter: asyncio.Future[None] | None = None

    def deliver(self, event: StreamEvent) -> None:
        self._pending.append(event)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def end(self) -> None:
        """End this subscription's iteration (after what it already holds)."""
        self.deliver(_END)

    async def batches(
        self, keepalive_seconds: float | None = None
    ) -> AsyncIterator[list[StreamEvent]]:
        """Every event published since the previous batch, oldest first, until the segment ends;
        ``[KEEPALIVE]`` after each idle ``keepalive_seconds``."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                if not self._pending:
                    await self._wait(loop, keepalive_seconds)
                    if not self._pending:
                        yield [KEEPALIVE]
                        continue
                batch, self._pending = self._pending, []
                for position, event in enumerate(batch):
                    if event is _END:
                        if position:
                            yield batch[:position]
                        return
                    if event.ends_segment:
                        yield batch[: position + 1]
                        return
                yield batch
        finally:
            self.close()

    async def _wait(self, loop: asyncio.AbstractEventLoop, seconds: float | None) -> None:
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiter = waiter
        timer = None if seconds is None else loop.call_later(seconds, _wake, waiter)
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def close(self) -> None:
        self._bus._remove(self)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class EventBus:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)

    def subscribe(self, run_id: str) -> Subscription:
        subscription = Subscription(self, run_id)
        self._subscribers[run_id].add(subscription)
        return subscription

    def publish(self, run_id: str, event: StreamEvent) -> None:
        for subscription in self._subscribers.get(run_id, ()):
            subscription.deliver(event)

    def end(self, run_id: str) -> None:
        """The run's segment is over without a closing event (e.g. the worker lost the run)."""
        for subscription in self._subscribers.get(run_id, ()):
            subscription.end()

    def has_subscribers(self, run_id: str) -> bool:
        return bool(self._subscribers.get(run_id))

    def _remove(self, subscription: Subscription) -> None:
        subscribers = self._subscribers.get(subscription.run_id)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[subscription.run_id]
