"""Re-embedding's queue in-process, on a fresh database per test and backend: a server that dies
mid re-embedding leaves the file to another once its lease runs out, and the store records the
new model only when every file is on it; and with the real embedders, a server switched from
the default preset to ``static`` re-embeds the default's stores into 256-dimension vectors."""

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.databases import database
from tests.integration.test_ingestion import HeldRetrieval, Stack, build
from threadline.engine.retrieval.base import Indexed
from threadline.engine.retrieval.factory import build_retrieval
from threadline.settings import Settings
from threadline.storage import reembed_queue, store_files
from threadline.storage.database import Database
from threadline.storage.migrate import upgrade_to_head_async


class ModelRetrieval(HeldRetrieval):
    """The held retrieval, under a model name the test changes; re-embedding a file waits for
    ``reembed_gate`` and is counted."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.model = "model-a"
        self.reembed_gate = asyncio.Event()
        self.reembedded: list[str] = []

    @property
    def embedding_model(self) -> str:
        return self.model

    async def reembed_file(self, **kwargs: Any) -> Indexed | None:
        await self.reembed_gate.wait()
        indexed = await super().reembed_file(**kwargs)
        self.reembedded.append(kwargs["file_id"])
        return indexed


@pytest.fixture
def fresh_url(backend: str) -> Iterator[str]:
    with database(backend) as url:
        yield url


async def store_model(stack: Stack, store_id: str) -> str | None:
    statement = text("SELECT embedding_model FROM vector_stores WHERE id = :id")
    return await stack.db.read(lambda c: c.execute(statement, {"id": store_id}).scalar())


def test_a_dead_servers_reembedding_is_taken_up_when_its_lease_runs_out(
    fresh_url: str, tmp_path: Path
) -> None:
    async def main() -> None:
        await upgrade_to_head_async(fresh_url)
        retrieval = ModelRetrieval(tmp_path / "index")
        retrieval.release.set()
        first = build(fresh_url, tmp_path, retrieval, concurrency=2)
        await first.ingestion.start()
        file_ids = [await first.upload(f"f{i}.txt", f"file {i}".encode()) for i in range(2)]
        store_id = await first.store(file_ids)
        assert (await first.settled(store_id))["completed"] == 2
        await first.ingestion.stop()
        rows = [await first.db.read(store_files.get, store_id, f) for f in file_ids]
        assert {row["embedding_model"] for row in rows if row} == {"model-a"}
        assert await store_model(first, store_id) == "model-a"

        # The model changes; a server claims one file and dies.
        retrieval.model = "model-b"
        keys = await first.db.read(reembed_queue.claimable, "model-b", time.time(), 10)
        assert {key.file_id for key in keys} == set(file_ids)
        now = time.time()
        assert await first.db.write(reembed_queue.claim, keys[0], "model-b", "dead", now, now + 1)
        assert await first.db.read(reembed_queue.pending, "model-b") == 2
        assert await first.db.read(reembed_queue.pending, "model-a") == 0

        survivor = build(
            fresh_url, tmp_path, retrieval, owner="survivor", lease_seconds=1.0, poll_seconds=0.1
        )
        retrieval.reembed_gate.set()
        await survivor.ingestion.start()
        try:
            deadline = time.monotonic() + 15
            while await survivor.db.read(reembed_queue.pending, "model-b"):
                assert time.monotonic() < deadline, "re-embedding did not end"
                await asyncio.sleep(0.05)
            assert sorted(retrieval.reembedded) == sorted(file_ids)
            rows = [await survivor.db.read(store_files.get, store_id, f) for f in file_ids]
            assert all(row and row["status"] == "completed" for row in rows)
            assert all(row and row["lease_owner"] is None for row in rows)
            assert {row["embedding_model"] for row in rows if row} == {"model-b"}
            assert await store_model(survivor, store_id) == "model-b"
        finally:
            await survivor.ingestion.stop()
            await survivor.db.dispose()
            await first.db.dispose()

    asyncio.run(asyncio.wait_for(main(), 60))


async def passage_sizes(db: Database, store_id: str) -> set[tuple[str, int]]:
    """(model, vector size) of the store's passages in the search index."""
    statement = text("SELECT DISTINCT model, dims FROM search_passages WHERE store_id = :s")
    return await db.read(
        lambda c: {(r[0], int(r[1])) for r in c.execute(statement, {"s": store_id})}
    )


def test_switching_from_the_default_preset_to_static_reembeds(
    fresh_url: str, tmp_path: Path
) -> None:
    ferry = "The ferry to Skerryvore leaves at dawn on Tuesdays from the west pier."

    async def main() -> None:
        await upgrade_to_head_async(fresh_url)
        db = Database(fresh_url)
        default = build_retrieval(Settings(data_dir=tmp_path), db)
        first = build(fresh_url, tmp_path, default, db=db)
        await first.ingestion.start()
        try:
            file_id = await first.upload("ferry.md", ferry.encode())
            store_id = await first.store([file_id])
            assert (await first.settled(store_id))["completed"] == 1
            assert await store_model(first, store_id) == "all-MiniLM-L6-v2"
            assert await passage_sizes(db, store_id) == {("all-MiniLM-L6-v2", 384)}
        finally:
            await first.ingestion.stop()
            await default.aclose()
            await db.dispose()

        db = Database(fresh_url)
        static = build_retrieval(Settings(data_dir=tmp_path, embedding_preset="static"), db)
        model = static.embedding_model
        assert model == "wordllama-l2-supercat-256"
        second = build(fresh_url, tmp_path, static, db=db, poll_seconds=0.1)
        await second.ingestion.start()
        try:
            deadline = time.monotonic() + 30
            while await store_model(second, store_id) != model:
                assert time.monotonic() < deadline, "re-embedding did not end"
                await asyncio.sleep(0.05)
            row = await db.read(store_files.get, store_id, file_id)
            assert row and row["status"] == "completed" and row["embedding_model"] == model
            assert await passage_sizes(db, store_id) == {(model, 256)}
            hits = await static.search(
                store_ids=[store_id], queries=["ferry pier dawn"], max_results=1, mode="vector"
            )
            assert [hit.file_id for hit in hits] == [file_id]
        finally:
            await second.ingestion.stop()
            await static.aclose()
            await db.dispose()

    asyncio.run(asyncio.wait_for(main(), 60))
