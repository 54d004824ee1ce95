"""The units of work on a run that exists: read it (``get_run``, ``list_runs``), modify its
metadata, cancel it, submit its tool outputs. ``runs.RunService`` runs them and tells the engine."""

from threadline.engine.run_state import Ending, end_run
from threadline.errors import InvalidRequest, NotFound
from threadline.records.runs import RunRecord, StepRecord, ToolCall
from threadline.storage.database import Connection
from threadline.storage.pagination import Page, PageRequest
from threadline.storage.repositories import ThreadRepository
from threadline.storage.runs import Lease, RunChanges, RunRepository
from threadline.storage.steps import StepChanges, StepRepository

_runs = RunRepository()
_steps = StepRepository()
_threads = ThreadRepository()


def get_run(
    connection: Connection, project_id: str, thread_id: str, run_id: str, *, lock: bool = False
) -> RunRecord:
    """The run, or 404. With ``lock``, held against concurrent changes (a worker claiming it,
    the reaper) until the unit ends: the caller's write depends on the status it read."""
    get = _runs.get_for_update if lock else _runs.get_in_thread
    record = get(connection, project_id, thread_id, run_id)
    if record is None:
        raise NotFound.object("run", run_id)
    return record


def list_runs(connection: Connection, project_id: str, thread_id: str, page: PageRequest) -> Page:
    if not _threads.exists(connection, project_id, thread_id):
        raise NotFound.object("thread", thread_id, param="thread_id")
    return _runs.list(connection, project_id, page, thread_id=thread_id)


def modify_run(
    connection: Connection, project_id: str, thread_id: str, run_id: str, changes: RunChanges
) -> RunRecord:
    record = get_run(connection, project_id, thread_id, run_id)
    if changes:
        _runs.update(connection, project_id, run_id, changes)
        record.update(changes)  # type: ignore[typeddict-item]  # RunChanges: RunRecord's keys
    return record


def cancel_run(
    connection: Connection, project_id: str, thread_id: str, run_id: str, ending: Ending
) -> RunRecord:
    record = get_run(connection, project_id, thread_id, run_id, lock=True)
    status = record["status"]
    if status == "cancelling":
        return record
    if status in ("requires_action", "queued"):
        # Nobody executes it (a claim starts a run in the same statement that takes it): it
        # ends here and now, and no worker can claim it after.
        return end_run(connection, record, ending)
    if status == "in_progress":
        # Its worker stops the upstream call and ends it (see engine.execution).
        _runs.update(connection, project_id, run_id, {"status": "cancelling"})
        return {**record, "status": "cancelling"}
    raise InvalidRequest(f"Cannot cancel run with status '{status}'.")


def submit_outputs(
    connection: Connection,
    project_id: str,
    thread_id: str,
    run_id: str,
    outputs: dict[str, str],
    now: int,
    reservation: Lease,
) -> tuple[StepRecord, RunRecord]:
    record = get_run(connection, project_id, thread_id, run_id, lock=True)
    action = record["required_action"]
    if (
        record["status"] != "requires_action"
        or action is None
        or (record["expires_at"] is not None and record["expires_at"] <= now)
    ):
        status = "expired" if record["status"] == "requires_action" else record["status"]
        raise InvalidRequest(f'Runs in status "{status}" do not accept tool outputs.')
    pending = [call["id"] for call in action["submit_tool_outputs"]["tool_calls"]]
    missing = [call_id for call_id in pending if call_id not in outputs]
    unknown = [call_id for call_id in outputs if call_id not in pending]
    if missing or unknown:
        raise InvalidRequest(
            f"Expected tool outputs for call_ids {pending}, got {list(outputs)}.",
            param="tool_outputs",
        )
    (step,) = [
        s for s in _steps.of_run(connection, run_id, "in_progress") if s["type"] == "tool_calls"
    ]
    calls: list[ToolCall] = [
        {**call, "function": {**call["function"], "output": outputs[call["id"]]}}
        if call["type"] == "function"
        else call
        for call in step["step_details"]["tool_calls"]
    ]
    step_changes: StepChanges = {
        "status": "completed",
        "completed_at": now,
        "step_details": {"type": "tool_calls", "tool_calls": calls},
    }
    _steps.update_by_id(connection, step["id"], step_changes)
    run_changes: RunChanges = {"status": "queued", "required_action": None, **reservation}
    _runs.update(connection, project_id, run_id, run_changes)
    # The rows as they now are (the changes are their columns).
    answered: StepRecord = {**step, **step_changes}  # type: ignore[typeddict-item]
    requeued: RunRecord = {**record, **run_changes}  # type: ignore[typeddict-item]
    return answered, requeued
