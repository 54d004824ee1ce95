"""Data access for the API objects, as functions over a connection that services combine into
units of work (see ``database.py``). Every query is scoped by ``project_id``: an object of another
project is indistinguishable from a missing one.

The statements that run on every request are built once, with bound parameters: building a
SQLAlchemy statement costs more than SQLite takes to run it."""

from collections.abc import Mapping
from functools import cached_property
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import (
    Connection,
    Result,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)

from threadline.records.threads import AssistantRecord, MessageRecord, ThreadRecord
from threadline.storage.pagination import Page, PageRequest, finish_page, paginate
from threadline.storage.tables import AssistantRow, MessageRow, ThreadRow

# A row keyed by column name, as read: its reader casts it to its table's row type (a
# ``TypedDict`` of ``threadline.records``; ``rows_of``), the one place its shape is known.
Record = dict[str, object]
# A table's row type (a ``TypedDict`` of ``threadline.records``).
RowT = TypeVar("RowT")
# Values of columns to write, by column name: a record, or a ``*Changes`` TypedDict.
Columns = Mapping[str, object]


def records(result: Result[Any]) -> list[Record]:
    """Rows as dicts keyed by column name (``zip`` with the keys once: ``dict(row_mapping)``
    per row costs more than fetching it). ``all()``: one fetchall, where iterating the result
    fetches row by row, at twice the cost."""
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result.all()]


def rows_of(result: Result[Any], _kind: type[RowT]) -> list[RowT]:
    """``records``, as the rows of the type the query selects (it is not checked: the rows
    are built as cheaply as ``records`` builds them)."""
    return cast(list[RowT], records(result))


def _first(connection: Connection, statement: Any, params: Columns) -> Record | None:
    found = records(connection.execute(statement, params))
    return found[0] if found else None


class ScopedRepository(Generic[RowT]):
    """CRUD over one table whose rows (of type ``RowT``) belong to a project."""

    table: Table

    @cached_property
    def _by_id(self) -> Any:
        columns = self.table.c
        return (columns.id == bindparam("object_id")) & (
            columns.project_id == bindparam("project_id")
        )

    @cached_property
    def _get(self) -> Any:
        return select(self.table).where(self._by_id)

    @cached_property
    def _exists(self) -> Any:
        return select(self.table.c.id).where(self._by_id)

    @cached_property
    def _delete(self) -> Any:
        return delete(self.table).where(self._by_id)

    @cached_property
    def _insert(self) -> Any:
        return insert(self.table)

    def insert(self, connection: Connection, record: RowT) -> None:
        connection.execute(self._insert, cast(Columns, record))

    def insert_many(self, connection: Connection, records: list[RowT]) -> None:
        if records:
            connection.execute(self._insert, cast(list[Columns], records))

    def get(self, connection: Connection, project_id: str, object_id: str) -> RowT | None:
        params = {"object_id": object_id, "project_id": project_id}
        return cast("RowT | None", _first(connection, self._get, params))

    def exists(self, connection: Connection, project_id: str, object_id: str) -> bool:
        params = {"object_id": object_id, "project_id": project_id}
        return connection.execute(self._exists, params).first() is not None

    @cached_property
    def _update(self) -> Any:
        # No .values(): the SET clause is the parameters' column keys, so one statement serves
        # every set of changes. The scope's parameter names must not be column names.
        columns = self.table.c
        return update(self.table).where(
            columns.id == bindparam("scope_id"), columns.project_id == bindparam("scope_project")
        )

    def update(
        self, connection: Connection, project_id: str, object_id: str, values: Columns
    ) -> bool:
        params = {**values, "scope_id": object_id, "scope_project": project_id}
        return connection.execute(self._update, params).rowcount > 0

    def modify(
        self, connection: Connection, project_id: str, object_id: str, changes: Columns
    ) -> RowT | None:
        """Apply ``changes`` (possibly none) and return the row as it now is, or None."""
        if changes and not self.update(connection, project_id, object_id, changes):
            return None
        return self.get(connection, project_id, object_id)

    def delete(self, connection: Connection, project_id: str, object_id: str) -> bool:
        params = {"object_id": object_id, "project_id": project_id}
        return connection.execute(self._delete, params).rowcount > 0

    def list(
        self, connection: Connection, project_id: str, page: PageRequest, **filters: object
    ) -> Page[RowT]:
        columns = self.table.c
        query = select(self.table).where(columns.project_id == project_id)
        for name, value in filters.items():
            if value is not None:
                query = query.where(columns[name] == value)
        result = connection.execute(paginate(query, columns.id, page))
        return finish_page(cast(list[RowT], records(result)), page)

    def count(self, connection: Connection, project_id: str, **filters: object) -> int:
        columns = self.table.c
        query = select(func.count()).select_from(self.table).where(columns.project_id == project_id)
        for name, value in filters.items():
            query = query.where(columns[name] == value)
        return int(connection.execute(query).scalar_one())


