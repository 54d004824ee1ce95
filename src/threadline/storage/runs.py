"""Data access for runs and run steps, and the thread lock that keeps one run per thread.

Execution is fenced: a worker owns a run through a lease (``lease_owner``, ``lease_expires_at``)
and an ``attempt`` number, and its writes only land while both still match. A worker that stalled
past its lease and came back finds its writes refused instead of overwriting a newer attempt."""

from functools import cached_property
from typing import Any

from sqlalchemy import Connection, and_, bindparam, or_, select, update

from threadline.storage.repositories import (
    MessageRepository,
    Record,
    ScopedRepository,
    ThreadRepository,
    records,
)
from threadline.storage.tables import MessageRow, RunRow, RunStepRow, ThreadRow

_threads = ThreadRow.__table__
_runs = RunRow.__table__
_steps = RunStepRow.__table__
_messages = MessageRow.__table__

ACTIVE = ("queued", "in_progress", "requires_action", "cancelling")
EXECUTING = ("in_progress", "cancelling")


def take_thread(connection: Connection, project_id: str, thread_id: str, run_id: str) -> bool:
    """Make ``run_id`` the thread's active run if the thread is idle. False if it is not (or does
    not exist): one conditional UPDATE, so concurrent creators cannot both win."""
    statement = (
        update(_threads)
        .where(
            _threads.c.id == thread_id,
            _threads.c.project_id == project_id,
            _threads.c.active_run_id.is_(None),
        )
        .values(active_run_id=run_id)
    )
    return connection.execute(statement).rowcount > 0


def release_thread(connection: Connection, thread_id: str, run_id: str) -> None:
    statement = (
        update(_threads)
        .where(_threads.c.id == thread_id, _threads.c.active_run_id == run_id)
        .values(active_run_id=None)
    )
    connection.execute(statement)


class RunRepository(ScopedRepository):
    table = RunRow.__table__  # type: ignore[assignment]

    @cached_property
    def _fence(self) -> Any:
        columns = self.table.c
        # Parameter names differ from the column names: an UPDATE reserves those for SET.
        return and_(
            columns.id == bindparam("fence_run"),
            columns.lease_owner == bindparam("fence_owner"),
            columns.attempt == bindparam("fence_attempt"),
        )

    def get_in_thread(
        self, connection: Connection, project_id: str, thread_id: str, run_id: str
    ) -> Record | None:
        record = self.get(connection, project_id, run_id)
        return record if record is not None and record["thread_id"] == thread_id else None

    def get_by_id(self, connection: Connection, run_id: str) -> Record | None:
        found = records(connection.execute(select(_runs).where(_runs.c.id == run_id)))
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
        self, connection: Connection, run_id: str, owner: str, now: float, until: float
    ) -> int | None:
        """Take the lease on a queued run; the new attempt number, or None if someone else has
        it or it is no longer queued."""
        statement = (
            update(_runs)
            .where(
                _runs.c.id == run_id,
                _runs.c.status == "queued",
                or_(_runs.c.lease_owner.is_(None), _runs.c.lease_expires_at < now),
            )
            .values(lease_owner=owner, lease_expires_at=until, attempt=_runs.c.attempt + 1)
            .returning(_runs.c.attempt)
        )
        return connection.execute(statement).scalar_one_or_none()

    def fenced_update(
        self, connection: Connection, run_id: str, owner: str, attempt: int, values: Record
    ) -> bool:
        """Write ``values`` only if this worker's attempt still holds the run."""
        statement = update(_runs).where(self._fence).values(**values)
        params = {"fence_run": run_id, "fence_owner": owner, "fence_attempt": attempt}
        return connection.execute(statement, params).rowcount > 0

    def stale(self, connection: Connection, now: float) -> list[Record]:
        """Runs being executed whose worker stopped renewing its lease (it crashed)."""
        query = select(_runs).where(_runs.c.status.in_(EXECUTING), _runs.c.lease_expires_at < now)
        return records(connection.execute(query))

    def past_expiry(self, connection: Connection, now: int) -> list[Record]:
        query = select(_runs).where(_runs.c.status.in_(ACTIVE), _runs.c.expires_at < now)
        return records(connection.execute(query))


class StepRepository(ScopedRepository):
    table = RunStepRow.__table__  # type: ignore[assignment]

    def get_in_run(
        self, connection: Connection, project_id: str, thread_id: str, run_id: str, step_id: str
    ) -> Record | None:
        record = self.get(connection, project_id, step_id)
        if record is None or record["run_id"] != run_id or record["thread_id"] != thread_id:
            return None
        return record

    def of_run(
        self, connection: Connection, run_id: str, status: str | None = None
    ) -> list[Record]:
        query = select(_steps).where(_steps.c.run_id == run_id).order_by(_steps.c.id)
        if status is not None:
            query = query.where(_steps.c.status == status)
        return records(connection.execute(query))

    def tool_steps_of_thread(self, connection: Connection, thread_id: str) -> list[Record]:
        query = (
            select(_steps)
            .where(_steps.c.thread_id == thread_id, _steps.c.type == "tool_calls")
            .order_by(_steps.c.id)
        )
        return records(connection.execute(query))

    def update_by_id(self, connection: Connection, step_id: str, values: Record) -> None:
        connection.execute(update(_steps).where(_steps.c.id == step_id).values(**values))


def thread_messages(connection: Connection, thread_id: str) -> list[Record]:
    """Every message of a thread, oldest first: the conversation a run continues."""
    query = select(_messages).where(_messages.c.thread_id == thread_id).order_by(_messages.c.id)
    return records(connection.execute(query))


def update_message(connection: Connection, message_id: str, values: Record) -> None:
    connection.execute(update(_messages).where(_messages.c.id == message_id).values(**values))


def messages_of_run(connection: Connection, run_id: str, status: str) -> list[Record]:
    query = select(_messages).where(_messages.c.run_id == run_id, _messages.c.status == status)
    return records(connection.execute(query))


__all__ = [
    "MessageRepository",
    "RunRepository",
    "StepRepository",
    "ThreadRepository",
    "messages_of_run",
    "release_thread",
    "take_thread",
    "thread_messages",
    "update_message",
]
