"""Vector-store files, with the counters that summarise them (in their store and their batch;
the batches' own rows are in ``store_file_batches``).

Every change to a store file goes through ``add_many``, ``change`` or ``remove``, which adjust the
store's ``files_*``/``usage_bytes`` counters and its batches' counters in the same transaction.
A change is conditional on the row still being what the caller read (same ``token``, same
``status``), so two concurrent changes of one file (a batch cancel and the ingestion finishing,
say) can never both count: the counters equal what the rows say, on any backend, under any
concurrency."""

import functools
from collections import defaultdict
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    and_,
    bindparam,
    case,
    delete,
    insert,
    select,
    update,
)

from threadline.records.files import (
    Attributes,
    NamedStoreFile,
    StoreFileChanges,
    StoreFileStatus,
    VectorStoreFileRecord,
)
from threadline.storage.file_tables import FileBatchRow, FileRow, VectorStoreFileRow, VectorStoreRow
from threadline.storage.pagination import Page, PageRequest, finish_page, paginate
from threadline.storage.repositories import Columns, rows_of

Row = VectorStoreFileRecord

_store_files: Table = VectorStoreFileRow.__table__  # type: ignore[assignment]
_stores: Table = VectorStoreRow.__table__  # type: ignore[assignment]
_batches: Table = FileBatchRow.__table__  # type: ignore[assignment]
_files: Table = FileRow.__table__  # type: ignore[assignment]

STATUSES = ("in_progress", "completed", "failed", "cancelled")
_COUNTER = {status: f"files_{status}" for status in STATUSES}
_FILE_COUNTERS = (*_COUNTER.values(), "files_total")

# The statements on the path of every file added and indexed are built once, with bound
# parameters: building a SQLAlchemy statement costs more than the database takes to run it.


def _plus(table: Table, names: tuple[str, ...]) -> dict[str, ColumnElement[Any]]:
    return {
        name: table.c[name] + bindparam(f"d_{name}", type_=table.c[name].type) for name in names
    }


_COUNT_STORE = (
    update(_stores)
    .where(_stores.c.id == bindparam("key"))
    .values(_plus(_stores, (*_FILE_COUNTERS, "usage_bytes")))
)
# A batch completes when its last file stops being in progress (a cancelled batch was marked so
# before its files were, and stays cancelled).
_COUNT_BATCH = (
    update(_batches)
    .where(_batches.c.id == bindparam("key"))
    .values(
        **_plus(_batches, _FILE_COUNTERS),
        status=case(
            (
                and_(
                    _batches.c.status == "in_progress",
                    _batches.c.files_in_progress + bindparam("d_files_in_progress") <= 0,
                ),
                "completed",
            ),
            else_=_batches.c.status,
        ),
    )
)
_LOCK_STORE = select(_stores.c.id).where(_stores.c.id == bindparam("key")).with_for_update()
# Parameter names differ from the column names: an UPDATE reserves those for SET.
_SAME_ROW = and_(
    _store_files.c.vector_store_id == bindparam("w_store"),
    _store_files.c.file_id == bindparam("w_file"),
    _store_files.c.token == bindparam("w_token"),
    _store_files.c.status == bindparam("w_status"),
)
_REMOVE = delete(_store_files).where(_SAME_ROW)
_INSERT = insert(_store_files)
_GET = select(_store_files).where(
    _store_files.c.vector_store_id == bindparam("w_store"),
    _store_files.c.file_id == bindparam("w_file"),
)


@functools.cache
def _change_statement(names: tuple[str, ...]) -> Any:
    columns = _store_files.c
    values = {name: bindparam(f"v_{name}", type_=columns[name].type) for name in names}
    return update(_store_files).where(_SAME_ROW).values(values)


def _same_row(row: Row) -> dict[str, str]:
    return {
        "w_store": row["vector_store_id"],
        "w_file": row["file_id"],
        "w_token": row["token"],
        "w_status": row["status"],
    }


def _deltas(before: Row | None, after: Row | None, batch_id: str | None) -> dict[str, int]:
    """How the counters change when a row goes from ``before`` to ``after`` (None: absent):
    the store's counters when ``batch_id`` is None, else that batch's."""
    deltas: dict[str, int] = defaultdict(int)
    for row, sign in ((before, -1), (after, 1)):
        if row is None or (batch_id is not None and row["batch_id"] != batch_id):
            continue
        deltas[_COUNTER[row["status"]]] += sign
        deltas["files_total"] += sign
        if batch_id is None:
            deltas["usage_bytes"] += sign * row["usage_bytes"]
    return {name: delta for name, delta in deltas.items() if delta}


def _count(connection: Connection, *changes: tuple[Row | None, Row | None]) -> None:
    """Apply the counter changes of rows going from ``before`` to ``after``: one statement per
    store and per batch, however many rows changed."""
    stores: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    batches: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for before, after in changes:
        row = before or after
        assert row is not None
        for name, delta in _deltas(before, after, None).items():
            stores[row["vector_store_id"]][name] += delta
        for batch_id in {r["batch_id"] for r in (before, after) if r is not None and r["batch_id"]}:
            for name, delta in _deltas(before, after, batch_id).items():
                batches[batch_id][name] += delta
    for store_id, deltas in stores.items():
        params = {f"d_{name}": deltas.get(name, 0) for name in (*_FILE_COUNTERS, "usage_bytes")}
        connection.execute(_COUNT_STORE, {"key": store_id, **params})
    for batch_id, deltas in batches.items():
        params = {f"d_{name}": deltas.get(name, 0) for name in _FILE_COUNTERS}
        connection.execute(_COUNT_BATCH, {"key": batch_id, **params})


