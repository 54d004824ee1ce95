"""Units of work on SQLite, the embedded default.

A unit runs **inline on the event loop**, on one connection that belongs to the loop: a point
read or a one-row write takes SQLite tens of microseconds, less than handing it to a thread and
back costs (docs/benchmarks.md#design-choices). Units never ``await``, so on one loop they
cannot interleave: writes are serialized without any lock.

Two things could still block the loop, and both are moved off it:

- *Another process holds the write lock* (``threadline keys create`` while serving): the inline
  connection has no busy timeout, so ``BEGIN IMMEDIATE`` fails at once, before any work, and the
  unit is retried on a fallback thread that waits up to the busy timeout.
- *Checkpoints*, which copy the WAL into the database file and fsync: automatic checkpoints are
  off on the inline connection, and a passive checkpoint runs on the fallback writer thread
  every hundred write units. Under a steady stream of writes a passive checkpoint never
  catches up, so the WAL would never start over and would grow without end
  (docs/benchmarks.md#design-choices); once it holds more than ``_WAL_FRAMES_LIMIT`` pages,
  that thread truncates it instead, which holds writers back for that one checkpoint while
  reads go on. Inline writes that meet it wait for it to end, then run inline again.

On a full disk checkpoints fail (copying the WAL into the database file needs room) while the WAL
keeps what it holds. A failed checkpoint, or a write that failed for lack of space, is therefore
followed by truncating ones on a timer, backing off, until one succeeds: the WAL is emptied as soon
as space returns, not only after hundreds of further writes (which an idle server never makes).
``journal_size_limit`` also shrinks the WAL file whenever SQLite starts it over.

Every write starts with ``BEGIN IMMEDIATE``: a deferred transaction that reads and then writes
can fail with "database is locked" when another process wrote in between.

*Several processes writing all the time* (``serve --workers N``): SQLite's own wait for its write
lock sleeps 1, 2, 5, 10… ms between tries, and a busy neighbour keeps winning in between, so a
write that met another process's lock waited 22-42 ms on average (docs/benchmarks.md#workers).
With ``shared_writers``, every write unit first takes a lock file (``flock``, whose waiters the
kernel wakes the moment it is free), so writers meet there, in turn, instead of in SQLite's
sleeps. An inline write waits for it at most ~2 ms (a neighbour's unit holds it for tens of
microseconds): past that a long unit holds it, and the write goes to the writer thread, which
waits for it, so the loop never stalls behind a long unit.
"""

import asyncio
import fcntl
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine.url import URL

T = TypeVar("T")

logger = logging.getLogger("threadline.storage")

