"""The rows a model turn writes: its assistant message and steps, new, and the writes that
store them; the usage a step records."""

from threadline import ids
from threadline.providers.llm.base import Usage
from threadline.records.runs import RunRecord, RunUsage, StepRecord, StepType
from threadline.records.threads import MessageChanges, MessageRecord
from threadline.storage.database import Connection
from threadline.storage.repositories import MessageRepository
from threadline.storage.run_messages import update_message
from threadline.storage.runs import RunRepository
from threadline.storage.steps import StepRepository

_messages = MessageRepository()
_runs = RunRepository()
_steps = StepRepository()


def new_assistant_message(run: RunRecord, now: int) -> MessageRecord:
    return {
        "id": ids.message_id(),
        "project_id": run["project_id"],
        "thread_id": run["thread_id"],
        "created_at": now,
        "status": "in_progress",
        "incomplete_details": None,
        "completed_at": None,
        "incomplete_at": None,
        "role": "assistant",
        "content": [],
        "assistant_id": run["assistant_id"],
        "run_id": run["id"],
        "attachments": [],
        "metadata": {},
        "tokens": None,  # counted once it is finished
    }


def new_step(run: RunRecord, now: int, kind: StepType) -> StepRecord:
    return {
        "id": ids.step_id(),
        "project_id": run["project_id"],
        "run_id": run["id"],
        "thread_id": run["thread_id"],
        "assistant_id": run["assistant_id"],
        "created_at": now,
        "type": kind,
        "status": "in_progress",
        "step_details": {},
        "last_error": None,
        "expired_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "usage": None,
        "metadata": {},
    }


def insert_message_and_step(
    connection: Connection, message: MessageRecord, step: StepRecord
) -> None:
    _messages.insert(connection, message)
    _steps.insert(connection, step)


def store_text(
    connection: Connection, run: RunRecord, message_id: str, changes: MessageChanges
) -> None:
    if _runs.holds(connection, run["id"], run["lease_owner"], run["attempt"]):
        update_message(connection, message_id, changes)


def usage_dict(usage: Usage) -> RunUsage:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def minus_completion(usage: Usage, completion_tokens: int) -> Usage:
    return Usage(usage.prompt_tokens, max(0, usage.completion_tokens - completion_tokens))
