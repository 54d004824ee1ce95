"""A conversation's items: thread messages and rows of ``items``, listed as one sequence.

A conversation is a thread. Its user and assistant messages stay in ``messages``; its other
items (calls, outputs, reasoning, system and developer messages) are rows of ``items``. Ids sort
by creation time and ``ids.creation_key`` compares ids of different prefixes, so a page is the
merge of two indexed range scans — ``messages`` by ``id`` (``msg_`` + the key), ``items`` by
``position`` (the key) — each limited to the page plus one row: ``has_more`` is exact, and a
cursor is a key, so it survives the deletion of its item."""

import heapq
from collections.abc import Callable
from typing import Any, TypeAlias, cast

from sqlalchemy import Connection, Table, bindparam, select, update

from threadline.ids import creation_key
from threadline.records.items import ContextItemRow, ItemRow
from threadline.records.runs import StepRecord
from threadline.records.threads import MessageRecord
from threadline.storage.item_tables import ItemTableRow
from threadline.storage.pagination import (
    EVERY_KEY,
    KeyBounds,
    KeyRange,
    Page,
    PageRequest,
    finish_page,
    key_bounds,
    key_conditions,
    key_range_params,
)
from threadline.storage.repositories import InThreadRepository, records
from threadline.storage.tables import MessageRow, RunRow, RunStepRow, ThreadRow

# One entry of a conversation: a thread message, or an item row (it has a ``body``).
Entry: TypeAlias = MessageRecord | ItemRow

_MESSAGE_PREFIX = "msg_"
_STEP_PREFIX = "step_"


class ItemRepository(InThreadRepository[ItemRow]):
    table = ItemTableRow.__table__  # type: ignore[assignment]


_threads: Table = ThreadRow.__table__  # type: ignore[assignment]
_messages: Table = MessageRow.__table__  # type: ignore[assignment]
_items: Table = ItemTableRow.__table__  # type: ignore[assignment]
_steps: Table = RunStepRow.__table__  # type: ignore[assignment]
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


_runs: Table = RunRow.__table__  # type: ignore[assignment]

# The items a model is sent: system and developer messages, function calls a client sent with
# their outputs (an output answering a run's call has its ``step_id``: the step holds it), and
# reasoning, with the model of the run that produced it (none for reasoning a client sent): a
# key range of them, newest first.
_CONTEXT_ITEMS_PAGE = (
    select(_items, _runs.c.model)
    .select_from(_items.outerjoin(_runs, _runs.c.id == _items.c.run_id))
    .where(
        _items.c.thread_id == bindparam("thread"),
        _items.c.position >= bindparam("low"),
        _items.c.position < bindparam("high"),
        _items.c.step_id.is_(None),
        _items.c.type.in_(["message", "function_call", "function_call_output", "reasoning"]),
    )
    .order_by(_items.c.position.desc())
    .limit(bindparam("limit"))
)
# A run's items are made after it: its id's key bounds the scan of the thread's items.
_REASONING_OF_RUN = (
    select(_items)
    .where(
        _items.c.thread_id == bindparam("thread"),  # the index's way in
        _items.c.position >= bindparam("from"),
        _items.c.run_id == bindparam("run"),
        _items.c.type == "reasoning",
    )
    .order_by(_items.c.position)
)


def context_items_page(
    connection: Connection, thread_id: str, within: KeyRange, limit: int
) -> list[ContextItemRow]:
    """The thread's newest ``limit`` context items inside ``within``, newest first."""
    low, high = key_range_params("", within)
    params = {"thread": thread_id, "low": low, "high": high, "limit": limit}
    rows = records(connection.execute(_CONTEXT_ITEMS_PAGE, params))
    return cast(list[ContextItemRow], rows)


