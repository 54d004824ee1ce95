"""The SQLite WAL stays bounded: a passive checkpoint that leaves a long WAL behind is followed by
one that empties it (a steady stream of writes never lets a passive one finish), and a checkpoint
a full disk prevented is retried until the WAL is emptied."""

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, exc, text
from sqlalchemy.engine.url import make_url

from threadline.storage import sqlite as sqlite_units


def test_a_long_wal_is_truncated(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sqlite_units, "_WAL_FRAMES_LIMIT", 50)
    path = tmp_path / "wal.db"
    engine = sqlite_units.sqlite_engine(make_url(f"sqlite:///{path}"))
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
            connection.commit()
            with connection.begin():
                connection.execute(text("CREATE TABLE t (v TEXT)"))
            insert = text("INSERT INTO t VALUES (:v)")
            for n in range(100):
                with connection.begin():
                    connection.execute(insert, {"v": f"{n}" + "x" * 4000})
        wal = Path(f"{path}-wal")
        assert wal.stat().st_size > 50 * 4096
        sqlite_units._checkpoint(engine)
        assert wal.stat().st_size == 0
        with sqlite3.connect(path) as check:
            assert check.execute("SELECT count(*) FROM t").fetchone() == (100,)
    finally:
        engine.dispose()


def _create(connection: Connection) -> None:
    connection.execute(text("CREATE TABLE t (v TEXT)"))


def _insert(connection: Connection, value: str) -> None:
    connection.execute(text("INSERT INTO t VALUES (:v)"), {"v": value})


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(3000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


def test_a_failed_checkpoint_is_retried_until_the_wal_is_emptied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint fails (the disk is full: the WAL cannot be copied out): it is retried, as a
    truncation, without waiting for hundreds more writes."""
    monkeypatch.setattr(sqlite_units, "_CHECKPOINT_EVERY_WRITES", 20)
    monkeypatch.setattr(sqlite_units, "_CHECKPOINT_RETRY_SECONDS", 0.01)
    checkpoint = sqlite_units._checkpoint
    calls: list[bool] = []

    def full_once(engine: Engine, truncate: bool = False) -> bool:
        calls.append(truncate)
        if len(calls) == 1:
            full = sqlite3.OperationalError("database or disk is full")
            raise exc.OperationalError("PRAGMA wal_checkpoint(PASSIVE)", None, full)
        return checkpoint(engine, truncate)

    monkeypatch.setattr(sqlite_units, "_checkpoint", full_once)
    path = tmp_path / "wal.db"
    wal = Path(f"{path}-wal")

    async def scenario() -> None:
        units = sqlite_units.SqliteUnits(make_url(f"sqlite:///{path}"))
        try:
            await units.run(True, _create, (), {})
            for n in range(19):  # the 20th write asks for a checkpoint
                await units.run(True, _insert, (f"{n}" + "x" * 4000,), {})
            assert wal.stat().st_size > 0
            await _until(lambda: len(calls) >= 2 and wal.stat().st_size == 0)
            assert calls[:2] == [False, True], "the retry truncates"
        finally:
            units.dispose()

    asyncio.run(scenario())


def test_a_write_on_a_full_database_owes_a_truncation(tmp_path: Path) -> None:
    """A write fails for lack of space (SQLite's own SQLITE_FULL, through ``max_page_count``):
    once there is room again the WAL is emptied, with no further write to trigger it."""
    path = tmp_path / "wal.db"
    wal = Path(f"{path}-wal")

    async def scenario() -> None:
        units = sqlite_units.SqliteUnits(make_url(f"sqlite:///{path}"))
        try:
            await units.run(True, _create, (), {})
            for n in range(10):
                await units.run(True, _insert, (f"{n}" + "x" * 4000,), {})
            inline = units._inline_connection()
            inline.exec_driver_sql("PRAGMA max_page_count=1")  # no room to grow: "full"
            inline.commit()
            with pytest.raises(exc.OperationalError, match="full"):
                await units.run(True, _insert, ("y" * 40_000,), {})
            assert wal.stat().st_size > 0
            inline.exec_driver_sql("PRAGMA max_page_count=1073741823")  # room again
            inline.commit()
            await _until(lambda: wal.stat().st_size == 0)
        finally:
            units.dispose()

    asyncio.run(scenario())


def test_writes_that_meet_a_truncation_wait_for_it_and_stay_inline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a truncating checkpoint holds the database, inline writes wait for it and then run
    inline again, rather than queuing one after another on the writer thread (where every
    write arriving meanwhile followed them: a burst of creates stalled for 0.4 s)."""
    path = tmp_path / "wal.db"
    holding = threading.Event()

    def truncating(engine: Engine, truncate: bool = False) -> bool:
        connection = engine.raw_connection()
        try:
            connection.execute("BEGIN IMMEDIATE")  # writers are held back, as by TRUNCATE
            holding.set()
            time.sleep(0.2)
            connection.execute("COMMIT")
            return True
        finally:
            connection.close()

    async def scenario() -> None:
        units = sqlite_units.SqliteUnits(make_url(f"sqlite:///{path}"))
        on_thread: list[object] = []

        async def spy(*args: object) -> None:
            on_thread.append(args)
            raise AssertionError("a write went to the writer thread")

        try:
            await units.run(True, _create, (), {})
            monkeypatch.setattr(sqlite_units, "_checkpoint", truncating)
            monkeypatch.setattr(units, "_on_thread", spy)
            units._start_checkpoint()
            assert await asyncio.to_thread(holding.wait, 5)
            writes = (units.run(True, _insert, (f"{n}",), {}) for n in range(20))
            await asyncio.gather(*writes)
            assert on_thread == []
            assert units._checkpointing is None
            count = await units.run(False, _count, (), {})
            assert count == 20
        finally:
            units.dispose()

    asyncio.run(scenario())


def _count(connection: Connection) -> int:
    return int(connection.execute(text("SELECT count(*) FROM t")).scalar_one())
