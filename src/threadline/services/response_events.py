"""A response's stream as a request serves it: the ``response.*`` events the worker executing
the response publishes on the bus under the response's id (``engine.response_run``) and, for a
background response, the events kept in ``response_events``. It reads like a ``Subscription``
(``batches``, ``end``, ``close``), so ``api.sse`` sends it as it sends a run's stream.

A background response's stream: subscribed first, then the kept events after the client's
number are read, then live events are tailed — from the bus when the response executes here
(an event the bus brings before the ones kept so far waits while the gap is read from the
database), else by reading the table every ``POLL_SECONDS``. Events are sent once each, in
order; the stream closes after the terminal event, or once the run has ended and nothing more
is kept (a cancelled response has no terminal event)."""

from collections.abc import AsyncIterator, Awaitable, Callable

from threadline.engine.event_bus import KEEPALIVE, Subscription
from threadline.engine.response_run import TERMINAL_EVENTS, ResponseEvent
from threadline.engine.response_view import ENDED
from threadline.engine.scheduling import Scheduler
from threadline.records.response_rows import StoredResponse
from threadline.schemas.run_objects import StreamEvent
from threadline.storage.database import Connection, Database
from threadline.storage.response_events import events_after
from threadline.storage.runs import RunRepository

_runs = RunRepository()

# How often a background response executing on another replica is looked for in the database.
POLL_SECONDS = 0.1
# Polls between two looks at whether its run has ended (when no event came).
_POLLS_PER_STATUS = 10


class ResponseEvents:
    def __init__(
        self,
        subscription: Subscription,
        stored: StoredResponse,
        *,
        kept: tuple[Database, Scheduler] | None = None,
        after: int = -1,
        on_end: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._subscription = subscription
        self._response_id = stored["id"]
        self._run_id = stored["run_id"]
        self._kept = kept
        self._sent = after  # the last sequence_number sent
        self._waiting: dict[int, StreamEvent] = {}  # live events ahead of what was sent
        self._done = False
        self._gone = False
        self._on_end = on_end

    async def batches(
        self, keepalive_seconds: float | None = None
    ) -> AsyncIterator[list[StreamEvent]]:
        try:
            if self._kept is None:
                async for batch in self._live(keepalive_seconds):
                    yield batch
            else:
                async for batch in self._tail(*self._kept, keepalive_seconds or 15.0):
                    yield batch
        finally:
            self._subscription.close()
            if self._on_end is not None:
                await self._on_end()

    async def _live(self, keepalive_seconds: float | None) -> AsyncIterator[list[StreamEvent]]:
        async for batch in self._subscription.batches(keepalive_seconds):
            out = [event for event in batch if event is KEEPALIVE] + self._accept(batch)
            if out:
                yield out
            if self._done:
                return

    async def _tail(
        self, db: Database, scheduler: Scheduler, keepalive_seconds: float
    ) -> AsyncIterator[list[StreamEvent]]:
        out = self._accept(await db.read(_kept_after, self._response_id, self._sent))
        if out:
            yield out
        quiet = 0.0
        polls = 0
        async for batch in self._subscription.batches(POLL_SECONDS):
            if self._done:
                return
            out = self._accept(batch)
            if self._waiting or (not out and not scheduler.executes(self._run_id)):
                out += self._accept(await db.read(_kept_after, self._response_id, self._sent))
                polls += 1
                looked = not out and not self._waiting and polls % _POLLS_PER_STATUS == 0
                if looked and await db.read(_ended, self._run_id):
                    # Ended: the end's unit kept its last events, read once more.
                    out = self._accept(await db.read(_kept_after, self._response_id, self._sent))
                    self._done = True
            if out:
                quiet = 0.0
                yield out
            else:
                quiet += POLL_SECONDS
                if quiet >= keepalive_seconds:
                    quiet = 0.0
                    yield [KEEPALIVE]
            if self._done:
                return
        if not self._gone:  # the bus said the stream is over: what is kept is the rest
            out = self._accept(await db.read(_kept_after, self._response_id, self._sent))
            if out:
                yield out

    def _accept(self, events: list[StreamEvent]) -> list[StreamEvent]:
        """The events that come next, in order, each once; later ones wait for the gap."""
        waiting = self._waiting
        for event in events:
            if isinstance(event, ResponseEvent) and event.sequence > self._sent:
                waiting[event.sequence] = event
        out: list[StreamEvent] = []
        while not self._done and (event := waiting.pop(self._sent + 1, None)) is not None:
            out.append(event)
            self._sent += 1
            if event.name in TERMINAL_EVENTS:
                self._done = True
                waiting.clear()
        return out

    def end(self) -> None:
        self._gone = True
        self._subscription.end()

    def close(self) -> None:
        self._subscription.close()


def _kept_after(connection: Connection, response_id: str, after: int) -> list[StreamEvent]:
    return [
        ResponseEvent(e.type, e.data, e.sequence_number)
        for e in events_after(connection, response_id, after)
    ]


def _ended(connection: Connection, run_id: str) -> bool:
    run = _runs.get_by_id(connection, run_id)
    return run is None or run["status"] in ENDED
