"""Which failures mean "storage cannot serve right now", as opposed to a bug.

The database is down, restarting, shutting down or out of connections, or a disk is full: the
request was fine and the same request will work once the condition passes, so the client gets a
retryable 503 with ``retry-after`` (never a 500, which clients do not retry as readily).

Drivers report these conditions in many shapes: asyncpg raises a ``PostgresError`` with a
SQLSTATE (which SQLAlchemy wraps as a plain ``DBAPIError``, keeping the SQLSTATE on ``orig``) or
an ``OSError`` (refused, reset), SQLite an ``OperationalError`` with an error code, the disk an
``OSError`` with an errno. They are classified here, in one place, by those codes."""

import errno
import logging
import sqlite3
from collections.abc import Iterator

from sqlalchemy import exc

from threadline.errors import ServiceUnavailable

logger = logging.getLogger("threadline.storage")

_OUT_OF_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_DISK_FULL_SQLSTATE = "53100"
# 08: connection exception; 53: insufficient resources (too many connections, disk full, out of
# memory).
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53")
# Admin shutdown, crash shutdown, cannot connect now (starting up or shutting down), idle
# session timeout: the server ended or refused the session, not the statement.
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "57P05"})
# Failures that mean "unreachable" whatever their detail: SQLAlchemy's pool timeout and lost
# connections, SQLite's locked-past-the-busy-timeout, sockets refused or reset.
_UNAVAILABLE_TYPES = (
    exc.OperationalError,
    exc.InterfaceError,
    exc.TimeoutError,
    exc.DisconnectionError,
    OSError,
    TimeoutError,
)
# A full disk will not be gone within a second: retrying at once only adds load.
OUT_OF_SPACE_RETRY_SECONDS = 5


def is_out_of_space(error: BaseException) -> bool:
    """A disk (or quota) is full: ``ENOSPC``/``EDQUOT``, SQLite's "database or disk is full",
    PostgreSQL's ``disk_full``."""
    for cause in _causes(error):
        if isinstance(cause, OSError) and cause.errno in _OUT_OF_SPACE_ERRNOS:
            return True
        if isinstance(cause, sqlite3.Error) and cause.sqlite_errorcode == sqlite3.SQLITE_FULL:
            return True
        if _sqlstate(cause) == _DISK_FULL_SQLSTATE:
            return True
    return False


def is_unavailable(error: BaseException) -> bool:
    """The database or the disk cannot serve right now (see the module's docstring)."""
    if isinstance(error, _UNAVAILABLE_TYPES):
        return True
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    for cause in _causes(error):
        state = _sqlstate(cause)
        if state is not None and (
            state in _UNAVAILABLE_SQLSTATES or state.startswith(_UNAVAILABLE_SQLSTATE_CLASSES)
        ):
            return True
    return is_out_of_space(error)


def unavailable(error: BaseException) -> ServiceUnavailable:
    """The client's answer to a failure ``is_unavailable`` accepted."""
    # The driver's text can name hosts, users and paths: log it, tell the client only the class.
    if is_out_of_space(error):
        logger.warning("out of storage space: %s", error)
        return ServiceUnavailable(
            "The server is out of storage space. Please retry later.",
            retry_after_seconds=OUT_OF_SPACE_RETRY_SECONDS,
        )
    logger.warning("database unavailable: %s", error)
    return ServiceUnavailable(
        "The database is temporarily unavailable. Please retry shortly.", retry_after_seconds=1
    )


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error, then what it wraps: SQLAlchemy's ``orig``, then explicit ``raise … from``
    causes (the implicit ``__context__`` is not followed: an error raised while handling
    another is not that other)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        wrapped = getattr(current, "orig", None)
        current = wrapped if isinstance(wrapped, BaseException) else current.__cause__


def _sqlstate(error: BaseException) -> str | None:
    state = getattr(error, "sqlstate", None)
    return state if isinstance(state, str) else None
