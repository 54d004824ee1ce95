"""A conversation's items: thread messages and rows of ``items``, listed as one sequence.

A conversation is a thread. Its user and assistant messages stay in ``messages``; its other
items (calls, outputs, reasoning, system and developer messages) are rows of ``items``. Ids sort
by creation time and ``ids.creation_key`` compares ids of different prefixes, so a page is the
merge of two indexed range scans — ``messages`` by ``id`` (``msg_`` + the key), ``items`` by
``position`` (the key) — each limited to the page plus one row: ``has_more`` is exact, and a
cursor is a key, so it survives the deletion of its item."""

import heapq
from dataclasses import replace
from functools import cached_property
from typing import Any, TypeAlias, cast

from sqlalchemy import Connection, Table, bindparam, delete, select, update

from threadline.ids import creation_key
from threadline.records.items import ItemRow
from threadline.records.threads import MessageRecord
from threadline.storage.item_tables import ItemTableRow
from threadline.storage.pagination import Page, PageRequest, finish_page, paginate
from threadline.storage.repositories import ScopedRepository, records
from threadline.storage.tables import MessageRow, ThreadRow

# One entry of a conversation: a thread message, or an item row (it has a ``body``).
Entry: TypeAlias = MessageRecord | ItemRow

_MESSAGE_PREFIX = "msg_"


class ItemRepository(ScopedRepository[ItemRow]):
    table = ItemTableRow.__table__  # type: ignore[assignment]

    @cached_property
    def _in_thread(self) -> Any:
        return self._by_id & (self.table.c.thread_id == bindparam("thread_id"))

    @cached_property
    def _get_in_thread(self) -> Any:
        return select(self.table).where(self._in_thread)

    @cached_property
    def _delete_in_thread(self) -> Any:
        return delete(self.table).where(self._in_thread)

    def get_in_thread(
        self, connection: Connection, project_id: str, thread_id: str, item_id: str
    ) -> ItemRow | None:
        params = {"object_id": item_id, "project_id": project_id, "thread_id": thread_id}
        found = records(connection.execute(self._get_in_thread, params))
        return cast(ItemRow, found[0]) if found else None

    def delete_in_thread(
        self, connection: Connection, project_id: str, thread_id: str, item_id: str
    ) -> bool:
        params = {"object_id": item_id, "project_id": project_id, "thread_id": thread_id}
        return connection.execute(self._delete_in_thread, params).rowcount > 0

    def delete_thread_items(self, connection: Connection, project_id: str, thread_id: str) -> None:
        columns = self.table.c
        connection.execute(
            delete(self.table).where(
                columns.thread_id == thread_id, columns.project_id == project_id
            )
        )


_threads: Table = ThreadRow.__table__  # type: ignore[assignment]
_messages: Table = MessageRow.__table__  # type: ignore[assignment]
_items: Table = ItemTableRow.__table__  # type: ignore[assignment]
# Takes the thread's row lock if it exists in the project and no run holds it: a run created
# meanwhile waits for this unit (its conditional UPDATE of ``active_run_id`` blocks on the lock
# on PostgreSQL; SQLite has one writer), so what this unit adds is context of that run, never
# something it runs without.
_hold_idle_thread = (
    update(_threads)
    .where(
        _threads.c.id == bindparam("held_thread"),
        _threads.c.project_id == bindparam("held_project"),
        _threads.c.active_run_id.is_(None),
    )
    .values(active_run_id=None)
)


def hold_idle_thread(connection: Connection, project_id: str, thread_id: str) -> bool:
    """True if the thread exists in the project and is idle (and now locked for this unit)."""
    params = {"held_thread": thread_id, "held_project": project_id}
    return connection.execute(_hold_idle_thread, params).rowcount > 0


def list_entries(
    connection: Connection, project_id: str, thread_id: str, page: PageRequest
) -> Page[Entry]:
    """One page of the thread's messages and items, in creation order (``page.order``), after
    or before a cursor that may name either kind (or an item since deleted)."""
    after = creation_key(page.after) if page.after is not None else None
    before = creation_key(page.before) if page.before is not None else None
    message_page = replace(
        page,
        after=None if after is None else _MESSAGE_PREFIX + after,
        before=None if before is None else _MESSAGE_PREFIX + before,
    )
    found_messages = _scan(connection, _messages, "id", project_id, thread_id, message_page)
    item_page = replace(page, after=after, before=before)
    found_items = _scan(connection, _items, "position", project_id, thread_id, item_page)
    # Both lists are sorted the way their queries ran (reversed for ``before`` alone, which
    # ``finish_page`` turns back).
    backward = page.before is not None and page.after is None
    descending = (page.order == "desc") != backward
    merged = heapq.merge(found_messages, found_items, key=_sort_key, reverse=descending)
    rows = [row for _, row in zip(range(page.limit + 1), merged, strict=False)]
    return finish_page(rows, page)


def _scan(
    connection: Connection,
    table: Table,
    key_column: str,
    project_id: str,
    thread_id: str,
    page: PageRequest,
) -> list[Entry]:
    query = select(table).where(table.c.thread_id == thread_id, table.c.project_id == project_id)
    statement = paginate(query, table.c[key_column], page)
    return cast(list[Entry], records(connection.execute(statement)))


def _sort_key(entry: Entry) -> str:
    if "body" in entry:
        return entry["position"]
    return creation_key(entry["id"])
