"""Several processes writing one SQLite database (``serve --workers N``): writers take turns on
the writers' lock file; an inline write behind a long unit goes to the writer thread, leaving the
event loop free. Two ``SqliteUnits`` on one file stand for two processes (a lock is held per
open file, so they exclude each other as processes do)."""

import asyncio
import threading
from pathlib import Path

from sqlalchemy import Connection, text
from sqlalchemy.engine.url import make_url

from threadline.storage.sqlite import SqliteUnits


def _create(connection: Connection) -> None:
    connection.execute(text("CREATE TABLE t (v TEXT)"))


def _insert(connection: Connection, value: str) -> None:
    connection.execute(text("INSERT INTO t VALUES (:v)"), {"v": value})


def _count(connection: Connection) -> int:
    return int(connection.execute(text("SELECT count(*) FROM t")).scalar_one())


def _units(path: Path) -> SqliteUnits:
    return SqliteUnits(make_url(f"sqlite:///{path}"), shared_writers=True)


def test_interleaved_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    first, second = _units(path), _units(path)

    async def scenario() -> int:
        await first.run(True, _create, (), {})
        writes = [
            units.run(True, _insert, (f"{name}{n}",), {})
            for n in range(200)
            for name, units in (("a", first), ("b", second))
        ]
        await asyncio.gather(*writes)
        return await second.run(False, _count, (), {})

    try:
        assert asyncio.run(scenario()) == 400
        assert Path(f"{path}-writers.lock").exists()
    finally:
        first.dispose()
        second.dispose()


def test_a_write_behind_a_long_unit_waits_off_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    first, second = _units(path), _units(path)
    holding, release = threading.Event(), threading.Event()

    def long_unit(connection: Connection) -> None:
        _insert(connection, "long")
        holding.set()
        release.wait(10)

    async def scenario() -> tuple[bool, int]:
        await first.run(True, _create, (), {})
        long = asyncio.create_task(first.run_on_thread(True, long_unit, (), {}))
        await asyncio.to_thread(holding.wait, 10)
        write = asyncio.create_task(second.run(True, _insert, ("behind",), {}))
        await asyncio.sleep(0.05)
        # The loop is free while the write waits: this coroutine ran, the write is pending.
        waiting = not write.done()
        release.set()
        await asyncio.gather(long, write)
        return waiting, await second.run(False, _count, (), {})

    try:
        assert asyncio.run(scenario()) == (True, 2)
    finally:
        release.set()
        first.dispose()
        second.dispose()
