"""Long threads for the benchmarks: messages written straight into the server's database in
batches through the repository layer (``MessageRepository.insert_many``), thousands a second,
where the API would take minutes for 100,000. Each message is a user or assistant text of about
55 tokens, with its stored token count when the tree being measured has the column (a tree from
before it is measured as it was)."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import select

from threadline import ids
from threadline.storage.database import Connection, Database
from threadline.storage.repositories import MessageRepository
from threadline.storage.tables import MessageRow, ThreadRow

BATCH = 2_000
_WORDS = [
    *("the", "pump", "rated", "pressure", "valve", "seal", "flow", "gauge", "bar", "maximum"),
    *("manual", "check", "inlet", "outlet", "filter", "housing", "gasket", "torque", "bolt"),
    *("spring", "piston", "cylinder"),
]
_messages = MessageRepository()
_COUNTED = "tokens" in MessageRow.__table__.c


def message_text(index: int) -> str:
    """The ``index``-th seeded message's text: distinct, about 55 tokens."""
    words = itertools.islice(itertools.cycle(_WORDS), index % len(_WORDS), None)
    return f"m{index:06d}: " + " ".join(itertools.islice(words, 48))


async def seed_thread(database_url: str, thread_id: str, count: int) -> None:
    """``count`` messages on ``thread_id``, after those it has, oldest first."""
    database = Database(database_url)
    try:
        project_id = await database.read(_project_of, thread_id)
        for start in range(0, count, BATCH):
            indexes = range(start, min(count, start + BATCH))
            await database.write(_insert, project_id, thread_id, indexes)
    finally:
        await database.dispose()


def _project_of(connection: Connection, thread_id: str) -> str:
    threads = ThreadRow.__table__
    query = select(threads.c.project_id).where(threads.c.id == thread_id)
    return str(connection.execute(query).scalar_one())


def _insert(connection: Connection, project_id: str, thread_id: str, indexes: range) -> None:
    records = [_record(project_id, thread_id, index) for index in indexes]
    _messages.insert_many(connection, records)  # type: ignore[arg-type]


def _record(project_id: str, thread_id: str, index: int) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": ids.message_id(),
        "project_id": project_id,
        "thread_id": thread_id,
        "created_at": 0,
        "status": "completed",
        "incomplete_details": None,
        "completed_at": 0,
        "incomplete_at": None,
        "role": "user" if index % 2 == 0 else "assistant",
        "content": [{"type": "text", "text": {"value": message_text(index), "annotations": []}}],
        "assistant_id": None,
        "run_id": None,
        "attachments": [],
        "metadata": {},
    }
    if _COUNTED:
        from threadline.engine.chat_turns import message_tokens

        record["tokens"] = message_tokens(record)  # type: ignore[arg-type]
    return record
