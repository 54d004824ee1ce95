"""How the services hand runs to the engine: the one interface they call, never the other way.

A request that queues a run (creates it, or re-queues it with tool outputs) does so in one unit
of work. In that unit the run's row carries ``reservation()`` (this server's worker may claim it
first, so the replica streaming a run is the replica running it) and, once written, the worker
may ``claim`` it there and then; after the commit ``dispatch`` executes the claim, or wakes the
worker for a run it did not claim. Streams ``subscribe`` before the run is written, so they
miss no event; a run ended or asked to stop outside its execution is told with ``publish`` and
``cancel``."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from threadline.engine.event_bus import Subscription
from threadline.engine.history import Conversation, Needed, load_conversation
from threadline.records.runs import RunRecord
from threadline.schemas.run_objects import StreamEvent
from threadline.storage.database import Connection
from threadline.storage.runs import Lease, RunRepository

_runs = RunRepository()


@dataclass(frozen=True, slots=True)
class Claim:
    """A run this server's worker has taken: the run as the claim left it (``in_progress``, with
    this attempt's lease), and its thread as its first turn reads it."""

    run: RunRecord
    conversation: Conversation


class Scheduler(Protocol):
    """The engine's side of queuing, streaming and stopping runs (``engine.worker.Worker``)."""

    def reservation(self) -> Lease:
        """Lease columns for a run queued by a request this server answers: only this worker
        claims it for a moment (other replicas' polls take it once the reservation ends)."""
        ...

    def claim(self, connection: Connection, run_id: str) -> Claim | None:
        """In the unit that queued ``run_id``: this worker's claim on it, or None when the
        worker does not take it at once (the run stays queued for ``dispatch`` to wake)."""
        ...

    async def dispatch(self, run_id: str, claim: Claim | None) -> None:
        """Once the unit that queued ``run_id`` is committed: execute ``claim``, or (None) wake
        the worker for a run just queued."""
        ...

    def subscribe(self, run_id: str) -> Subscription:
        """The run's stream events from now on (taken before the run is queued)."""
        ...

    def publish(self, run_id: str, event: StreamEvent) -> None:
        """Tell the streams of a run about a change made outside its execution."""
        ...

    def cancel(self, run_id: str) -> None:
        """Stop the run's execution, if it executes here (it ends as ``cancelled``)."""
        ...

    def executes(self, run_id: str) -> bool:
        """Whether the run executes here (its events reach this server's bus)."""
        ...


def claim_run(
    connection: Connection,
    run_id: str,
    owner: str,
    now: float,
    until: float,
    started_at: int,
    needs: Callable[[RunRecord], Needed],
) -> Claim | None:
    """Claim and start the run, and read what its first turn ``needs`` of the thread it
    continues: one unit (which also stores the token counts that read made)."""
    record = _runs.claim(connection, run_id, owner, now, until, started_at)
    if record is None:
        return None
    thread = load_conversation(
        connection, record["thread_id"], needs(record), run_id=run_id, store_counts=True
    )
    return Claim(record, thread)
