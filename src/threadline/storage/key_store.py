"""Projects and API keys."""

from typing import Any, cast

from sqlalchemy import Connection, Table, func, insert, select, update

from threadline import ids
from threadline.records.gateway import (
    KeyWithProject,
    NewKeyRecord,
    ProjectColumns,
    ProjectIdentity,
    ProjectRecord,
)
from threadline.storage.repositories import Columns, rows_of
from threadline.storage.tables import ApiKeyRow, ProjectRow

_projects: Table = ProjectRow.__table__  # type: ignore[assignment]
_keys: Table = ApiKeyRow.__table__  # type: ignore[assignment]


def get_project_by_name(connection: Connection, name: str) -> ProjectRecord | None:
    found = rows_of(
        connection.execute(select(_projects).where(_projects.c.name == name)), ProjectRecord
    )
    return found[0] if found else None


def insert_project(connection: Connection, record: ProjectIdentity) -> None:
    connection.execute(insert(_projects), cast(Columns, record))


def count_keys(connection: Connection) -> int:
    return int(connection.execute(select(func.count()).select_from(_keys)).scalar_one())


def insert_key(connection: Connection, project: str, record: NewKeyRecord) -> None:
    """Insert a key for the project named ``project``, creating the project on first use."""
    found: ProjectIdentity | None = get_project_by_name(connection, project)
    if found is None:
        found = {"id": ids.project_id(), "name": project, "created_at": record["created_at"]}
        insert_project(connection, found)
    connection.execute(insert(_keys), {**record, "project_id": found["id"]})


# The project's gateway settings, joined to each key as ``project_<column>``.
PROJECT_SETTINGS = (
    "rpm",
    "tpm",
    "max_parallel",
    "budget_nanos",
    "budget_period",
    "models",
    "assistants_passthrough",
    "cache_ttl",
)


def _key_with_project_query() -> Any:
    project_columns = [_projects.c[name].label(f"project_{name}") for name in PROJECT_SETTINGS]
    return select(*_keys.c, _projects.c.name.label("project"), *project_columns).join(
        _projects, _projects.c.id == _keys.c.project_id
    )


def find_key_by_hash(connection: Connection, key_hash: str) -> KeyWithProject | None:
    query = _key_with_project_query().where(_keys.c.key_hash == key_hash)
    found = rows_of(connection.execute(query), KeyWithProject)
    return found[0] if found else None


def get_key(connection: Connection, key_id: str) -> KeyWithProject | None:
    query = _key_with_project_query().where(_keys.c.id == key_id)
    found = rows_of(connection.execute(query), KeyWithProject)
    return found[0] if found else None


def list_keys(
    connection: Connection,
    project: str | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> list[KeyWithProject]:
    """Keys in id (creation) order, those after the id ``after``, at most ``limit``."""
    query = _key_with_project_query().order_by(_keys.c.id)
    if project is not None:
        query = query.where(_projects.c.name == project)
    if after is not None:
        query = query.where(_keys.c.id > after)
    if limit is not None:
        query = query.limit(limit)
    return rows_of(connection.execute(query), KeyWithProject)


def update_key(connection: Connection, key_id: str, values: Columns) -> bool:
    """Change a live (not revoked) key."""
    statement = (
        update(_keys).where(_keys.c.id == key_id, _keys.c.revoked_at.is_(None)).values(values)
    )
    return connection.execute(statement).rowcount > 0


def list_projects(connection: Connection) -> list[ProjectRecord]:
    query = select(_projects).order_by(_projects.c.name)
    return rows_of(connection.execute(query), ProjectRecord)


def upsert_project(
    connection: Connection, name: str, values: ProjectColumns, now: int
) -> ProjectRecord:
    """Set a project's gateway settings, creating the project if it does not exist yet."""
    found = get_project_by_name(connection, name)
    if found is None:
        connection.execute(
            insert(_projects),
            {"id": ids.project_id(), "name": name, "created_at": now, **values},
        )
    elif values:
        statement = update(_projects).where(_projects.c.id == found["id"])
        connection.execute(statement.values(cast(Columns, values)))
    created = get_project_by_name(connection, name)
    assert created is not None  # written in this transaction
    return created


def revoke_key(connection: Connection, key_id: str, when: int) -> bool:
    statement = (
        update(_keys)
        .where(_keys.c.id == key_id, _keys.c.revoked_at.is_(None))
        .values(revoked_at=when)
    )
    return connection.execute(statement).rowcount > 0
