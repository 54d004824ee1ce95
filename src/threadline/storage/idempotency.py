"""Idempotency keys: claim a key for a request, record its response, forget it, expire old ones."""

from dataclasses import dataclass

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from threadline.storage.tables import IdempotencyKeyRow

_keys = IdempotencyKeyRow.__table__


@dataclass(frozen=True, slots=True)
class Claimed:
    """The key is this request's: run it."""


@dataclass(frozen=True, slots=True)
class Mismatch:
    """The key was used for a different request."""


@dataclass(frozen=True, slots=True)
class InFlight:
    """The key's first request has not been answered yet."""


@dataclass(frozen=True, slots=True)
class Replay:
    status: int
    content_type: str
    body: bytes


Claim = Claimed | Mismatch | InFlight | Replay


def claim(
    connection: Connection,
    project_id: str,
    key: str,
    fingerprint: str,
    now: int,
    kept_since: int,
    abandoned_before: int,
) -> Claim:
    """Take ``key`` for this request, or say why not. A key older than ``kept_since`` is free
    again; one still in flight since before ``abandoned_before`` (its server died) is taken
    over."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    inserted = connection.execute(
        dialect.insert(_keys)
        .values(project_id=project_id, key=key, fingerprint=fingerprint, created_at=now)
        .on_conflict_do_nothing(index_elements=["project_id", "key"])
    )
    if inserted.rowcount > 0:
        return Claimed()
    where = (_keys.c.project_id == project_id, _keys.c.key == key)
    row = connection.execute(select(_keys).where(*where).with_for_update()).mappings().first()
    if row is None:  # forgotten in between: take it
        return claim(connection, project_id, key, fingerprint, now, kept_since, abandoned_before)
    stale = row["created_at"] < kept_since
    abandoned = row["status"] is None and row["created_at"] < abandoned_before
    if stale or abandoned:
        connection.execute(
            update(_keys)
            .where(*where)
            .values(
                fingerprint=fingerprint, created_at=now, status=None, content_type=None, body=None
            )
        )
        return Claimed()
    if row["fingerprint"] != fingerprint:
        return Mismatch()
    if row["status"] is None:
        return InFlight()
    return Replay(row["status"], row["content_type"] or "application/json", bytes(row["body"]))


def record(
    connection: Connection, project_id: str, key: str, status: int, content_type: str, body: bytes
) -> None:
    connection.execute(
        update(_keys)
        .where(_keys.c.project_id == project_id, _keys.c.key == key)
        .values(status=status, content_type=content_type, body=body)
    )


def forget(connection: Connection, project_id: str, key: str) -> None:
    connection.execute(delete(_keys).where(_keys.c.project_id == project_id, _keys.c.key == key))


def expire(connection: Connection, before: int) -> int:
    return int(connection.execute(delete(_keys).where(_keys.c.created_at < before)).rowcount)
