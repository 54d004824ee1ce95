"""Projects and API keys."""

from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from threadline import ids
from threadline.storage.tables import ApiKeyRow, ProjectRow

Record = dict[str, Any]

_projects = ProjectRow.__table__
_keys = ApiKeyRow.__table__


def get_project_by_name(connection: Connection, name: str) -> Record | None:
    row = connection.execute(select(_projects).where(_projects.c.name == name)).mappings().first()
    return dict(row) if row else None


def insert_project(connection: Connection, record: Record) -> None:
    connection.execute(insert(_projects), record)


def count_keys(connection: Connection) -> int:
    return int(connection.execute(select(func.count()).select_from(_keys)).scalar_one())


def insert_key(connection: Connection, project: str, record: Record) -> None:
    """Insert a key for the project named ``project``, creating the project on first use."""
    found = get_project_by_name(connection, project)
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
)


def _key_with_project_query() -> Any:
    project_columns = [_projects.c[name].label(f"project_{name}") for name in PROJECT_SETTINGS]
    return select(*_keys.c, _projects.c.name.label("project"), *project_columns).join(
        _projects, _projects.c.id == _keys.c.project_id
    )


def find_key_by_hash(connection: Connection, key_hash: str) -> Record | None:
    query = _key_with_project_query().where(_keys.c.key_hash == key_hash)
    row = connection.execute(query).mappings().first()
    return dict(row) if row else None


def get_key(connection: Connection, key_id: str) -> Record | None:
    query = _key_with_project_query().where(_keys.c.id == key_id)
    row = connection.execute(query).mappings().first()
    return dict(row) if row else None


def list_keys(
    connection: Connection,
    project: str | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> list[Record]:
    """Keys in id (creation) order, those after the id ``after``, at most ``limit``."""
    query = _key_with_project_query().order_by(_keys.c.id)
    if project is not None:
        query = query.where(_projects.c.name == project)
    if after is not None:
        query = query.where(_keys.c.id > after)
    if limit is not None:
        query = query.limit(limit)
    return [dict(row) for row in connection.execute(query).mappings()]


def update_key(connection: Connection, key_id: str, values: Record) -> bool:
    """Change a live (not revoked) key."""
    statement = (
        update(_keys).where(_keys.c.id == key_id, _keys.c.revoked_at.is_(None)).values(values)
    )
    return connection.execute(statement).rowcount > 0


def list_projects(connection: Connection) -> list[Record]:
    query = select(_projects).order_by(_projects.c.name)
    return [dict(row) for row in connection.execute(query).mappings()]


def upsert_project(connection: Connection, name: str, values: Record, now: int) -> Record:
    """Set a project's gateway settings, creating the project if it does not exist yet."""
    found = get_project_by_name(connection, name)
    if found is None:
        found = {"id": ids.project_id(), "name": name, "created_at": now}
        insert_project(connection, {**found, **values})
    elif values:
        connection.execute(update(_projects).where(_projects.c.id == found["id"]).values(values))
    return get_project_by_name(connection, name) or found


def revoke_key(connection: Connection, key_id: str, when: int) -> bool:
    statement = (
        update(_keys)
        .where(_keys.c.id == key_id, _keys.c.revoked_at.is_(None))
        .values(revoked_at=when)
    )
    return connection.execute(statement).rowcount > 0
