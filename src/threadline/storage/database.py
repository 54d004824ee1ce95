"""The database: units of work run in one step, on SQLite or PostgreSQL.

A *unit of work* is a plain function ``work(connection, *args)`` of synchronous SQLAlchemy Core
code; ``Database.read`` and ``Database.write`` run it inside one transaction and return its result.
Repositories and services never hold a connection across an ``await``.

Why synchronous units: with an async driver every statement is a round trip between the event
loop and the driver (for aiosqlite, a thread hop per cursor, execute, fetch and close: a dozen per
request), and that, not the database, was most of a request's cost. Here a whole unit is one step:

- **SQLite**: inline on the event loop (see ``sqlite.py`` for why, and for what keeps it from
  blocking).
- **PostgreSQL** (``asyncpg``): through ``AsyncConnection.run_sync`` on the event loop;
  concurrency is the database's job.

A ``Database`` belongs to one event loop.
"""

from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

import orjson
from sqlalchemy import Connection, text
from sqlalchemy.engine.url import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from threadline.errors import ServiceUnavailable
from threadline.storage.faults import is_unavailable, unavailable
from threadline.storage.sqlite import SqliteUnits

__all__ = ["Connection", "Database", "redacted_url"]


P = ParamSpec("P")
T = TypeVar("T")
Work = Callable[Concatenate[Connection, P], T]


class Database:
    """Owns the engine and runs units of work."""

    def __init__(self, url: str, *, pool_size: int = 10, shared_writers: bool = False) -> None:
        """``shared_writers``: other processes of this server write too (SQLite: see
        ``sqlite.py``)."""
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._sqlite: SqliteUnits | None = None
        self._async_engine: AsyncEngine | None = None
        if self.is_sqlite:
            self._sqlite = SqliteUnits(make_url(url), shared_writers=shared_writers)
        else:
            self._async_engine = create_async_engine(
                url,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=True,
                json_serializer=lambda value: orjson.dumps(value).decode(),
                json_deserializer=orjson.loads,
            )

    async def read(self, work: Work[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``work(connection, *args)`` in a read transaction (one consistent snapshot)."""
        try:
            if self._sqlite is not None:
                return await self._sqlite.run(False, work, args, kwargs)
            assert self._async_engine is not None
            async with self._async_engine.connect() as connection:
                return await connection.run_sync(work, *args, **kwargs)
        except Exception as error:
            # Down, shutting down, out of connections, disk full: a retryable 503, not a 500.
            if is_unavailable(error):
                raise unavailable(error) from error
            raise

    async def write(self, work: Work[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``work(connection, *args)`` in a write transaction: committed if it returns,
        rolled back if it raises (an ``APIError`` raised inside leaves nothing behind)."""
        try:
            if self._sqlite is not None:
                return await self._sqlite.run(True, work, args, kwargs)
            assert self._async_engine is not None
            async with self._async_engine.begin() as connection:
                return await connection.run_sync(work, *args, **kwargs)
        except Exception as error:
            if is_unavailable(error):
                raise unavailable(error) from error
            raise

    async def run_off_loop(
        self, write: bool, work: Work[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """``read``/``write`` for a long unit (indexing a file's chunks, loading a store's
        vectors): on SQLite it runs on a worker thread, so the event loop is not held up."""
        if self._sqlite is None:
            return await (self.write if write else self.read)(work, *args, **kwargs)
        try:
            return await self._sqlite.run_on_thread(write, work, args, kwargs)
        except Exception as error:
            if is_unavailable(error):
                raise unavailable(error) from error
            raise

    async def ping(self) -> bool:
        try:
            await self.read(_select_one)
        except ServiceUnavailable:
            return False
        return True

    async def dispose(self) -> None:
        if self._sqlite is not None:
            self._sqlite.dispose()
        if self._async_engine is not None:
            await self._async_engine.dispose()


def _select_one(connection: Connection) -> None:
    connection.execute(text("SELECT 1"))


def redacted_url(url: str) -> str:
    """A database URL fit for printing: the password hidden."""
    return make_url(url).render_as_string(hide_password=True)
