"""Data access for runs: the run repository, its claim and lease statements, and the thread lock
that keeps one run per thread (steps: ``steps.py``; the messages a run writes: ``run_messages.py``).

Execution is fenced: a worker owns a run through a lease (``lease_owner``, ``lease_expires_at``)
and an ``attempt`` number, and its writes only land while both still match. A worker that stalled
past its lease and came back finds its writes refused instead of overwriting a newer attempt.

Every statement a run executes is built once, with bound parameters (see ``repositories.py``);
updates have no ``.values()``: their SET clause is the parameters' column keys, so one statement
serves every set of changes, and parameter names that are not SET columns are not column names."""

from typing import Any, TypedDict, cast

from sqlalchemy import Connection, bindparam, func, or_, select, update

from threadline.records.jsonvalue import Metadata
from threadline.records.runs import LastError, RequiredAction, RunRecord, RunStatus, RunUsage
from threadline.records.threads import IncompleteDetails
from threadline.storage.repositories import ScopedRepository, records
from threadline.storage.tables import RunRow, ThreadRow

_threads = ThreadRow.__table__
_runs = RunRow.__table__

ACTIVE: tuple[RunStatus, ...] = ("queued", "in_progress", "requires_action", "cancelling")
EXECUTING: tuple[RunStatus, ...] = ("in_progress", "cancelling")


class Lease(TypedDict):
    """Who executes a run, until when (``time.time()``); both None: nobody."""

    lease_owner: str | None
    lease_expires_at: float | None


class RunChanges(TypedDict, total=False):
    """Columns of a run to write (only those given)."""

    status: RunStatus
    required_action: RequiredAction | None
    last_error: LastError | None
    expires_at: int | None
    started_at: int | None
    cancelled_at: int | None
    failed_at: int | None
    completed_at: int | None
    incomplete_details: IncompleteDetails | None
    usage: RunUsage | None
    metadata: Metadata | None
    lease_owner: str | None
    lease_expires_at: float | None


_TAKE_THREAD = (
    update(_threads)
    .where(
        _threads.c.id == bindparam("thread"),
        _threads.c.project_id == bindparam("project"),
        _threads.c.active_run_id.is_(None),
    )
    .values(active_run_id=bindparam("run"))
)
_RELEASE_THREAD = (
    update(_threads)
    .where(_threads.c.id == bindparam("thread"), _threads.c.active_run_id == bindparam("run"))
    .values(active_run_id=None)
)
_RUN_BY_ID = select(_runs).where(_runs.c.id == bindparam("run"))
# PostgreSQL locks the row until the transaction ends (SQLite's writes are serialized anyway).
_RUN_FOR_UPDATE = (
    select(_runs)
    .where(_runs.c.id == bindparam("run"), _runs.c.project_id == bindparam("project"))
    .with_for_update()
)
# A queued run nobody holds (or reserved for this worker, or whose holder's lease ran out) is
# taken and started at once: one statement, so a run is never claimed but not started.
_CLAIM = (
    update(_runs)
    .where(
        _runs.c.id == bindparam("run"),
        _runs.c.status == "queued",
        or_(
            _runs.c.lease_owner.is_(None),
            _runs.c.lease_owner == bindparam("owner"),  # reserved for this worker
            _runs.c.lease_expires_at < bindparam("now"),
        ),
    )
    .values(
        status="in_progress",
        started_at=func.coalesce(_runs.c.started_at, bindparam("started")),
        lease_owner=bindparam("owner"),
        lease_expires_at=bindparam("until"),
        attempt=_runs.c.attempt + 1,
    )
    .returning(*_runs.c)
)
_FENCED_RUN_UPDATE = update(_runs).where(
    _runs.c.id == bindparam("fence_run"),
    _runs.c.lease_owner == bindparam("fence_owner"),
    _runs.c.attempt == bindparam("fence_attempt"),
)
_FENCED_RUN_UPDATE_RETURNING = _FENCED_RUN_UPDATE.returning(*_runs.c)
_HOLDS = select(_runs.c.id).where(
    _runs.c.id == bindparam("fence_run"),
    _runs.c.lease_owner == bindparam("fence_owner"),
    _runs.c.attempt == bindparam("fence_attempt"),
)


def take_thread(connection: Connection, project_id: str, thread_id: str, run_id: str) -> bool:
    """Make ``run_id`` the thread's active run if the thread is idle. False if it is not (or does
    not exist): one conditional UPDATE, so concurrent creators cannot both win."""
    params = {"thread": thread_id, "project": project_id, "run": run_id}
    return connection.execute(_TAKE_THREAD, params).rowcount > 0