def reasoning_of_run(connection: Connection, thread_id: str, run_id: str) -> list[ItemRow]:
    """The reasoning items a response's run stored (its output, with its messages and steps)."""
    params = {"thread": thread_id, "run": run_id, "from": creation_key(run_id)}
    return cast(list[ItemRow], records(connection.execute(_REASONING_OF_RUN, params)))


def hold_idle_thread(connection: Connection, project_id: str, thread_id: str) -> bool:
    """True if the thread exists in the project and is idle (and now locked for this unit)."""
    params = {"held_thread": thread_id, "held_project": project_id}
    return connection.execute(_hold_idle_thread, params).rowcount > 0


# Turns a tool_calls step into the items it shows as (its calls), each with its ``position``.
StepItems: TypeAlias = Callable[[StepRecord], list[ItemRow]]


def list_entries(
    connection: Connection,
    project_id: str,
    thread_id: str,
    page: PageRequest,
    within: KeyRange = EVERY_KEY,
    step_items: StepItems | None = None,
) -> Page[Entry]:
    """One page of the thread's messages and items (and, with ``step_items``, the calls of
    its tool steps; the caller has checked the thread is the project's), in creation order
    (``page.order``), after or before a cursor that may name any kind (or an item since
    deleted), inside ``within``."""
    bounds = key_bounds(page, within)
    limit = page.limit + 1
    sources = [
        _scan(connection, _messages.c.id, _MESSAGE_PREFIX, project_id, thread_id, bounds, limit),
        _scan(connection, _items.c.position, "", project_id, thread_id, bounds, limit),
    ]
    if step_items is not None:
        sources.append(_step_entries(connection, thread_id, bounds, limit, step_items))
    merged = heapq.merge(*sources, key=_sort_key, reverse=not bounds.ascending)
    rows = [row for _, row in zip(range(limit), merged, strict=False)]
    return finish_page(rows, page)


def _scan(
    connection: Connection,
    column: Any,
    prefix: str,
    project_id: str,
    thread_id: str,
    bounds: KeyBounds,
    limit: int,
) -> list[Entry]:
    table = column.table
    order = column.asc() if bounds.ascending else column.desc()
    statement = (
        select(table)
        .where(
            table.c.thread_id == thread_id,
            table.c.project_id == project_id,
            *key_conditions(column, prefix, bounds),
        )
        .order_by(order)
        .limit(limit)
    )
    return cast(list[Entry], records(connection.execute(statement)))


def _step_entries(
    connection: Connection, thread_id: str, bounds: KeyBounds, limit: int, step_items: StepItems
) -> list[Entry]:
    """The calls of the thread's tool steps inside ``bounds``, sorted as the scan runs. A
    step's calls are made after it and before anything that follows it, so the calls past a
    lower bound are those of the steps past it and of the last step before it."""
    column = _steps.c.id
    tool_steps = (_steps.c.thread_id == thread_id) & (_steps.c.type == "tool_calls")
    order = column.asc() if bounds.ascending else column.desc()
    statement = (
        select(_steps)
        .where(tool_steps, *key_conditions(column, _STEP_PREFIX, bounds))
        .order_by(order)
        .limit(limit)
    )
    steps = cast(list[StepRecord], records(connection.execute(statement)))
    if bounds.low is not None:
        straddling = select(_steps).where(tool_steps, column <= _STEP_PREFIX + bounds.low)
        steps += cast(
            list[StepRecord],
            records(connection.execute(straddling.order_by(column.desc()).limit(1))),
        )
    rows = [row for step in steps for row in step_items(step) if bounds.keeps(row["position"])]
    rows.sort(key=lambda row: row["position"], reverse=not bounds.ascending)
    return cast(list[Entry], rows)


def read_snapshot(connection: Connection) -> None:
    """Make the unit's reads one snapshot (PostgreSQL reads each statement's own otherwise;
    SQLite's read transaction already is one). Must come before the unit's first statement."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")


def _sort_key(entry: Entry) -> str:
    if "body" in entry:
        return entry["position"]
    return creation_key(entry["id"])
