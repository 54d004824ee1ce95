"""The engine's side of a response (hook E3): the run events of a response's run, translated
into its ``response.*`` events by the worker executing it, published on the bus under the
response's id (any request streaming it hears them) and, for a background response, kept in
``response_events`` so a stream resumes from any number on any replica.

Kept events are written in batches fenced by the run's lease (every ``FLUSH_SECONDS`` or
``FLUSH_EVENTS`` events); the last ones, the terminal event with them, are written in the unit
that ends the run, so a replica that sees the run ended also sees its last event."""

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import orjson

from threadline.engine.event_bus import EventBus
from threadline.engine.response_stream import ResponseStreamTranslator
from threadline.engine.response_view import opening_record, response_record
from threadline.errors import ServiceUnavailable
from threadline.records.response_rows import StoredResponse
from threadline.records.runs import RunRecord
from threadline.schemas.response_objects import response_data
from threadline.schemas.run_objects import StreamEvent
from threadline.storage.database import Connection, Database
from threadline.storage.items import reasoning_of_run
from threadline.storage.response_events import KeptEvent, append_events, next_sequence
from threadline.storage.responses import ResponseRepository, messages_of_run
from threadline.storage.runs import RunRepository
from threadline.storage.steps import StepRepository

logger = logging.getLogger("threadline.engine")

_responses = ResponseRepository()
_runs = RunRepository()
_steps = StepRepository()

FLUSH_SECONDS = 0.05
FLUSH_EVENTS = 64
# The events after which a response's stream has nothing more to say.
TERMINAL_EVENTS = frozenset(
    {"response.completed", "response.failed", "response.incomplete", "error"}
)


@dataclass(frozen=True, slots=True)
class ResponseEvent(StreamEvent):
    """A ``response.*`` event with its ``sequence_number`` (read without parsing ``data``)."""

    sequence: int = 0


def opening_events(stored: StoredResponse, run: RunRecord) -> list[ResponseEvent]:
    """The events that open a new response's stream (``response.created``, then ``queued`` or
    ``in_progress``), numbered exactly as the worker's ``ResponseRun.start`` numbers them: the
    request that creates the response sends them at once, and the worker's copies are the
    same events (same numbers), which a stream sends once."""
    translator = ResponseStreamTranslator(
        opening_record(stored, {**run, "status": "queued"}),
        include=frozenset(stored["include"]),
        container_id=stored["container_id"],
    )
    return [ResponseEvent(e.name, e.data, i) for i, e in enumerate(translator.start())]


