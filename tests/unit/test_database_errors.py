"""Which database failures are "the database is unavailable" (a retryable 503, a run's end
retried) rather than a bug: PostgreSQL shutting down or starting up reaches SQLAlchemy as a plain
DBAPIError, told apart by its SQLSTATE."""

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import exc

from threadline.errors import ServiceUnavailable
from threadline.storage.database import Connection, Database


class DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"driver error {sqlstate}")
        self.sqlstate = sqlstate


def failing(sqlstate: str):  # type: ignore[no-untyped-def]
    def work(connection: Connection) -> None:
        raise exc.DBAPIError("SELECT 1", None, DriverError(sqlstate))

    return work


async def outcome(database: Database, sqlstate: str) -> type[BaseException]:
    try:
        await database.write(failing(sqlstate))
    except BaseException as error:
        return type(error)
    raise AssertionError("the unit did not fail")


@pytest.mark.parametrize(
    ("sqlstate", "expected"),
    [
        ("57P01", ServiceUnavailable),  # admin_shutdown: pg_ctl stop
        ("57P03", ServiceUnavailable),  # cannot_connect_now: the database system is starting up
        ("08006", ServiceUnavailable),  # connection_failure
        ("23505", exc.DBAPIError),  # unique_violation: a bug, not an outage
        ("57014", exc.DBAPIError),  # query_canceled
    ],
)
def test_postgres_going_away_is_unavailable(
    tmp_path: Path, sqlstate: str, expected: type[BaseException]
) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    try:
        assert asyncio.run(outcome(database, sqlstate)) is expected
    finally:
        asyncio.run(database.dispose())
