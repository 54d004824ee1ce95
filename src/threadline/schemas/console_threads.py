"""The console's thread listing (``GET /console/api/threads``): each thread exactly as
``GET /v1/threads/{id}`` returns it, plus a summary of its newest run."""

from typing import Literal

from openai.types.beta import Thread
from pydantic import BaseModel

from threadline.records.runs import RunStatus
from threadline.records.threads import ThreadRecord
from threadline.schemas import objects


class LastRun(BaseModel):
    id: str
    object: Literal["thread.run"] = "thread.run"
    status: RunStatus
    model: str
    created_at: int


class ConsoleThread(Thread):
    last_run: LastRun | None


def console_thread(record: ThreadRecord, last_run: LastRun | None) -> ConsoleThread:
    shown = objects.dump(objects.thread(record))
    return ConsoleThread.model_validate({**shown, "last_run": last_run})


def last_run(run_id: str, status: RunStatus, model: str, created_at: int) -> LastRun:
    # Every field given explicitly: the wire dump leaves out fields never set.
    return LastRun(
        id=run_id, object="thread.run", status=status, model=model, created_at=created_at
    )