class ResponseRun:
    """One attempt's translation of a response's run events (``feed`` each event the run
    publishes, in order)."""

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        stored: StoredResponse,
        run: RunRecord,
        fence: tuple[str, int],
        first_sequence: int,
    ) -> None:
        self._db = db
        self._bus = bus
        self.response_id = stored["id"]
        self._run_id = run["id"]
        self._fence = fence
        self._keep = stored["background"]
        # The response as created: a background one waits in the queue until a worker takes it.
        opening = opening_record(stored, {**run, "status": "queued"})
        self._translator = ResponseStreamTranslator(
            opening,
            include=frozenset(stored["include"]),
            container_id=stored["container_id"],
            first_sequence=first_sequence,
        )
        self._fresh = first_sequence == 0
        self._pending: list[KeptEvent] = []
        self._flushing: asyncio.Task[None] | None = None
        self._full = asyncio.Event()  # a whole batch is pending: write it now
        self._writing = False
        self._settling = False  # the run is ending: its end's unit keeps what is pending
        self._told: list[ResponseEvent] = []  # translated by the end's unit, published after
        self._lost = False  # the fence no longer holds: nothing more is kept

    @classmethod
    async def load(
        cls, db: Database, bus: EventBus, run: RunRecord, fence: tuple[str, int]
    ) -> "ResponseRun | None":
        found = await db.read(_load, run["id"])
        if found is None:
            return None
        return cls(db, bus, found[0], run, fence, found[1])

    def start(self) -> None:
        """Open the stream (``response.created`` and ``queued``/``in_progress``)."""
        if self._fresh:
            self._emit(self._translator.start())

    def feed(self, event: StreamEvent) -> None:
        self._emit(self._translator.feed(event))
        if self._told:  # the end's unit translated the run's last events: say them now
            told, self._told = self._told, []
            self._publish(told)

    def _emit(self, events: list[StreamEvent]) -> None:
        if not events:
            return
        numbered = self._number(events)
        if self._keep and not self._lost:
            self._pending.extend(KeptEvent(e.sequence, e.name, e.data) for e in numbered)
            if len(self._pending) >= FLUSH_EVENTS:
                self._full.set()
            if self._flushing is None and not self._settling:
                self._flushing = asyncio.ensure_future(self._flush_soon())
        self._publish(numbered)

    def _number(self, events: list[StreamEvent]) -> list[ResponseEvent]:
        first = self._translator.next_sequence - len(events)
        return [ResponseEvent(e.name, e.data, first + i) for i, e in enumerate(events)]

    def _publish(self, events: list[ResponseEvent]) -> None:
        bus = self._bus
        for event in events:
            bus.publish(self.response_id, event)
        if self._translator.finished:
            bus.end(self.response_id)  # a cancelled response ends without an event

    async def _flush_soon(self) -> None:
        """Write the pending events after ``FLUSH_SECONDS`` (at once when a batch is full)."""
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FLUSH_SECONDS):
                    await self._full.wait()
            self._full.clear()
            batch, self._pending = self._pending, []
            self._writing = True
            try:
                held = await self._db.write(
                    _append_fenced, self._run_id, self._fence, self.response_id, batch
                )
            except ServiceUnavailable:
                self._pending[:0] = batch  # kept by the next batch, or by the end's unit
                return
            finally:
                self._writing = False
            if not held:
                self._lost = True
        finally:
            self._flushing = None
            if self._pending and not self._lost and not self._settling:
                self._flushing = asyncio.ensure_future(self._flush_soon())

    async def settle(self) -> None:
        """Before the run's end: a batch being written is written, a batch waiting is left to
        the end's unit (which clears the lease, and so would fence out a later batch)."""
        self._settling = True
        task = self._flushing
        if task is None:
            return
        if not self._writing:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def in_end_unit(self, connection: Connection, events: list[StreamEvent]) -> None:
        """In the unit that ends the run: translate its last run events and keep them, with
        every event not yet kept. Translated once: a unit retried reuses the first result."""
        if not self._told and not self._translator.finished:
            told: list[ResponseEvent] = []
            for event in events:
                told.extend(self._number(self._translator.feed(event)))
            self._told = told
        if self._keep and not self._lost:
            kept = self._pending + [KeptEvent(e.sequence, e.name, e.data) for e in self._told]
            append_events(connection, self.response_id, kept)

    def after_end(self) -> None:
        """The end's unit is committed: its events are kept, only telling them is left."""
        self._pending = []
        if self._told:
            told, self._told = self._told, []
            self._publish(told)


def _load(connection: Connection, run_id: str) -> tuple[StoredResponse, int] | None:
    stored = _responses.of_run(connection, run_id)
    if stored is None:
        return None
    return stored, next_sequence(connection, stored["id"])


def _append_fenced(
    connection: Connection,
    run_id: str,
    fence: tuple[str, int],
    response_id: str,
    events: list[KeptEvent],
) -> bool:
    if not _runs.holds(connection, run_id, fence[0], fence[1]):
        return False
    append_events(connection, response_id, events)
    return True


def ended_outside(connection: Connection, ended: RunRecord) -> tuple[str, ResponseEvent] | None:
    """For a response's run ended by someone other than its execution (the reaper after a
    crash, expiry): its id and terminal event, kept after the dead attempt's events for a background
    response. None for a cancelled response (OpenAI's stream has no event for it)."""
    stored = _responses.of_run(connection, ended["id"])
    if stored is None or ended["status"] == "cancelled":
        return None
    include = frozenset(stored["include"])
    messages = messages_of_run(connection, ended["id"])
    steps = _steps.of_run(connection, ended["id"])
    reasoning = reasoning_of_run(connection, ended["thread_id"], ended["id"])
    record = response_record(stored, ended, messages, steps, include, reasoning)
    kind = "response.incomplete" if record["status"] == "incomplete" else "response.failed"
    if record["status"] == "completed":
        kind = "response.completed"
    sequence = next_sequence(connection, stored["id"])
    payload = {
        "type": kind,
        "sequence_number": sequence,
        "response": response_data(record, include),
    }
    event = ResponseEvent(kind, orjson.dumps(payload), sequence)
    if stored["background"]:
        append_events(connection, stored["id"], [KeptEvent(sequence, kind, event.data)])
    return stored["id"], event