def lock_store(connection: Connection, store_id: str) -> None:
    """Take the store's row lock first in every transaction that changes its files (PostgreSQL;
    SQLite write transactions are serialized already): the counters of one store are then
    changed one transaction at a time, and transactions never wait on each other in a cycle."""
    if connection.dialect.name == "postgresql":
        connection.execute(_LOCK_STORE, {"key": store_id})


def add_many(connection: Connection, rows: list[Row]) -> None:
    """Insert store files the store does not have yet (the caller holds the store's lock)."""
    if rows:
        connection.execute(_INSERT, cast(list[Columns], rows))
        _count(connection, *((None, row) for row in rows))


def change(connection: Connection, before: Row, changes: StoreFileChanges) -> Row | None:
    """Apply ``changes`` if the row is still ``before``; the row after, or None."""
    statement = _change_statement(tuple(sorted(changes)))
    params = {**_same_row(before), **{f"v_{name}": value for name, value in changes.items()}}
    if connection.execute(statement, params).rowcount == 0:
        return None
    after: Row = {**before, **changes}
    _count(connection, (before, after))
    return after


def change_many(
    connection: Connection, befores: list[Row], values: list[StoreFileChanges]
) -> list[Row]:
    """``change`` for many rows in one statement, each row getting the values at its place
    (all with the same keys). Only under the store's lock, which keeps every row as read."""
    if not befores:
        return []
    statement = _change_statement(tuple(sorted(values[0])))
    params = [
        {**_same_row(before), **{f"v_{name}": value for name, value in changes.items()}}
        for before, changes in zip(befores, values, strict=True)
    ]
    connection.execute(statement, params)
    afters: list[Row] = [
        {**before, **changes} for before, changes in zip(befores, values, strict=True)
    ]
    _count(connection, *zip(befores, afters, strict=True))
    return afters


def remove(connection: Connection, before: Row) -> bool:
    if connection.execute(_REMOVE, _same_row(before)).rowcount == 0:
        return False
    _count(connection, (before, None))
    return True


def get(connection: Connection, store_id: str, file_id: str) -> Row | None:
    found = rows_of(connection.execute(_GET, {"w_store": store_id, "w_file": file_id}), Row)
    return found[0] if found else None


def of_file(connection: Connection, project_id: str, file_id: str) -> list[Row]:
    query = select(_store_files).where(
        _store_files.c.file_id == file_id, _store_files.c.project_id == project_id
    )
    return rows_of(connection.execute(query), Row)


def of_batch(
    connection: Connection, batch_id: str, status: StoreFileStatus | None = None
) -> list[Row]:
    query = select(_store_files).where(_store_files.c.batch_id == batch_id)
    if status is not None:
        query = query.where(_store_files.c.status == status)
    return rows_of(connection.execute(query), Row)


def in_store(connection: Connection, store_id: str, file_ids: list[str]) -> dict[str, Row]:
    """The store's rows for ``file_ids``, by file id."""
    if not file_ids:
        return {}
    query = select(_store_files).where(
        _store_files.c.vector_store_id == store_id, _store_files.c.file_id.in_(set(file_ids))
    )
    return {row["file_id"]: row for row in rows_of(connection.execute(query), Row)}


def page(
    connection: Connection,
    store_id: str,
    request: PageRequest,
    status: StoreFileStatus | None,
    batch_id: str | None = None,
) -> Page[Row]:
    query = select(_store_files).where(_store_files.c.vector_store_id == store_id)
    if status is not None:
        query = query.where(_store_files.c.status == status)
    if batch_id is not None:
        query = query.where(_store_files.c.batch_id == batch_id)
    result = connection.execute(paginate(query, _store_files.c.file_id, request))
    return finish_page(rows_of(result, Row), request)


def completed_with_names(
    connection: Connection, store_ids: list[str], file_ids: set[str]
) -> dict[str, NamedStoreFile]:
    """For search results: the completed files among ``file_ids`` in ``store_ids``, with their
    file names and the store file's attributes."""
    if not store_ids or not file_ids:
        return {}
    query = (
        select(_store_files.c.file_id, _store_files.c.attributes, _files.c.filename)
        .join(_files, _files.c.id == _store_files.c.file_id)
        .where(
            _store_files.c.vector_store_id.in_(store_ids),
            _store_files.c.file_id.in_(file_ids),
            _store_files.c.status == "completed",
        )
    )
    return {row["file_id"]: row for row in rows_of(connection.execute(query), NamedStoreFile)}


def delete_store_contents(connection: Connection, store_id: str) -> None:
    """The store's files and batches (before the store itself; no counts to keep)."""
    connection.execute(delete(_store_files).where(_store_files.c.vector_store_id == store_id))
    connection.execute(delete(_batches).where(_batches.c.vector_store_id == store_id))


def set_attributes(
    connection: Connection, store_id: str, file_id: str, attributes: Attributes | None
) -> None:
    connection.execute(
        update(_store_files)
        .where(_store_files.c.vector_store_id == store_id, _store_files.c.file_id == file_id)
        .values(attributes=attributes)
    )