class AssistantRepository(ScopedRepository[AssistantRecord]):
    table = AssistantRow.__table__  # type: ignore[assignment]


class ThreadRepository(ScopedRepository[ThreadRecord]):
    """Threads and conversations as clients reach them: a ``chain`` thread (the hidden thread
    of a ``previous_response_id`` chain) is not found by id, so ``/v1/threads/…`` and
    ``/v1/conversations/…`` 404 it. The engine's own reads of a run's thread use ``get_any``."""

    table = ThreadRow.__table__  # type: ignore[assignment]

    @cached_property
    def _by_id(self) -> Any:
        return self._any_by_id & (self.table.c.kind != "chain")

    @cached_property
    def _any_by_id(self) -> Any:
        columns = self.table.c
        return (columns.id == bindparam("object_id")) & (
            columns.project_id == bindparam("project_id")
        )

    @cached_property
    def _get_any(self) -> Any:
        return select(self.table).where(self._any_by_id)

    @cached_property
    def _delete_any(self) -> Any:
        return delete(self.table).where(self._any_by_id)

    def get_any(
        self, connection: Connection, project_id: str, thread_id: str
    ) -> ThreadRecord | None:
        """The thread whatever its kind (a run's thread, a response's chain included)."""
        params = {"object_id": thread_id, "project_id": project_id}
        return cast("ThreadRecord | None", _first(connection, self._get_any, params))

    def delete_any(self, connection: Connection, project_id: str, thread_id: str) -> bool:
        params = {"object_id": thread_id, "project_id": project_id}
        return connection.execute(self._delete_any, params).rowcount > 0


class InThreadRepository(ScopedRepository[RowT]):
    """Rows that belong to a thread (messages, conversation items): addressed through it."""

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
        self, connection: Connection, project_id: str, thread_id: str, object_id: str
    ) -> RowT | None:
        params = {"object_id": object_id, "project_id": project_id, "thread_id": thread_id}
        return cast("RowT | None", _first(connection, self._get_in_thread, params))

    def delete_in_thread(
        self, connection: Connection, project_id: str, thread_id: str, object_id: str
    ) -> bool:
        params = {"object_id": object_id, "project_id": project_id, "thread_id": thread_id}
        return connection.execute(self._delete_in_thread, params).rowcount > 0

    def delete_all_in_thread(self, connection: Connection, project_id: str, thread_id: str) -> None:
        columns = self.table.c
        connection.execute(
            delete(self.table).where(
                columns.thread_id == thread_id, columns.project_id == project_id
            )
        )


class MessageRepository(InThreadRepository[MessageRecord]):
    table = MessageRow.__table__  # type: ignore[assignment]

    @cached_property
    def _insert_into_thread(self) -> Any:
        # One statement instead of "does the thread exist, is it idle?" plus an insert: the row
        # is written only if the thread exists in this project and no run holds it.
        threads = ThreadRow.__table__
        columns = [c for c in self.table.c if c.name != "thread_id"]
        source = select(*(bindparam(c.name, type_=c.type) for c in columns), threads.c.id).where(
            threads.c.id == bindparam("thread_id"),
            threads.c.project_id == bindparam("project_id"),
            threads.c.active_run_id.is_(None),
            threads.c.kind != "chain",  # a response chain's thread takes no client messages
        )
        # FOR SHARE: on PostgreSQL the check would otherwise read the thread as of the
        # statement's start, and a run taking the thread meanwhile (and reading its messages)
        # would miss a message accepted after it. Locked, the insert waits for that run's
        # commit and then sees the thread busy. (SQLite has one writer: nothing to lock.)
        source = source.with_for_update(read=True)
        return insert(self.table).from_select([*(c.name for c in columns), "thread_id"], source)

    def insert_into_thread(self, connection: Connection, record: MessageRecord) -> bool:
        """Insert ``record`` if its thread exists in its project and is idle; else False."""
        params = {"tokens": None, **cast(Columns, record)}  # every column is a parameter
        return connection.execute(self._insert_into_thread, params).rowcount > 0
