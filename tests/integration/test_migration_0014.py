"""Migration 0014 on a database with stores in it: each completed store file gets the model its
index entries record; files not indexed (in progress, failed) get none."""

import asyncio
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from alembic import command
from sqlalchemy import insert, select

from tests.databases import database
from threadline.providers.vector_index.base import FileEntry
from threadline.storage.database import Database
from threadline.storage.file_tables import VectorStoreFileRow, VectorStoreRow
from threadline.storage.migrate import alembic_config, upgrade_to_head
from threadline.storage.search_index_postgres import PostgresSearchIndex
from threadline.storage.search_index_sqlite import SqliteSearchIndex

_stores = VectorStoreRow.__table__
_store_files = VectorStoreFileRow.__table__


@pytest.fixture
def fresh_url(backend: str) -> Iterator[str]:
    with database(backend) as url:
        yield url


def _store_file(file_id: str, status: str) -> dict[str, Any]:
    return {
        "vector_store_id": "vs_m",
        "file_id": file_id,
        "project_id": "proj_m",
        "created_at": 1,
        "status": status,
        "usage_bytes": 0,
        "chunking_strategy": {"type": "static", "static": {}},
        "token": f"ing_{file_id}",
    }


def test_completed_store_files_get_the_model_their_entries_record(fresh_url: str) -> None:
    command.upgrade(alembic_config(fresh_url), "0013")

    async def fill() -> None:
        db = Database(fresh_url)
        index = SqliteSearchIndex(db) if db.is_sqlite else PostgresSearchIndex(db)
        counters = {f"files_{k}": 0 for k in ("in_progress", "completed", "failed", "cancelled")}
        store = {"id": "vs_m", "project_id": "proj_m", "created_at": 1, "usage_bytes": 0}
        rows = [_store_file("file-done", "completed"), _store_file("file-queued", "in_progress")]
        try:
            await db.write(
                lambda c: c.execute(insert(_stores).values(**store, **counters, files_total=0))
            )
            # Only the columns 0013 has (the table's model already has the new one).
            await db.write(lambda c: c.execute(insert(_store_files), rows))
            await index.replace_file(
                FileEntry("vs_m", "file-done", "model-a", ["text"], np.zeros((0, 0)), [])
            )
        finally:
            await index.close()
            await db.dispose()

    asyncio.run(fill())
    upgrade_to_head(fresh_url)

    async def read() -> dict[str, str | None]:
        db = Database(fresh_url)
        try:
            query = select(_store_files.c.file_id, _store_files.c.embedding_model)
            return await db.read(lambda c: {r[0]: r[1] for r in c.execute(query)})
        finally:
            await db.dispose()

    assert asyncio.run(read()) == {"file-done": "model-a", "file-queued": None}
