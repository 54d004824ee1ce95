"""The response cache in the database (``response_cache``), when Redis is not configured.

An answer is one row under its key; a lookup reads it only while it has not expired. Expired
rows are deleted lazily: a write deletes them, at most once a minute per process (one indexed
``DELETE`` on ``expires_at``), so the table holds about what the TTLs keep plus a minute."""

from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from threadline.records.gateway import CachedResponse
from threadline.storage.cache_tables import ResponseCacheRow
from threadline.storage.database import Database
from threadline.storage.repositories import Columns, rows_of

_cache: Table = ResponseCacheRow.__table__  # type: ignore[assignment]
_SWEEP_EVERY_MS = 60_000

# Built once: a lookup runs on every request of a key whose answers are cached.
_GET = select(_cache).where(
    _cache.c.key == bindparam("key"), _cache.c.expires_at > bindparam("now")
)
_SWEEP = delete(_cache).where(_cache.c.expires_at <= bindparam("now"))


def get(connection: Connection, key: str, now_ms: int) -> CachedResponse | None:
    found = rows_of(connection.execute(_GET, {"key": key, "now": now_ms}), CachedResponse)
    if not found:
        return None
    entry = found[0]
    entry["body"] = bytes(entry["body"])  # asyncpg and sqlite3 may hand back memoryviews
    return entry


def put(connection: Connection, entry: CachedResponse, sweep_before_ms: int | None) -> None:
    """Store ``entry`` (replacing an answer under the same key); with ``sweep_before_ms``,
    delete the rows expired by then too."""
    dialect: Any = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(_cache)
    replaced = {name: statement.excluded[name] for name in entry if name != "key"}
    statement = statement.on_conflict_do_update(index_elements=["key"], set_=replaced)
    connection.execute(statement, cast(Columns, entry))
    if sweep_before_ms is not None:
        connection.execute(_SWEEP, {"now": sweep_before_ms})


def delete_expired(connection: Connection, now_ms: int) -> int:
    return int(connection.execute(_SWEEP, {"now": now_ms}).rowcount or 0)


class DatabaseCacheStore:
    """``gateway.response_cache.CacheStore`` over the database."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self._swept_ms = 0

    async def get(self, key: str, now_ms: int) -> CachedResponse | None:
        return await self._db.read(get, key, now_ms)

    async def put(self, entry: CachedResponse, now_ms: int) -> None:
        sweep = now_ms - self._swept_ms >= _SWEEP_EVERY_MS
        if sweep:
            self._swept_ms = now_ms
        await self._db.write(put, entry, now_ms if sweep else None)

    async def aclose(self) -> None:
        """The database is closed by its owner."""
