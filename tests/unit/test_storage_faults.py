"""Every "storage cannot serve right now" condition is classified the same way, in whatever shape
the driver reports it: asyncpg's errors as SQLAlchemy wraps them (a plain ``DBAPIError`` keeping the
SQLSTATE), the raw socket errors, SQLite's codes, the disk's errnos. Bugs stay bugs."""

import errno
import sqlite3

import asyncpg
import pytest
from sqlalchemy import exc
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi

from threadline.errors import ServiceUnavailable
from threadline.storage.faults import is_out_of_space, is_unavailable, unavailable

_DBAPI = AsyncAdapt_asyncpg_dbapi(asyncpg)


def _as_sqlalchemy_wraps_it(error: Exception) -> exc.DBAPIError:
    """What a unit of work sees: asyncpg's error translated to the adapter's DBAPI class (as
    SQLAlchemy's asyncpg dialect does), wrapped in SQLAlchemy's exception."""
    translated = _DBAPI.Error(str(error), error)
    try:
        raise translated from error
    except _DBAPI.Error as raised:
        return exc.DBAPIError.instance("SELECT 1", None, raised, _DBAPI.Error)


def _sqlite_full() -> exc.OperationalError:
    error = sqlite3.OperationalError("database or disk is full")
    error.sqlite_errorcode = sqlite3.SQLITE_FULL
    wrapped = exc.DBAPIError.instance("INSERT", None, error, sqlite3.Error)
    assert isinstance(wrapped, exc.OperationalError)
    return wrapped


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator"),
        asyncpg.exceptions.CrashShutdownError("terminating connection due to crash"),
        asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.exceptions.ConnectionFailureError("connection failure"),
        asyncpg.exceptions.DiskFullError("could not extend file"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_postgres_unavailable_conditions_are_503(error: Exception) -> None:
    assert is_unavailable(error)
    assert is_unavailable(_as_sqlalchemy_wraps_it(error))


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
        ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
        exc.TimeoutError("QueuePool limit of size 10 overflow 10 reached"),
        exc.InterfaceError("SELECT 1", None, Exception("connection is closed")),
        exc.DisconnectionError("connection lost"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_lost_and_refused_connections_are_503(error: Exception) -> None:
    assert is_unavailable(error)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.UniqueViolationError("duplicate key"),
        asyncpg.exceptions.UndefinedTableError("relation does not exist"),
        asyncpg.exceptions.DivisionByZeroError("division by zero"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_bugs_and_bad_data_are_not_503(error: Exception) -> None:
    assert not is_unavailable(_as_sqlalchemy_wraps_it(error))
    assert not is_unavailable(ValueError("a bug"))


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        OSError(errno.EDQUOT, "Disk quota exceeded"),
        _sqlite_full(),
        _as_sqlalchemy_wraps_it(asyncpg.exceptions.DiskFullError("could not extend file")),
    ],
    ids=["ENOSPC", "EDQUOT", "sqlite-full", "postgres-disk-full"],
)
def test_out_of_space_is_a_503_with_retry_after(error: Exception) -> None:
    assert is_out_of_space(error)
    assert is_unavailable(error)
    answer = unavailable(error)
    assert isinstance(answer, ServiceUnavailable)
    assert answer.status_code == 503
    assert int(answer.headers["retry-after"]) > 0
    assert "space" in answer.message


def test_other_disk_errors_are_not_out_of_space() -> None:
    assert not is_out_of_space(OSError(errno.EACCES, "Permission denied"))
    assert not is_out_of_space(FileNotFoundError(errno.ENOENT, "No such file"))