# Pages (4 KiB) the WAL may hold before a checkpoint truncates it, holding writers back while it
# runs. Each commit appends every page it changed: a response's creation ~17, so a burst of
# 1,000 at once appends ~17,600, which stays below this (docs/benchmarks.md#responses).
_WAL_FRAMES_LIMIT = 32_768
# What SQLite trims the WAL file to each time it starts the WAL over.
_WAL_FILE_KEPT_BYTES = 16 * 1024 * 1024
_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    f"PRAGMA journal_size_limit={_WAL_FILE_KEPT_BYTES}",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-32768",
)
_FALLBACK_READERS = 2
# Tries of the writers' lock before an inline write goes to the writer thread (see _take_briefly).
_WRITERS_SPIN = 20
_CHECKPOINT_EVERY_WRITES = 100
# After a failed checkpoint: the first retry, and the longest wait between two.
_CHECKPOINT_RETRY_SECONDS = 1.0
_CHECKPOINT_RETRY_MAX_SECONDS = 30.0


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def sqlite_engine(url: URL) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url.set(drivername="sqlite+pysqlite"),
        pool_size=_FALLBACK_READERS + 2,
        max_overflow=0,
        # Every unit ends its own transaction; a second rollback on return is wasted work.
        pool_reset_on_return=None,
        connect_args={"check_same_thread": False},
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to the "begin" event below (SQLAlchemy's documented recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in _PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get("sqlite_immediate", False)
        statement = "BEGIN IMMEDIATE" if immediate else "BEGIN"
        # On the driver's connection: through exec_driver_sql, SQLAlchemy's statement machinery
        # (events, cursor wrapping) cost more than the BEGIN itself, on every unit of work. Its
        # errors are wrapped as exec_driver_sql would, so callers still see SQLAlchemy's.
        try:
            connection.connection.driver_connection.execute(statement)
        except sqlite3.Error as error:
            raise exc.DBAPIError.instance(statement, None, error, sqlite3.Error) from error

    return engine


def _run_unit(
    connection: Connection,
    write: bool,
    work: Callable[..., T],
    args: tuple[Any, ...],
    kwargs: Mapping[str, object],
) -> T:
    connection.execution_options(sqlite_immediate=write)  # in place, for the next begin
    with connection.begin():
        return work(connection, *args, **kwargs)


def _take_briefly(lock: int) -> bool:
    """Take the writers' lock, waiting at most ~``_WRITERS_SPIN`` x 100 us: an inline unit holds
    it for tens of microseconds, so a wait that long means a long unit holds it."""
    for _ in range(_WRITERS_SPIN):
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            time.sleep(0.0001)
    return False


class _Busy(Exception):
    """An inline unit would have to wait (for the writers' lock, or SQLite's): it runs on a
    thread instead."""


def _is_busy(error: exc.OperationalError) -> bool:
    code = getattr(error.orig, "sqlite_errorcode", None)
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _is_full(error: exc.OperationalError) -> bool:
    return getattr(error.orig, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL


class SqliteUnits:
    """Runs units of work inline, falling back to threads when the database is busy."""

    def __init__(self, url: URL, *, shared_writers: bool = False) -> None:
        """``shared_writers``: other processes write to this database all the time (see the
        module's doc)."""
        self.engine = sqlite_engine(url)
        # The writers' lock file, opened twice: a lock is held per open file, so the loop's
        # inline writes and the writer thread's exclude each other too.
        self._writers_locks: tuple[int, ...] = ()
        if shared_writers and url.database and url.database != ":memory:":
            path = f"{url.database}-writers.lock"
            flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
            self._writers_locks = (os.open(path, flags, 0o600), os.open(path, flags, 0o600))
        self._inline: Connection | None = None
        self._writes_since_checkpoint = 0
        self._checkpointing: asyncio.Future[bool] | None = None
        self._truncation_owed = False  # a checkpoint failed, or a write found the disk full
        self._checkpoint_retry: asyncio.TimerHandle | None = None
        self._retry_seconds = _CHECKPOINT_RETRY_SECONDS
        self._closed = False
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="threadline-sqlite-writer")
        self._readers = ThreadPoolExecutor(
            _FALLBACK_READERS, thread_name_prefix="threadline-sqlite-reader"
        )

    async def run(
        self,
        write: bool,
        work: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: Mapping[str, object],
    ) -> T:
        try:
            while True:
                try:
                    result = self._run_inline(write, work, args, kwargs)
                    break
                except _Busy:
                    checkpoint = self._checkpointing
                    if checkpoint is None:  # another process holds the database
                        result = await self._on_thread(write, work, args, kwargs)
                        break
                    # This process's checkpoint holds it (a truncation keeps writers out until
                    # it ends): wait for it, then inline again. On the writer thread the unit
                    # would queue behind it, and every write arriving meanwhile would fail
                    # inline and queue behind that one, one at a time, long after it ended.
                    await asyncio.wait([checkpoint])  # its outcome is _checkpoint_done's
        except exc.OperationalError as error:
            self._note_failure(error)
            raise
        if write:
            self._count_write()
        return result

    def _run_inline(
        self,
        write: bool,
        work: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: Mapping[str, object],
    ) -> T:
        """The unit, here on the loop; ``_Busy`` when it must wait, which the loop never does."""
        connection = self._inline_connection()
        lock = self._writers_locks[0] if write and self._writers_locks else -1
        if lock >= 0 and not _take_briefly(lock):
            raise _Busy  # held long (a long unit)
        try:
            return _run_unit(connection, write, work, args, kwargs)
        except exc.OperationalError as error:
            if _is_busy(error):  # another process holds SQLite's lock (no busy timeout here)
                raise _Busy from error
            raise
        finally:
            if lock >= 0:
                fcntl.flock(lock, fcntl.LOCK_UN)

    async def run_on_thread(
        self,
        write: bool,
        work: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: Mapping[str, object],
    ) -> T:
        """A long unit, on the writer (or a reader) thread instead of inline on the loop."""
        try:
            result = await self._on_thread(write, work, args, kwargs)
        except exc.OperationalError as error:
            self._note_failure(error)
            raise
        if write:
            self._count_write()
        return result

    async def _on_thread(
        self,
        write: bool,
        work: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: Mapping[str, object],
    ) -> T:
        lock = self._writers_locks[1] if write and self._writers_locks else -1

        def unit() -> T:
            if lock >= 0:
                fcntl.flock(lock, fcntl.LOCK_EX)  # in turn with the other processes' writes
            try:
                with self.engine.connect() as connection:
                    return _run_unit(connection, write, work, args, kwargs)
            finally:
                if lock >= 0:
                    fcntl.flock(lock, fcntl.LOCK_UN)

        executor = self._writer if write else self._readers
        return await asyncio.get_running_loop().run_in_executor(executor, unit)

    def _inline_connection(self) -> Connection:
        if self._inline is None:
            connection = self.engine.connect()
            connection.exec_driver_sql("PRAGMA busy_timeout=0")
            connection.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
            connection.commit()
            self._inline = connection
        return self._inline

    def _count_write(self) -> None:
        self._writes_since_checkpoint += 1
        if self._writes_since_checkpoint >= _CHECKPOINT_EVERY_WRITES:
            self._start_checkpoint()

    def _note_failure(self, error: exc.OperationalError) -> None:
        if _is_full(error):
            # The WAL may hold what no checkpoint could copy: empty it once there is room.
            self._truncation_owed = True
            self._retry_checkpoint_later()

    def _start_checkpoint(self) -> None:
        if self._checkpointing is not None or self._closed:
            return
        self._writes_since_checkpoint = 0
        truncate = self._truncation_owed
        loop = asyncio.get_running_loop()
        done = loop.run_in_executor(self._writer, _checkpoint, self.engine, truncate)
        done.add_done_callback(self._checkpoint_done)
        self._checkpointing = done

    def _checkpoint_done(self, done: "asyncio.Future[bool]") -> None:
        self._checkpointing = None
        if done.cancelled():
            return
        error = done.exception()
        if error is None and done.result():
            self._truncation_owed = False
            self._retry_seconds = _CHECKPOINT_RETRY_SECONDS
            return
        if error is not None:
            logger.warning("SQLite checkpoint failed, retrying: %s", error)
        self._truncation_owed = True
        self._retry_checkpoint_later()

    def _retry_checkpoint_later(self) -> None:
        if self._checkpoint_retry is not None or self._closed:
            return
        loop = asyncio.get_running_loop()
        self._checkpoint_retry = loop.call_later(self._retry_seconds, self._retry_checkpoint)
        self._retry_seconds = min(self._retry_seconds * 2, _CHECKPOINT_RETRY_MAX_SECONDS)

    def _retry_checkpoint(self) -> None:
        self._checkpoint_retry = None
        self._start_checkpoint()

    def dispose(self) -> None:
        self._closed = True
        if self._checkpoint_retry is not None:
            self._checkpoint_retry.cancel()
            self._checkpoint_retry = None
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        for fd in self._writers_locks:
            os.close(fd)
        self._writers_locks = ()
        self.engine.dispose()


def _checkpoint(engine: Engine, truncate: bool = False) -> bool:
    """Whether the WAL is within bounds afterwards (False: a truncation readers held up).

    PASSIVE copies what it can without waiting for readers or blocking writers; TRUNCATE (when
    the WAL has grown too long, or ``truncate``: an earlier checkpoint failed) waits for the
    writer, copies everything and empties the WAL. Outside any transaction, so on the driver's
    connection directly."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        _busy, wal_frames, _copied = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if truncate or wal_frames >= _WAL_FRAMES_LIMIT:
            busy, _frames, _copied = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            return not busy
        return True
    finally:
        connection.close()
