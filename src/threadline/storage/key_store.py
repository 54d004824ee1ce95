"""Projects and API keys."""

from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from threadline.storage.tables import ApiKeyRow, ProjectRow

Record = dict[str, Any]

_projects = ProjectRow.__table__
_keys = ApiKeyRow.__table__


async def get_project_by_name(connection: AsyncConnection, name: str) -> Record | None:
    row = (
        (await connection.execute(select(_projects).where(_projects.c.name == name)))
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def insert_project(connection: AsyncConnection, record: Record) -> None:
    await connection.execute(insert(_projects), record)


async def count_keys(connection: AsyncConnection) -> int:
    return int((await connection.execute(select(func.count()).select_from(_keys))).scalar_one())


async def insert_key(connection: AsyncConnection, record: Record) -> None:
    await connection.execute(insert(_keys), record)


def _key_with_project_query() -> Any:
    return select(*_keys.c, _projects.c.name.label("project")).join(
        _projects, _projects.c.id == _keys.c.project_id
    )


async def find_key_by_hash(connection: AsyncConnection, key_hash: str) -> Record | None:
    query = _key_with_project_query().where(_keys.c.key_hash == key_hash)
    row = (await connection.execute(query)).mappings().first()
    return dict(row) if row else None


async def get_key(connection: AsyncConnection, key_id: str) -> Record | None:
    query = _key_with_project_query().where(_keys.c.id == key_id)
    row = (await connection.execute(query)).mappings().first()
    return dict(row) if row else None


async def list_keys(connection: AsyncConnection, project: str | None = None) -> list[Record]:
    query = _key_with_project_query().order_by(_keys.c.id)
    if project is not None:
        query = query.where(_projects.c.name == project)
    return [dict(row) for row in (await connection.execute(query)).mappings()]


async def revoke_key(connection: AsyncConnection, key_id: str, when: int) -> bool:
    statement = (
        update(_keys)
        .where(_keys.c.id == key_id, _keys.c.revoked_at.is_(None))
        .values(revoked_at=when)
    )
    return (await connection.execute(statement)).rowcount > 0
