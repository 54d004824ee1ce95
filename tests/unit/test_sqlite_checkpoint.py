"""The SQLite WAL stays bounded: a passive checkpoint that leaves a long WAL behind is followed by
one that empties it (a steady stream of writes never lets a passive one finish)."""

import sqlite3
from pathlib import Path

from sqlalchemy import text
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
