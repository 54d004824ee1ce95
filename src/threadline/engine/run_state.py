"""Ending a run, as one unit of work that leaves everything consistent.

Whoever ends a run — its worker, a cancel request, the reaper after a crash or at ``expires_at`` —
ends it here: the run gets its terminal status and timestamp, every step still in progress and
every message still being written are closed with the matching status and reason, and the thread
is released. The events that tell a stream about it come back in the order they must be sent."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from threadline.records.runs import LastError, RunRecord, RunUsage, StepRecord, StepStatus
from threadline.records.threads import MessageChanges, MessageRecord
from threadline.schemas.objects import message_data
from threadline.schemas.run_objects import StreamEvent, run_data, run_step_data
from threadline.storage.database import Connection
from threadline.storage.run_messages import close_open_messages
from threadline.storage.runs import RunChanges, RunRepository, release_thread
from threadline.storage.steps import StepChanges, StepRepository

_runs = RunRepository()
_steps = StepRepository()

# How a run ends (a ``RunStatus`` it keeps).
EndStatus: TypeAlias = Literal["completed", "incomplete", "failed", "cancelled", "expired"]
IncompleteReason: TypeAlias = Literal["max_completion_tokens", "max_prompt_tokens"]
RunTimestamp: TypeAlias = Literal["completed_at", "failed_at", "cancelled_at"]
StepTimestamp: TypeAlias = Literal["completed_at", "failed_at", "cancelled_at", "expired_at"]

# run status -> (what its open steps become, why its open message is incomplete)
_CLOSING: dict[EndStatus, tuple[StepStatus, str | None]] = {
    "completed": ("completed", None),
    "incomplete": ("completed", "max_tokens"),
    "failed": ("failed", "run_failed"),
    "cancelled": ("cancelled", "run_cancelled"),
    "expired": ("expired", "run_expired"),
}
_STEP_TIMESTAMP: dict[StepStatus, StepTimestamp] = {
    "completed": "completed_at",
    "failed": "failed_at",
    "cancelled": "cancelled_at",
    "expired": "expired_at",
}
_RUN_TIMESTAMP: dict[EndStatus, RunTimestamp] = {
    "completed": "completed_at",
    "failed": "failed_at",
    "cancelled": "cancelled_at",
}


@dataclass
class Ending:
    """How a run ends."""

    status: EndStatus
    now: int
    last_error: LastError | None = None  # for failed
    incomplete_reason: IncompleteReason | None = None
    usage: RunUsage | None = None
    fence: tuple[str, int] | None = None  # (owner, attempt) when the run's worker ends it
    # What the run's last turn has still to store (its message's text, its step's completion),
    # written in the same unit once the fence holds; it returns the events that go first.
    last_writes: Callable[[Connection], list[StreamEvent]] | None = None
    events: list[StreamEvent] = field(default_factory=list)
    # Told the run's events in the unit that ended it, to write what follows from them there
    # (a response's last translated events).
    in_end_unit: Callable[[Connection, list[StreamEvent]], None] | None = None


def end_run(connection: Connection, run_record: RunRecord, ending: Ending) -> RunRecord:
    """End ``run_record`` (a row; with ``ending.fence``, its worker's copy) as ``ending`` says;
    returns the updated row, or ``run_record`` itself if the run had already ended or the fence
    no longer holds. ``ending.events`` receives the stream events for what changed."""
    if run_record["status"] not in ("queued", "in_progress", "requires_action", "cancelling"):
        return run_record
    values = _run_values(ending)
    if ending.fence is not None:
        # The row as the fenced update left it: its worker's copy may be behind (metadata).
        owner, attempt = ending.fence
        fenced = _runs.fenced_update_returning(connection, run_record["id"], owner, attempt, values)
        if fenced is None:
            return run_record
        ended = fenced
    else:
        _runs.update(connection, run_record["project_id"], run_record["id"], values)
        ended: RunRecord = {**run_record, **values}  # type: ignore[typeddict-item]
    if ending.last_writes is not None:
        ending.events.extend(ending.last_writes(connection))

    step_status, step_changes = _step_closing(ending)
    for step in _steps.close_open(connection, run_record["id"], step_changes):
        ending.events.append(StreamEvent.of(f"thread.run.step.{step_status}", run_step_data(step)))
    name, message_changes = _message_closing(ending)
    for message in close_open_messages(connection, run_record["id"], message_changes):
        ending.events.append(StreamEvent.of(name, message_data(message)))

    release_thread(connection, run_record["thread_id"], run_record["id"])
    ending.events.append(StreamEvent.of(f"thread.run.{ending.status}", run_data(ended)))
    if ending.in_end_unit is not None:
        ending.in_end_unit(connection, ending.events)
    return ended


def ending_events(
    run_record: RunRecord,
    ending: Ending,
    open_step: StepRecord | None,
    open_message: MessageRecord | None,
) -> list[StreamEvent]:
    """The events ``end_run`` gives for ``ending`` when ``open_step`` and ``open_message`` (its
    worker's copies) are what the run has open, built without the database: how a stream is
    told the run ended while the database cannot take the end."""
    events = []
    if open_step is not None:
        step_status, step_changes = _step_closing(ending)
        closed_step: StepRecord = {**open_step, **step_changes}  # type: ignore[typeddict-item]
        events.append(StreamEvent.of(f"thread.run.step.{step_status}", run_step_data(closed_step)))
    if open_message is not None:
        name, message_changes = _message_closing(ending)
        events.append(StreamEvent.of(name, message_data({**open_message, **message_changes})))
    ended: RunRecord = {**run_record, **_run_values(ending)}  # type: ignore[typeddict-item]
    events.append(StreamEvent.of(f"thread.run.{ending.status}", run_data(ended)))
    return events


def _run_values(ending: Ending) -> RunChanges:
    values: RunChanges = {
        "status": ending.status,
        "required_action": None,
        "expires_at": None,
        "lease_owner": None,
        "lease_expires_at": None,
    }
    if ending.status in _RUN_TIMESTAMP:
        values[_RUN_TIMESTAMP[ending.status]] = ending.now
    if ending.last_error is not None:
        values["last_error"] = ending.last_error
    if ending.incomplete_reason is not None:
        values["incomplete_details"] = {"reason": ending.incomplete_reason}
    if ending.usage is not None:
        values["usage"] = ending.usage
    return values


def _step_closing(ending: Ending) -> tuple[StepStatus, StepChanges]:
    """What the run's open steps become: their status, and the changes."""
    step_status = _CLOSING[ending.status][0]
    changes: StepChanges = {"status": step_status}
    changes[_STEP_TIMESTAMP[step_status]] = ending.now
    if step_status == "failed" and ending.last_error is not None:
        changes["last_error"] = ending.last_error
    return step_status, changes


def _message_closing(ending: Ending) -> tuple[str, MessageChanges]:
    """What the run's open messages become: the event that tells it, and the changes."""
    reason = _CLOSING[ending.status][1]
    if reason is None:
        return "thread.message.completed", {"status": "completed", "completed_at": ending.now}
    changes: MessageChanges = {
        "status": "incomplete",
        "incomplete_at": ending.now,
        "incomplete_details": {"reason": reason},
    }
    return "thread.message.incomplete", changes
