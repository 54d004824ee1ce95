"""Data access for the API objects. Every query is scoped by ``project_id``: an object of another
project is indistinguishable from a missing one. Repositories take a connection, so a service can
group several calls in one transaction."""

from typing import Any

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from threadline.storage.pagination import Page, PageRequest, finish_page, paginate
from threadline.storage.tables import AssistantRow, MessageRow, ThreadRow

Record = dict[str, Any]


class ScopedRepository:
    """CRUD over one table whose rows belong to a project."""

    table: Table

    async def insert(self, connection: AsyncConnection, record: Record) -> None:
        await connection.execute(insert(self.table), record)

    async def insert_many(self, connection: AsyncConnection, records: list[Record]) -> None:
        if records:
            await connection.execute(insert(self.table), records)

    async def get(
        self, connection: AsyncConnection, project_id: str, object_id: str
    ) -> Record | None:
        columns = self.table.c
        query = select(self.table).where(columns.id == object_id, columns.project_id == project_id)
        row = (await connection.execute(query)).mappings().first()
        return dict(row) if row is not None else None

    async def exists(self, connection: AsyncConnection, project_id: str, object_id: str) -> bool:
        columns = self.table.c
        query = select(columns.id).where(columns.id == object_id, columns.project_id == project_id)
        return (await connection.execute(query)).first() is not None

    async def update(
        self, connection: AsyncConnection, project_id: str, object_id: str, values: Record
    ) -> bool:
        columns = self.table.c
        statement = (
            update(self.table)
            .where(columns.id == object_id, columns.project_id == project_id)
            .values(**values)
        )
        return (await connection.execute(statement)).rowcount > 0

    async def delete(self, connection: AsyncConnection, project_id: str, object_id: str) -> bool:
        columns = self.table.c
        statement = delete(self.table).where(
            columns.id == object_id, columns.project_id == project_id
        )
        return (await connection.execute(statement)).rowcount > 0

    async def list(
        self,
        connection: AsyncConnection,
        project_id: str,
        page: PageRequest,
        **filters: Any,
    ) -> Page:
        columns = self.table.c
        query = select(self.table).where(columns.project_id == project_id)
        for name, value in filters.items():
            if value is not None:
                query = query.where(columns[name] == value)
        result = await connection.execute(paginate(query, columns.id, page))
        return finish_page([dict(row) for row in result.mappings()], page)

    async def count(self, connection: AsyncConnection, project_id: str, **filters: Any) -> int:
        columns = self.table.c
        query = select(func.count()).select_from(self.table).where(columns.project_id == project_id)
        for name, value in filters.items():
            query = query.where(columns[name] == value)
        return int((await connection.execute(query)).scalar_one())


class AssistantRepository(ScopedRepository):
    table = AssistantRow.__table__  # type: ignore[assignment]


class ThreadRepository(ScopedRepository):
    table = ThreadRow.__table__  # type: ignore[assignment]


class MessageRepository(ScopedRepository):
    table = MessageRow.__table__  # type: ignore[assignment]

    async def get_in_thread(
        self, connection: AsyncConnection, project_id: str, thread_id: str, message_id: str
    ) -> Record | None:
        columns = self.table.c
        query = select(self.table).where(
            columns.id == message_id,
            columns.thread_id == thread_id,
            columns.project_id == project_id,
        )
        row = (await connection.execute(query)).mappings().first()
        return dict(row) if row is not None else None

    async def delete_in_thread(
        self, connection: AsyncConnection, project_id: str, thread_id: str, message_id: str
    ) -> bool:
        columns = self.table.c
        statement = delete(self.table).where(
            columns.id == message_id,
            columns.thread_id == thread_id,
            columns.project_id == project_id,
        )
        return (await connection.execute(statement)).rowcount > 0

    async def delete_thread_messages(
        self, connection: AsyncConnection, project_id: str, thread_id: str
    ) -> None:
        columns = self.table.c
        await connection.execute(
            delete(self.table).where(
                columns.thread_id == thread_id, columns.project_id == project_id
            )
        )
