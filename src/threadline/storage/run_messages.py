"""The messages a run reads and writes: which messages a thread has, what a prompt is made of,
a thread's attachments, and the run's messages being written or closed. Statements are built once
with bound parameters, as in ``runs.py``."""

from typing import cast

from sqlalchemy import Connection, bindparam, select, update

from threadline.records.threads import (
    Attachment,
    MessageChanges,
    MessageRecord,
    MessageStatus,
    PromptMessageRecord,
)
from threadline.storage.repositories import records
from threadline.storage.tables import MessageRow

_messages = MessageRow.__table__

# What a run needs to know of a thread it has seen before: which messages there are, and which
# of them are still being written (see engine.chat_turns' cache of finished ones).
_MESSAGE_STATUSES = (
    select(_messages.c.id, _messages.c.status)
    .where(_messages.c.thread_id == bindparam("thread"))
    .order_by(_messages.c.id)
)
# Only what a prompt is made of: the other JSON columns would be decoded for every message read.
_CONVERSATION_MESSAGES_BY_ID = (
    select(_messages.c.id, _messages.c.role, _messages.c.status, _messages.c.content)
    .where(_messages.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_messages.c.id)
)
# Ids a single IN (...) may list: far below SQLite's and PostgreSQL's bound-parameter limits.
_IDS_PER_QUERY = 500
_MESSAGE_UPDATE = update(_messages).where(_messages.c.id == bindparam("message"))
_OPEN_MESSAGES_UPDATE = (
    update(_messages)
    .where(_messages.c.run_id == bindparam("run"), _messages.c.status == "in_progress")
    .returning(*_messages.c)
)


def message_statuses(connection: Connection, thread_id: str) -> list[tuple[str, MessageStatus]]:
    """``(id, status)`` of every message of a thread, oldest first."""
    return [
        (id_, status)
        for id_, status in connection.execute(_MESSAGE_STATUSES, {"thread": thread_id}).all()
    ]


def conversation_messages_by_id(
    connection: Connection, ids: list[str]
) -> list[PromptMessageRecord]:
    """These messages (``id``, ``role``, ``status`` and ``content`` only), oldest first."""
    found: list[PromptMessageRecord] = []
    for start in range(0, len(ids), _IDS_PER_QUERY):
        chunk = ids[start : start + _IDS_PER_QUERY]
        result = connection.execute(_CONVERSATION_MESSAGES_BY_ID, {"ids": chunk})
        found.extend(cast(list[PromptMessageRecord], records(result)))
    return found


def thread_attachments(connection: Connection, thread_id: str) -> list[Attachment]:
    """The attachments of a thread's messages, oldest message first."""
    query = (
        select(_messages.c.attachments)
        .where(_messages.c.thread_id == thread_id)
        .order_by(_messages.c.id)
    )
    return [item for (attached,) in connection.execute(query) for item in attached or ()]


def update_message(connection: Connection, message_id: str, values: MessageChanges) -> None:
    connection.execute(_MESSAGE_UPDATE, {**values, "message": message_id})


def close_open_messages(
    connection: Connection, run_id: str, values: MessageChanges
) -> list[MessageRecord]:
    """Apply ``values`` to the run's messages still in progress; those messages, as they now
    are, oldest first."""
    found = records(connection.execute(_OPEN_MESSAGES_UPDATE, {**values, "run": run_id}))
    return sorted(cast(list[MessageRecord], found), key=_message_id)


def _message_id(message: MessageRecord) -> str:
    return message["id"]


__all__ = [
    "close_open_messages",
    "conversation_messages_by_id",
    "message_statuses",
    "thread_attachments",
    "update_message",
]
