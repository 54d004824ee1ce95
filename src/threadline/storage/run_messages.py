"""The messages a run reads and writes: a thread's newest messages with their token counts, what
a prompt is made of, a thread's attachments, and the run's messages being written or closed.
Statements are built once with bound parameters, as in ``runs.py``."""

from typing import NamedTuple, cast

from sqlalchemy import Connection, bindparam, select, update

from threadline.records.threads import (
    Attachment,
    MessageChanges,
    MessageRecord,
    MessageStatus,
    PromptMessageRecord,
)
from threadline.storage.pagination import KeyRange, key_range_params
from threadline.storage.repositories import records
from threadline.storage.tables import MessageRow

_messages = MessageRow.__table__

# What a run reads of a thread to choose the messages it sends: newest first, a page at a
# time, each message's id, status and stored token count (its content is read only if sent).
_MESSAGE_PAGE = (
    select(_messages.c.id, _messages.c.status, _messages.c.tokens)
    .where(
        _messages.c.thread_id == bindparam("thread"),
        _messages.c.id >= bindparam("low"),
        _messages.c.id < bindparam("high"),
    )
    .order_by(_messages.c.id.desc())
    .limit(bindparam("limit"))
)
# Only what a prompt is made of: the other JSON columns would be decoded for every message read.
_CONVERSATION_MESSAGES_BY_ID = (
    select(
        _messages.c.id,
        _messages.c.role,
        _messages.c.status,
        _messages.c.content,
        _messages.c.tokens,
    )
    .where(_messages.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_messages.c.id)
)
# Counts a run made of messages stored before the column existed (never overwrites one).
_STORE_TOKENS = (
    update(_messages)
    .where(_messages.c.id == bindparam("message"), _messages.c.tokens.is_(None))
    .values(tokens=bindparam("counted"))
)
# Ids a single IN (...) may list: far below SQLite's and PostgreSQL's bound-parameter limits.
_IDS_PER_QUERY = 500
_MESSAGE_UPDATE = update(_messages).where(_messages.c.id == bindparam("message"))
_OPEN_MESSAGES_UPDATE = (
    update(_messages)
    .where(_messages.c.run_id == bindparam("run"), _messages.c.status == "in_progress")
    .returning(*_messages.c)
)


class MessageTokens(NamedTuple):
    """A message as a run first reads it: enough to know whether it fits."""

    id: str
    status: MessageStatus
    tokens: int | None  # None: not counted yet (an older row, or one still being written)


def message_page(
    connection: Connection, thread_id: str, within: KeyRange, limit: int
) -> list[MessageTokens]:
    """The thread's newest ``limit`` messages inside ``within``, newest first."""
    low, high = key_range_params("msg_", within)
    params = {"thread": thread_id, "low": low, "high": high, "limit": limit}
    return [MessageTokens(*row) for row in connection.execute(_MESSAGE_PAGE, params).all()]


def store_message_tokens(connection: Connection, counted: dict[str, int]) -> None:
    """Store the token counts of messages that had none."""
    if counted:
        params = [{"message": id_, "counted": tokens} for id_, tokens in counted.items()]
        connection.execute(_STORE_TOKENS, params)


def conversation_messages_by_id(
    connection: Connection, ids: list[str]
) -> list[PromptMessageRecord]:
    """These messages (``id``, ``role``, ``status``, ``content`` and ``tokens`` only), oldest
    first."""
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
    "MessageTokens",
    "close_open_messages",
    "conversation_messages_by_id",
    "message_page",
    "store_message_tokens",
    "thread_attachments",
    "update_message",
]
