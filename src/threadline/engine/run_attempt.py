"""One attempt at a run, as its execution holds it: the run and its lease, what it publishes,
and how it ends — stored (retried while the database is unavailable) before the end is
published, or told to the stream from what this worker holds when the database stays away."""

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from threadline import clock
from threadline.engine.event_bus import EventBus
from threadline.engine.history import Conversation
from threadline.engine.response_run import ResponseRun
from threadline.engine.run_end import (
    LONGEST_WAIT_WHEN_TOLD_SECONDS,
    STOPPING_RETRY_SECONDS,
    told_without_database,
    write_end,
)
from threadline.engine.run_state import Ending
from threadline.engine.scheduling import Claim
from threadline.engine.tools.base import ServerTool
from threadline.engine.turn import TurnRecorder
from threadline.errors import ServiceUnavailable
from threadline.providers.llm.base import ModelRoute, Usage
from threadline.records.runs import RunRecord
from threadline.schemas.run_objects import StreamEvent, run_data
from threadline.storage.database import Database
from threadline.storage.runs import RunChanges, RunRepository
from threadline.telemetry import NO_TRACER, TraceParent, Tracer

logger = logging.getLogger("threadline.engine")

_runs = RunRepository()


class LeaseLost(Exception):
    """Another attempt owns the run now: this one must stop without writing."""


@dataclass
class EngineContext:
    db: Database
    bus: EventBus
    route: Callable[[str], ModelRoute]  # model name -> provider and limits; raises UpstreamFailure
    owner: str  # this worker's id, for the lease
    # Told each model turn's tokens (the gateway meters them against the run's key).
    record_usage: Callable[[RunRecord, Usage], Awaitable[None]] | None = None
    # The built-in tools this server executes, by run tool type ("file_search", …).
    server_tools: dict[str, ServerTool] = field(default_factory=dict)
    # How long a run's end is retried while the database is unavailable before its stream is
    # told how the run ended (the end is still stored once the database is back).
    end_retry_seconds: float = 30.0
    # Spans of runs, their model calls and tool calls (NO_TRACER: tracing is off).
    tracer: Tracer = NO_TRACER


class RunAttempt:
    """One attempt at a run, from its claim: the run as the claim left it (``in_progress``, with
    this attempt's lease), and the thread as it was then."""

    def __init__(self, engine: EngineContext, claim: Claim) -> None:
        self._engine = engine
        self._db = engine.db
        record = claim.run
        self.run_id: str = record["id"]
        self.attempt: int = record["attempt"]
        self.cancel_requested = False
        self.started = False  # a task cancelled before its first step never runs execute()
        self._run: RunRecord = record
        self._conversation: Conversation | None = claim.conversation  # for the first turn
        self._recorder: TurnRecorder | None = None
        # The stream was told how the run ended while the database could not take the end:
        # nothing else may end it now (see _end_without_database).
        self._told = False
        # Told once, when this attempt first calls its model (or ends without): see the worker's
        # count of runs still starting.
        self.on_calling: Callable[[], None] | None = None
        # A response's run: its events translated into the response's (hook E3).
        self._response: ResponseRun | None = None
        # The trace of the request that queued the run, when the worker claims it later (a
        # claim made in that request's task inherits its trace as the current one).
        self.trace_parent: TraceParent | None = None

    def _publish(self, event: StreamEvent) -> None:
        self._engine.bus.publish(self.run_id, event)
        if self._response is not None:
            self._response.feed(event)

    def calling(self) -> None:
        """This attempt calls its model now, or never will (idempotent)."""
        told, self.on_calling = self.on_calling, None
        if told is not None:
            told()

    async def _stopped(self) -> None:
        # The server may be going away: a database that cannot take the end is not waited for.
        if self.cancel_requested:
            # The worker, not the cancel request, says so: it reaches the stream wherever the
            # cancel request landed.
            cancelling = run_data({**self._run, "status": "cancelling"})
            self._publish(StreamEvent.of("thread.run.cancelling", cancelling))
            await self._end(Ending("cancelled", clock.now()), keep_trying=False)
        else:
            message = "The run was interrupted because the server stopped."
            await self._fail("server_error", message, keep_trying=False)

    async def _fail(self, code: str, message: str, *, keep_trying: bool = True) -> None:
        if self._told:  # already ended, as far as anyone was told
            logger.error("run %s: %s after its end was told: %s", self.run_id, code, message)
            return
        ending = Ending("failed", clock.now(), last_error={"code": code, "message": message})
        await self._end(ending, keep_trying=keep_trying)

    async def _end(self, ending: Ending, *, keep_trying: bool = True) -> None:
        """Store the run's end (retried while the database is unavailable) and publish it."""
        ending.fence = (self._engine.owner, self.attempt)
        ending.usage = ending.usage or self._run.get("usage")
        recorder = self._recorder
        if recorder is not None:  # the last turn's own writes join the end's unit
            ending.last_writes = recorder.end_writes()
        response = self._response
        if response is not None:  # its last events are kept in the end's unit
            await response.settle()
            ending.in_end_unit = response.in_end_unit
        bound = self._engine.end_retry_seconds if keep_trying else STOPPING_RETRY_SECONDS
        until = time.monotonic() + bound
        try:
            ended = await write_end(self._db, self._run, ending, until)
        except ServiceUnavailable:
            await self._end_without_database(ending, recorder, keep_trying)
            return
        await self._ended(ended, recorder)
        if response is not None and ended is not None:
            response.after_end()
        for event in ending.events:
            self._publish(event)

    async def _end_without_database(
        self, ending: Ending, recorder: TurnRecorder | None, keep_trying: bool
    ) -> None:
        """The database stayed away past the bound: the stream is told how the run ended, from
        what this worker holds (the message with its text), and that end is stored once the
        database is back (``keep_trying``), the text with it."""
        told, events = told_without_database(self._run, ending, recorder)
        self._told = True
        for event in events:
            self._publish(event)
        if not keep_trying:
            logger.error("run %s: the database is unavailable; its end is lost", self.run_id)
            return
        longest = LONGEST_WAIT_WHEN_TOLD_SECONDS
        await self._ended(await write_end(self._db, self._run, told, None, longest), recorder)
        logger.info("run %s: its end is stored, the database is back", self.run_id)

    async def _ended(self, ended: RunRecord | None, recorder: TurnRecorder | None) -> None:
        self._recorder = None
        if ended is not None:
            self._run = ended
            return
        # Another server ended the run (its lease ran out while the database was away from
        # this one): the stream ends, and the text this attempt holds is kept all the same.
        self._engine.bus.end(self.run_id)
        if recorder is not None:
            try:
                await recorder.keep_text()
            except ServiceUnavailable:
                logger.warning("run %s: its text could not be kept", self.run_id)

    async def _update(self, values: RunChanges) -> None:
        ok = await self._db.write(
            _runs.fenced_update, self.run_id, self._engine.owner, self.attempt, values
        )
        if not ok:
            raise LeaseLost()
        self._run.update(values)  # type: ignore[typeddict-item]  # RunChanges: RunRecord's keys
