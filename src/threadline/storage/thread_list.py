"""A project's threads, newest first, for the console (the OpenAI API lists none).

Threads (``thread_…``) and conversations (``conv_…``) share the ``threads`` table, and their
ids sort by creation time within each prefix only. So a page is the merge of one indexed range
scan per prefix, by creation key (``pagination.key_bounds``), each limited to the page plus one
row: ``has_more`` is exact, and a cursor is any listed id (even one since deleted). A response
chain's hidden ``chain`` thread is never listed.

A search matches an id by prefix (the whole id included) or any metadata key or value by
substring, ignoring case."""

import heapq
from itertools import islice
from typing import Any, TypedDict, cast

from sqlalchemy import ColumnElement, Connection, Table, case, exists, func, or_, select

from threadline.ids import creation_key
from threadline.records.runs import RunStatus
from threadline.records.threads import ThreadKind, ThreadRecord
from threadline.storage.pagination import (
    KeyBounds,
    Page,
    PageRequest,
    finish_page,
    key_bounds,
    key_conditions,
)
from threadline.storage.repositories import records
from threadline.storage.tables import RunRow, ThreadRow

_threads: Table = ThreadRow.__table__  # type: ignore[assignment]
_runs: Table = RunRow.__table__  # type: ignore[assignment]

# The id prefixes of listed threads: ``ids.thread_id()`` and a conversation's ``conv_``.
LISTED_PREFIXES = ("thread_", "conv_")
LISTED_KINDS: tuple[ThreadKind, ...] = ("thread", "conversation")
_LIKE_ESCAPE = "\\"


class LatestRun(TypedDict):
    """A summary of the newest run on a thread."""

    thread_id: str
    id: str
    status: RunStatus
    model: str
    created_at: int


def list_threads(
    connection: Connection, project_id: str, page: PageRequest, search: str | None = None
) -> Page[ThreadRecord]:
    """One page of the project's threads and conversations, in creation order (``page.order``),
    those matching ``search`` only when one is given."""
    bounds = key_bounds(page)
    limit = page.limit + 1
    matching = _search_condition(connection.dialect.name, search) if search else None
    scans = [
        _scan(connection, prefix, project_id, bounds, limit, matching) for prefix in LISTED_PREFIXES
    ]
    merged = heapq.merge(*scans, key=_sort_key, reverse=not bounds.ascending)
    return finish_page(list(islice(merged, limit)), page)


def latest_runs(
    connection: Connection, project_id: str, thread_ids: list[str]
) -> dict[str, LatestRun]:
    """The newest run of each of the threads that has one, by thread id (run ids sort by
    creation: the newest is the greatest, found through the ``(thread_id, id)`` index)."""
    if not thread_ids:
        return {}
    newest = (
        select(func.max(_runs.c.id))
        .where(_runs.c.project_id == project_id, _runs.c.thread_id.in_(thread_ids))
        .group_by(_runs.c.thread_id)
    )
    columns = _runs.c
    statement = select(
        columns.thread_id, columns.id, columns.status, columns.model, columns.created_at
    ).where(columns.id.in_(newest))
    rows = cast(list[LatestRun], records(connection.execute(statement)))
    return {row["thread_id"]: row for row in rows}


def _scan(
    connection: Connection,
    prefix: str,
    project_id: str,
    bounds: KeyBounds,
    limit: int,
    matching: ColumnElement[bool] | None,
) -> list[ThreadRecord]:
    ids = _threads.c.id
    conditions = [
        _threads.c.project_id == project_id,
        # The prefix's whole range: ids of the other prefix never enter this scan.
        ids >= prefix,
        ids < _past_prefix(prefix),
        *key_conditions(ids, prefix, bounds),
        _threads.c.kind.in_(LISTED_KINDS),
    ]
    if matching is not None:
        conditions.append(matching)
    order = ids.asc() if bounds.ascending else ids.desc()
    statement = select(_threads).where(*conditions).order_by(order).limit(limit)
    return cast(list[ThreadRecord], records(connection.execute(statement)))


def _past_prefix(prefix: str) -> str:
    """The least string greater than every string starting with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _search_condition(dialect: str, search: str) -> ColumnElement[bool]:
    """A thread matches by id prefix or by a metadata key or value containing ``search``."""
    escaped = _escape_like(search)
    by_id = _threads.c.id.like(escaped.lower() + "%", escape=_LIKE_ESCAPE)
    return or_(by_id, _metadata_contains(dialect, f"%{escaped}%"))


def _metadata_contains(dialect: str, pattern: str) -> ColumnElement[bool]:
    """Some key or value of the thread's metadata object is ``LIKE pattern``, ignoring case."""
    metadata: Any = _threads.c.metadata
    if dialect == "postgresql":
        # jsonb_each_text refuses anything but an object; NULL makes an empty set.
        only_objects = case((func.jsonb_typeof(metadata) == "object", metadata))
        pairs = func.jsonb_each_text(only_objects).table_valued("key", "value").alias("pair")
    else:
        pairs = func.json_each(metadata).table_valued("key", "value").alias("pair")
    return (
        exists()
        .select_from(pairs)
        .where(
            or_(
                pairs.c.key.ilike(pattern, escape=_LIKE_ESCAPE),
                pairs.c.value.ilike(pattern, escape=_LIKE_ESCAPE),
            )
        )
    )


def _escape_like(text: str) -> str:
    for special in (_LIKE_ESCAPE, "%", "_"):
        text = text.replace(special, _LIKE_ESCAPE + special)
    return text


def _sort_key(row: ThreadRecord) -> str:
    return creation_key(row["id"])
