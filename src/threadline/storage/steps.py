"""Data access for run steps: a run's steps, a thread's tool steps, and closing the steps a run
left open. Statements are built once with bound parameters, as in ``runs.py``."""

from typing import Any, TypedDict, cast

from sqlalchemy import Connection, bindparam, select, update

from threadline.records.runs import LastError, RunUsage, StepDetails, StepRecord, StepStatus
from threadline.storage.pagination import KeyRange, key_range_params
from threadline.storage.repositories import ScopedRepository, records
from threadline.storage.tables import RunStepRow

_steps = RunStepRow.__table__


class StepChanges(TypedDict, total=False):
    """Columns of a run step to write (only those given)."""

    status: StepStatus
    step_details: StepDetails
    last_error: LastError | None
    expired_at: int | None
    cancelled_at: int | None
    failed_at: int | None
    completed_at: int | None
    usage: RunUsage | None


_STEPS_OF_RUN = select(_steps).where(_steps.c.run_id == bindparam("run")).order_by(_steps.c.id)
_STEPS_OF_RUN_WITH_STATUS = _STEPS_OF_RUN.where(_steps.c.status == bindparam("with_status"))
_TOOL_STEPS_OF_THREAD = (
    select(_steps)
    .where(_steps.c.thread_id == bindparam("thread"), _steps.c.type == "tool_calls")
    .order_by(_steps.c.id)
)
# A thread's tool steps in a key range, newest first (ix_run_steps_thread_id_type_id).
_TOOL_STEPS_PAGE = (
    select(_steps)
    .where(
        _steps.c.thread_id == bindparam("thread"),
        _steps.c.type == "tool_calls",
        _steps.c.id >= bindparam("low"),
        _steps.c.id < bindparam("high"),
    )
    .order_by(_steps.c.id.desc())
    .limit(bindparam("limit"))
)
_STEP_UPDATE = update(_steps).where(_steps.c.id == bindparam("step"))
_OPEN_STEPS_UPDATE = (
    update(_steps)
    .where(_steps.c.run_id == bindparam("run"), _steps.c.status == "in_progress")
    .returning(*_steps.c)
)


def _steps_of(result: Any) -> list[StepRecord]:
    return cast(list[StepRecord], records(result))


class StepRepository(ScopedRepository):
    table = RunStepRow.__table__  # type: ignore[assignment]

    def get_in_run(
        self, connection: Connection, project_id: str, thread_id: str, run_id: str, step_id: str
    ) -> StepRecord | None:
        record = cast("StepRecord | None", self.get(connection, project_id, step_id))
        if record is None or record["run_id"] != run_id or record["thread_id"] != thread_id:
            return None
        return record

    def of_run(
        self, connection: Connection, run_id: str, status: StepStatus | None = None
    ) -> list[StepRecord]:
        if status is None:
            return _steps_of(connection.execute(_STEPS_OF_RUN, {"run": run_id}))
        params = {"run": run_id, "with_status": status}
        return _steps_of(connection.execute(_STEPS_OF_RUN_WITH_STATUS, params))

    def tool_steps_of_thread(self, connection: Connection, thread_id: str) -> list[StepRecord]:
        return _steps_of(connection.execute(_TOOL_STEPS_OF_THREAD, {"thread": thread_id}))

    def tool_steps_page(
        self, connection: Connection, thread_id: str, within: KeyRange, limit: int
    ) -> list[StepRecord]:
        """The thread's newest ``limit`` tool steps inside ``within``, newest first."""
        low, high = key_range_params("step_", within)
        params = {"thread": thread_id, "low": low, "high": high, "limit": limit}
        return _steps_of(connection.execute(_TOOL_STEPS_PAGE, params))

    def update_by_id(self, connection: Connection, step_id: str, values: StepChanges) -> None:
        connection.execute(_STEP_UPDATE, {**values, "step": step_id})

    def close_open(
        self, connection: Connection, run_id: str, values: StepChanges
    ) -> list[StepRecord]:
        """Apply ``values`` to the run's steps still in progress; those steps, as they now are,
        oldest first."""
        found = _steps_of(connection.execute(_OPEN_STEPS_UPDATE, {**values, "run": run_id}))
        return sorted(found, key=_step_id)


def _step_id(step: StepRecord) -> str:
    return step["id"]


__all__ = ["StepChanges", "StepRepository"]