def release_thread(connection: Connection, thread_id: str, run_id: str) -> None:
    connection.execute(_RELEASE_THREAD, {"thread": thread_id, "run": run_id})


def _runs_of(result: Any) -> list[RunRecord]:
    # Not checked: rows are built as cheaply as ``records`` builds them (a run's hot path).
    return cast(list[RunRecord], records(result))


# Their inserts and unfenced updates are ``ScopedRepository``'s: a ``RunRecord`` (``StepRecord``)
# and ``RunChanges`` (``StepChanges``).
class RunRepository(ScopedRepository):
    table = RunRow.__table__  # type: ignore[assignment]

    def get_in_thread(
        self, connection: Connection, project_id: str, thread_id: str, run_id: str
    ) -> RunRecord | None:
        record = cast("RunRecord | None", self.get(connection, project_id, run_id))
        return record if record is not None and record["thread_id"] == thread_id else None

    def get_for_update(
        self, connection: Connection, project_id: str, thread_id: str, run_id: str
    ) -> RunRecord | None:
        """``get_in_thread``, and no other transaction changes the run (a claim, a reaper) until
        this one ends: for a decision made on its status."""
        found = _runs_of(
            connection.execute(_RUN_FOR_UPDATE, {"run": run_id, "project": project_id})
        )
        return found[0] if found and found[0]["thread_id"] == thread_id else None

    def get_by_id(self, connection: Connection, run_id: str) -> RunRecord | None:
        found = _runs_of(connection.execute(_RUN_BY_ID, {"run": run_id}))
        return found[0] if found else None

    def claimable(self, connection: Connection, now: float, limit: int) -> list[str]:
        """Queued runs nobody holds (or whose holder's lease ran out), oldest first."""
        query = (
            select(_runs.c.id)
            .where(
                _runs.c.status == "queued",
                or_(_runs.c.lease_owner.is_(None), _runs.c.lease_expires_at < now),
            )
            .order_by(_runs.c.id)
            .limit(limit)
        )
        if connection.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return list(connection.execute(query).scalars())

    def claim(
        self,
        connection: Connection,
        run_id: str,
        owner: str,
        now: float,
        until: float,
        started_at: int,
    ) -> RunRecord | None:
        """Take the lease on a queued run and mark it ``in_progress`` (``started_at`` unless it
        started before); the run as it now is, with its new ``attempt``, or None if someone
        else has it or it is no longer queued."""
        params = {"run": run_id, "owner": owner, "now": now, "until": until}
        found = _runs_of(connection.execute(_CLAIM, {**params, "started": started_at}))
        return found[0] if found else None

    def fenced_update(
        self, connection: Connection, run_id: str, owner: str, attempt: int, values: RunChanges
    ) -> bool:
        """Write ``values`` only if this worker's attempt still holds the run."""
        params = {**values, "fence_run": run_id, "fence_owner": owner, "fence_attempt": attempt}
        return connection.execute(_FENCED_RUN_UPDATE, params).rowcount > 0

    def holds(self, connection: Connection, run_id: str, owner: str, attempt: int) -> bool:
        """Whether this worker's attempt still holds the run (for writes to its other rows)."""
        params = {"fence_run": run_id, "fence_owner": owner, "fence_attempt": attempt}
        return connection.execute(_HOLDS, params).first() is not None

    def fenced_update_returning(
        self, connection: Connection, run_id: str, owner: str, attempt: int, values: RunChanges
    ) -> RunRecord | None:
        """``fenced_update``, returning the run as it now is (None if the fence did not hold)."""
        params = {**values, "fence_run": run_id, "fence_owner": owner, "fence_attempt": attempt}
        found = _runs_of(connection.execute(_FENCED_RUN_UPDATE_RETURNING, params))
        return found[0] if found else None

    def stale(self, connection: Connection, now: float) -> list[RunRecord]:
        """Runs being executed whose worker stopped renewing its lease (it crashed)."""
        query = select(_runs).where(_runs.c.status.in_(EXECUTING), _runs.c.lease_expires_at < now)
        return _runs_of(connection.execute(query))

    def past_expiry(self, connection: Connection, now: int) -> list[RunRecord]:
        query = select(_runs).where(_runs.c.status.in_(ACTIVE), _runs.c.expires_at < now)
        return _runs_of(connection.execute(query))


__all__ = [
    "Lease",
    "RunChanges",
    "RunRepository",
    "release_thread",
    "take_thread",
]
