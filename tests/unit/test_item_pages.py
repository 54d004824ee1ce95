"""A conversation's items are its thread's messages and its ``items`` rows, listed as one
sequence in creation order: merged pages, both orders, cursors of either kind, a cursor whose
item was deleted, an exact ``has_more``; on a temporary SQLite."""

import asyncio
from collections.abc import Iterator
from typing import Literal

import pytest

from tests.unit.run_harness import sqlite_url
from threadline import ids
from threadline.records.items import ItemRow
from threadline.records.threads import MessageRecord, ThreadRecord
from threadline.storage.database import Connection, Database
from threadline.storage.items import Entry, ItemRepository, hold_idle_thread, list_entries
from threadline.storage.pagination import PageRequest
from threadline.storage.repositories import MessageRepository, ThreadRepository

PROJECT = "proj_unit"
_threads, _messages, _items = ThreadRepository(), MessageRepository(), ItemRepository()


def thread(thread_id: str, project_id: str = PROJECT) -> ThreadRecord:
    return {
        "id": thread_id,
        "project_id": project_id,
        "created_at": 1,
        "tool_resources": None,
        "metadata": {},
    }


def message(thread_id: str, project_id: str = PROJECT) -> MessageRecord:
    return {
        "id": ids.message_id(),
        "project_id": project_id,
        "thread_id": thread_id,
        "created_at": 1,
        "status": "completed",
        "incomplete_details": None,
        "completed_at": 1,
        "incomplete_at": None,
        "role": "user",
        "content": [{"type": "text", "text": {"value": "hi", "annotations": []}}],
        "assistant_id": None,
        "run_id": None,
        "attachments": [],
        "metadata": {},
    }


def item(thread_id: str, project_id: str = PROJECT) -> ItemRow:
    item_id = ids.new_id("fc_")
    return {
        "id": item_id,
        "project_id": project_id,
        "thread_id": thread_id,
        "position": ids.creation_key(item_id),
        "response_id": None,
        "run_id": None,
        "step_id": None,
        "type": "function_call",
        "call_id": "call_1",
        "status": "completed",
        "body": {
            "id": item_id,
            "type": "function_call",
            "call_id": "call_1",
            "name": "f",
            "arguments": "{}",
            "status": "completed",
        },
        "created_at": 1,
    }


@pytest.fixture
def db() -> Iterator[Database]:
    with sqlite_url() as url:
        database = Database(url)
        yield database
        asyncio.run(database.dispose())


def store(
    db: Database, kinds: str, thread_id: str = "thread_a", project: str = PROJECT
) -> list[str]:
    """The thread with an entry per letter of ``kinds`` (m: message, i: item), in that order;
    their ids, oldest first."""

    def work(connection: Connection) -> list[str]:
        if not _threads.exists(connection, project, thread_id):
            _threads.insert(connection, thread(thread_id, project))
        made: list[str] = []
        for kind in kinds:
            if kind == "m":
                record = message(thread_id, project)
                _messages.insert(connection, record)
                made.append(record["id"])
            else:
                row = item(thread_id, project)
                _items.insert(connection, row)
                made.append(row["id"])
        return made

    return asyncio.run(db.write(work))


def page(
    db: Database,
    limit: int = 20,
    order: Literal["asc", "desc"] = "desc",
    after: str | None = None,
    before: str | None = None,
    thread_id: str = "thread_a",
) -> tuple[list[str], bool]:
    request = PageRequest(limit=limit, order=order, after=after, before=before)
    found = asyncio.run(db.read(list_entries, PROJECT, thread_id, request))
    return [entry["id"] for entry in found.items], found.has_more


def test_messages_and_items_merge_in_creation_order_both_ways(db: Database):
    made = store(db, "mimiimmi")
    assert page(db, order="asc") == (made, False)
    assert page(db) == (made[::-1], False)
    request = PageRequest(order="asc")
    found = asyncio.run(db.read(list_entries, PROJECT, "thread_a", request))
    assert entry_kinds(found.items) == "mimiimmi"


def test_pages_follow_cursors_of_either_kind_with_an_exact_has_more(db: Database):
    made = store(db, "mmiimimiim")
    for order, expected in (("asc", made), ("desc", made[::-1])):
        seen: list[str] = []
        cursor = None
        while True:
            ids_, has_more = page(db, limit=3, order=order, after=cursor)
            seen += ids_
            if not has_more:
                break
            cursor = ids_[-1]
        assert seen == expected
    # A page that ends exactly at the last entry says there is no more.
    assert page(db, limit=10, order="asc") == (made, False)
    assert page(db, limit=9, order="asc") == (made[:9], True)


def test_before_walks_back_and_keeps_the_order(db: Database):
    made = store(db, "imimmi")
    assert page(db, limit=2, order="asc", before=made[4]) == (made[2:4], True)
    assert page(db, limit=2, before=made[1]) == ([made[3], made[2]], True)
    assert page(db, limit=10, order="asc", before=made[2]) == (made[:2], False)


def test_a_cursor_survives_the_deletion_of_its_item(db: Database):
    made = store(db, "mimim")

    def delete_both(connection: Connection) -> None:
        assert _items.delete_in_thread(connection, PROJECT, "thread_a", made[1])
        assert _messages.delete_in_thread(connection, PROJECT, "thread_a", made[2])

    asyncio.run(db.write(delete_both))
    assert page(db, order="asc", after=made[1]) == ([made[3], made[4]], False)
    assert page(db, after=made[2]) == ([made[0]], False)


def test_other_threads_and_projects_are_not_listed(db: Database):
    made = store(db, "mi")
    store(db, "mi", thread_id="thread_b")
    store(db, "mi", thread_id="thread_c", project="proj_other")
    assert page(db, order="asc") == (made, False)
    assert page(db, thread_id="thread_c") == ([], False)


def test_a_thread_is_held_only_when_it_is_idle_and_of_the_project(db: Database):
    store(db, "")

    def hold(connection: Connection, project: str) -> bool:
        return hold_idle_thread(connection, project, "thread_a")

    assert asyncio.run(db.write(hold, PROJECT))
    assert not asyncio.run(db.write(hold, "proj_other"))
    asyncio.run(
        db.write(lambda c: _threads.update(c, PROJECT, "thread_a", {"active_run_id": "run_x"}))
    )
    assert not asyncio.run(db.write(hold, PROJECT))


def entry_kinds(entries: list[Entry]) -> str:
    return "".join("i" if "body" in entry else "m" for entry in entries)
