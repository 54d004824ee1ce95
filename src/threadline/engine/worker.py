"""The worker: claims queued runs, executes them, keeps their leases alive, and reaps the runs
nobody will finish.

Runs live in the database, not in this process: a run is claimed with a lease that the worker
renews while it executes. A run created (or re-queued) here is claimed at once by its id; the
database is polled for the others (other replicas' runs, runs left queued by a restart) every
``poll_seconds``. If the process dies (kill -9), the lease runs out and any worker's
reaper fails the run with ``server_error`` and releases its thread; a run still queued is simply
claimed again. Runs past ``expires_at`` are expired by the same reaper. ``stop()`` (SIGTERM)
stops claiming, lets running executions finish for a grace period, and ends the rest.
The database side of leases and the reaper is ``lease_upkeep.py``."""

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections import deque
from collections.abc import Callable

from threadline import clock
from threadline.engine.context import first_turn_needs
from threadline.engine.event_bus import Subscription
from threadline.engine.execution import RunExecution
from threadline.engine.history import Needed
from threadline.engine.lease_upkeep import reap, renew_lease
from threadline.engine.peers import CANCEL, NO_PEERS, PUBLISH, Peers
from threadline.engine.run_attempt import EngineContext
from threadline.engine.scheduling import Claim, claim_run
from threadline.records.runs import RunRecord
from threadline.schemas.run_objects import StreamEvent
from threadline.storage.database import Connection
from threadline.storage.runs import Lease, RunRepository
from threadline.telemetry import TraceParent

logger = logging.getLogger("threadline.engine")

_runs = RunRepository()
# How long a run queued here is kept for this worker before any replica may claim it.
RESERVATION_SECONDS = 10.0
# Runs claimed at once by the request that queues them while fewer than this many others are
# still on their way to their first model call (more: a burst, see Worker.claim).
CLAIM_AT_ONCE_WHILE_STARTING = 4
# Traces of queued runs kept for their claim (tracing on), the oldest dropped past this.
MAX_KEPT_TRACE_PARENTS = 10_000


