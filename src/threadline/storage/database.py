"""Engine set-up for the two supported databases.

SQLite: WAL so readers never block the writer, a busy timeout, and every write transaction begins
with ``BEGIN IMMEDIATE`` under an in-process lock. A deferred transaction that reads and then
writes can fail at once with "database is locked" when another writer got in between; taking the
write lock up front removes that failure mode instead of retrying around it.

PostgreSQL (asyncpg): a plain connection pool; concurrency is the database's job.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, exc, text
from sqlalchemy.engine.url import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from threadline.errors import ServiceUnavailable

# Failures that mean "the database cannot answer right now" (down, restarting, locked past the
# busy timeout), as opposed to a bug: the client gets a retryable 503, never a 500.
_UNAVAILABLE = (exc.OperationalError, exc.InterfaceError, OSError, TimeoutError)

logger = logging.getLogger("threadline.storage")

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-32768",
)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy's "begin" event below (the documented recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get("sqlite_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """Owns the engine and hands out read and write connections."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            database = make_url(url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_async_engine(url, pool_size=4, max_overflow=4)
            _configure_sqlite(self.engine)
        else:
            self.engine = create_async_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self.engine.connect() as connection:
                yield connection
        except _UNAVAILABLE as error:
            raise _unavailable(error) from error

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction, committed on success, rolled back on error."""
        try:
            if self._write_lock is None:
                async with self.engine.begin() as connection:
                    yield connection
                return
            async with self._write_lock, self.engine.connect() as connection:
                connection = await connection.execution_options(sqlite_immediate=True)
                async with connection.begin():
                    yield connection
        except _UNAVAILABLE as error:
            raise _unavailable(error) from error

    async def ping(self) -> bool:
        try:
            async with self.read() as connection:
                await connection.execute(text("SELECT 1"))
        except ServiceUnavailable:
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()


def _unavailable(error: BaseException) -> ServiceUnavailable:
    # The driver's text can name hosts and users: log it, but tell the client only the class.
    logger.warning("database unavailable: %s", error)
    return ServiceUnavailable(
        "The database is temporarily unavailable. Please retry shortly.", retry_after_seconds=1
    )


def redacted_url(url: str) -> str:
    """A database URL fit for printing: the password hidden."""
    return make_url(url).render_as_string(hide_password=True)
