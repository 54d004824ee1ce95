"""The worker's lease upkeep, as units of work: renewing the lease of a run it executes, and
reaping the runs nobody will finish (their worker crashed, or they are past ``expires_at``)."""

from threadline.engine.response_run import ended_outside
from threadline.engine.run_state import Ending, end_run
from threadline.records.runs import LastError, RunRecord, RunStatus
from threadline.schemas.run_objects import StreamEvent
from threadline.storage.database import Connection
from threadline.storage.runs import RunRepository

_runs = RunRepository()


def renew_lease(
    connection: Connection, run_id: str, owner: str, attempt: int, until: float
) -> RunStatus | None:
    """Extend the lease. The run's status; None only if another attempt now owns the run (a
    run that simply ended, or waits for tool outputs, has no lease to renew)."""
    renewed = _runs.fenced_update(connection, run_id, owner, attempt, {"lease_expires_at": until})
    record = _runs.get_by_id(connection, run_id)
    if record is None:
        return None
    if not renewed and record["lease_owner"] is not None:
        return None
    return record["status"]


_INTERRUPTED: LastError = {
    "code": "server_error",
    "message": "The run was interrupted because the server executing it stopped. Please retry.",
}


def reap(
    connection: Connection, now: float, now_seconds: int, mine: set[str]
) -> list[tuple[str, StreamEvent]]:
    """End the runs past ``expires_at`` and those whose worker stopped renewing its lease (not
    one of ``mine``, executing here); the events to publish, by run."""
    published: list[tuple[str, StreamEvent]] = []
    for record in _runs.past_expiry(connection, now_seconds):
        ending = Ending("expired", now_seconds)
        _end_outside(connection, record, ending, published)
    for record in _runs.stale(connection, now):
        if record["id"] in mine:
            continue  # executing here: its lease renewal is merely late
        if record["status"] == "cancelling":
            ending = Ending("cancelled", now_seconds)
        else:
            ending = Ending("failed", now_seconds, last_error=_INTERRUPTED)
        _end_outside(connection, record, ending, published)
    return published


def _end_outside(
    connection: Connection,
    record: RunRecord,
    ending: Ending,
    published: list[tuple[str, StreamEvent]],
) -> None:
    """End a run nobody executes; a response's stream gets its terminal event too."""
    ended = end_run(connection, record, ending)
    published.extend((record["id"], event) for event in ending.events)
    if ended is not record and record.get("kind") == "response":
        told = ended_outside(connection, ended)
        if told is not None:
            published.append(told)