class Worker:
    def __init__(
        self,
        engine: EngineContext,
        *,
        lease_seconds: float = 30.0,
        poll_seconds: float = 1.0,
        max_concurrent_runs: int = 2000,
        shutdown_grace_seconds: float = 20.0,
        peers: Peers = NO_PEERS,
    ) -> None:
        self._engine = engine
        self._peers = peers
        self._lease_seconds = lease_seconds
        self._poll_seconds = poll_seconds
        self._slots = asyncio.Semaphore(max_concurrent_runs)
        self._grace = shutdown_grace_seconds
        self._running: dict[str, tuple[RunExecution, asyncio.Task[None]]] = {}
        self._wakeup = asyncio.Event()
        self._hinted: deque[str] = deque()  # runs made claimable here, claimed by id
        # With tracing on: the trace of the request that queued a hinted run, for its span.
        self._trace_parents: dict[str, TraceParent | None] = {}
        # Cancels that came for a run not (yet) executing here, by when: a run claimed a moment
        # before (its execution not started yet) must not miss its cancel.
        self._early_cancels: dict[str, float] = {}
        self._starting = 0  # runs executing here that have not called their model yet
        self._poll_now = True
        self._loops: list[asyncio.Task[None]] = []
        self._stopping = False

    @property
    def engine(self) -> EngineContext:
        return self._engine

    @staticmethod
    def new_owner_id() -> str:
        return f"{os.uname().nodename}-{os.getpid()}-{secrets.token_hex(4)}"

    def start(self) -> None:
        self._loops = [
            asyncio.create_task(self._claim_loop(), name="threadline-claim"),
            asyncio.create_task(self._lease_loop(), name="threadline-leases"),
        ]

    def active_count(self) -> int:
        """Runs executing in this process (for metrics)."""
        return len(self._running)

    # -- the services' side (engine.scheduling.Scheduler) ----------------------------------

    def reservation(self) -> Lease:
        """Lease columns for a run queued by a request this server answers: only this worker
        claims it for a moment, so the replica streaming it is the one running it (other
        replicas' polls take it only if this one has not within RESERVATION_SECONDS)."""
        return {
            "lease_owner": self._engine.owner,
            "lease_expires_at": time.time() + RESERVATION_SECONDS,
        }

    def claim(self, connection: Connection, run_id: str) -> Claim | None:
        """For a run queued by a request this server answers, in the unit that queues it: its
        claim, so the run starts executing as soon as that unit commits — no turn of the claim
        loop and no second write before its first model call. None while this worker takes no
        new run at once (stopping, every slot taken, a burst): the run stays queued, reserved
        here, and ``dispatch`` wakes the claim loop for it.

        SQLite only: there a write unit holds the database's one write lock, so the thread read
        by the claim holds every message committed before the run took the thread (any later one
        is refused). On PostgreSQL a message insert that checked the thread before the run took
        it may still commit after this unit's read: the claim waits for the unit's commit."""
        if not self._engine.db.is_sqlite or self._stopping or self._slots.locked():
            return None
        if self._hinted or self._starting >= CLAIM_AT_ONCE_WHILE_STARTING:
            # A burst: its runs are left to the claim loop, which starts them one a loop turn,
            # so the burst's requests are answered first (their first events) rather than each
            # one waiting behind the executions the others started.
            return None
        now = time.time()
        owner = self._engine.owner
        until = now + self._lease_seconds
        return claim_run(connection, run_id, owner, now, until, clock.now(), self._first_turn_needs)

    def _first_turn_needs(self, run: RunRecord) -> Needed:
        return first_turn_needs(self._engine.route, run)

    async def dispatch(self, run_id: str, claim: Claim | None) -> None:
        """Execute a run ``claim`` claimed, once its unit is committed; a run it did not claim
        (None) is woken as just queued."""
        if claim is None:
            self.wake(run_id)
            return
        # Claimed: it runs here even if the worker started stopping meanwhile (stop() then
        # gives it its grace period, or the run ends as interrupted).
        await self._slots.acquire()
        self._start(RunExecution(self._engine, claim))

    def subscribe(self, run_id: str) -> Subscription:
        """The run's stream events from now on."""
        return self._engine.bus.subscribe(run_id)

    def wake(self, run_id: str | None = None) -> None:
        """``run_id`` was just queued; without one, there may be queued runs to look for."""
        if run_id is None:
            self._poll_now = True
        else:
            self._hinted.append(run_id)
            tracer = self._engine.tracer
            if tracer.enabled:
                self._keep_trace_parent(run_id, tracer.current_parent())
        self._wakeup.set()

    def publish(self, run_id: str, event: StreamEvent) -> None:
        """Tell the streams of a run about a change made outside its execution (in whichever
        of this server's processes they are)."""
        self._engine.bus.publish(run_id, event)
        self._peers.publish(run_id, event)

    def executes(self, run_id: str) -> bool:
        """Whether the run executes in this process (its events reach this server's bus)."""
        return run_id in self._running

    def cancel(self, run_id: str) -> None:
        """Stop the run's execution, in whichever of this server's processes it runs (it ends
        as ``cancelled``); another server's sees the cancel at its next lease renewal."""
        if not self._cancel_here(run_id):
            self._peers.cancel(run_id)

    def listen_to(self, told: Callable[[str, Callable[..., None]], None]) -> None:
        """Hear this server's other processes (``HubLink.on_told``): their cancels, and the
        events of changes they made to runs streamed here."""
        told(CANCEL, self._cancel_here)
        told(PUBLISH, self._published_elsewhere)

    def _published_elsewhere(self, run_id: str, name: str, data: str) -> None:
        self._engine.bus.publish(run_id, StreamEvent(name, data.encode()))

    def _cancel_here(self, run_id: str) -> bool:
        held = self._running.get(run_id)
        if held is None:
            self._early_cancels[run_id] = time.monotonic()
            return False
        held[0].cancel_requested = True
        if held[0].started:
            held[1].cancel()
        # Not started yet: execute() sees cancel_requested and ends the run itself.
        return True

    async def stop(self) -> None:
        self._stopping = True
        for loop in self._loops:
            loop.cancel()
        tasks = [task for _, task in self._running.values()]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self._grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)
        for loop in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await loop

    # -- claiming -----------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_poll = 0.0
        while not self._stopping:
            self._wakeup.clear()  # before looking: a wake-up from now on is not lost
            try:
                while self._hinted and not self._stopping:
                    await self._claim(self._hinted.popleft())
                    # One claim a loop iteration: requests that have arrived meanwhile (their
                    # first events) go before starting more runs, so a burst of creates is
                    # answered before its runs compete with it.
                    await asyncio.sleep(0)
                if self._poll_now or loop.time() >= next_poll:
                    self._poll_now = False
                    next_poll = loop.time() + self._poll_seconds
                    await self._claim_available()
            except Exception:
                logger.exception("claiming runs failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, next_poll - loop.time())):
                    await self._wakeup.wait()

    async def _claim_available(self) -> None:
        db = self._engine.db
        while not self._stopping:
            candidates = await db.read(_runs.claimable, time.time(), 50)
            claimed = 0
            for run_id in candidates:
                if await self._claim(run_id):
                    claimed += 1
                await asyncio.sleep(0)  # as above
            if claimed == 0 or len(candidates) < 50:
                return

    async def _claim(self, run_id: str) -> bool:
        """Claim, start and execute the run if it is still queued and nobody holds it."""
        if run_id in self._running or self._stopping:
            return False
        now = time.time()
        claim = await self._engine.db.write(
            claim_run,
            run_id,
            self._engine.owner,
            now,
            now + self._lease_seconds,
            clock.now(),
            self._first_turn_needs,
        )
        if claim is None:
            return False
        await self._slots.acquire()
        execution = RunExecution(self._engine, claim)
        execution.trace_parent = self._trace_parents.pop(run_id, None)
        self._start(execution)
        return True

    def _keep_trace_parent(self, run_id: str, parent: TraceParent | None) -> None:
        # Bounded: a run another replica claims leaves its entry here.
        if len(self._trace_parents) >= MAX_KEPT_TRACE_PARENTS:
            del self._trace_parents[next(iter(self._trace_parents))]
        self._trace_parents[run_id] = parent

    def _start(self, execution: RunExecution) -> None:
        run_id = execution.run_id
        if self._early_cancels.pop(run_id, None) is not None:
            execution.cancel_requested = True
        task = asyncio.create_task(execution.execute(), name=f"run-{run_id}")
        self._running[run_id] = (execution, task)
        self._starting += 1
        execution.on_calling = self._called

        def done(finished: asyncio.Task[None]) -> None:
            execution.calling()  # a task cancelled before its first step never ran execute()
            if not finished.cancelled() and (error := finished.exception()) is not None:
                # execute() ends every run it can; what escapes it is said here, once.
                logger.error("run %s: its execution died", run_id, exc_info=error)
            if self._running.get(run_id, (None,))[0] is execution:
                del self._running[run_id]
            self._slots.release()

        task.add_done_callback(done)

    def _called(self) -> None:
        self._starting -= 1

    # -- leases, cancellation requests from other replicas, the reaper --------------------

    async def _lease_loop(self) -> None:
        interval = max(0.5, self._lease_seconds / 3)
        while not self._stopping:
            try:
                await self._renew_leases()
                await self._reap()
            except Exception:
                logger.exception("lease upkeep failed")
            await asyncio.sleep(interval)

    async def _renew_leases(self) -> None:
        # An early cancel older than a lease was for a run executing elsewhere (or nowhere).
        stale = time.monotonic() - self._lease_seconds
        for run_id, when in list(self._early_cancels.items()):
            if when < stale:
                del self._early_cancels[run_id]
        until = time.time() + self._lease_seconds
        for run_id, (execution, task) in list(self._running.items()):
            status = await self._engine.db.write(
                renew_lease, run_id, self._engine.owner, execution.attempt, until
            )
            if status == "cancelling" and not execution.cancel_requested:
                self.cancel(run_id)
            elif status is None and not task.done():
                task.cancel()  # the lease is gone: another attempt owns the run

    async def _reap(self) -> None:
        mine = set(self._running)
        events = await self._engine.db.write(reap, time.time(), clock.now(), mine)
        for run_id, event in events:
            self._engine.bus.publish(run_id, event)
            held = self._running.get(run_id)
            if held is not None:
                held[1].cancel()  # expired while executing here: stop the upstream call
