"""Ingestion, removals and expiry in-process, on a fresh database per test and backend, with a
``Retrieval`` whose indexing the test holds and releases: concurrency stays bounded, nothing
waits in the request, a crashed server's files are taken up again, deleting or cancelling
mid-ingestion leaves no index entries, a failure harms nothing else, the sweeper expires files
and stores and finishes interrupted removals; and the service calls file_search in runs uses."""

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.databases import database
from threadline import clock, ids
from threadline.engine.ingestion import Ingestion
from threadline.engine.retrieval.base import ChunkingStrategy, Indexed, Retrieval
from threadline.engine.retrieval.simple import SimpleRetrieval
from threadline.providers.blobs.local import LocalBlobStore
from threadline.schemas.vector_stores import CreateFileBatch, CreateVectorStore, UploadForm
from threadline.services.file_batches import FileBatchService
from threadline.services.file_search import FileSearch
from threadline.services.files import FileService
from threadline.services.idempotency import IdempotencyKeys
from threadline.services.removals import Removals
from threadline.services.sweeper import Sweeper
from threadline.services.vector_stores import VectorStoreService
from threadline.storage import ingestion_queue as queue
from threadline.storage import store_files
from threadline.storage.database import Database
from threadline.storage.files import owe_removal
from threadline.storage.migrate import upgrade_to_head_async

PROJECT = "proj_ingestion_test"


class HeldRetrieval(SimpleRetrieval):
    """Indexes like the simple one, but only once ``release`` is set, and tells how many files
    it indexed at once; ``fail`` names files whose indexing raises."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.release = asyncio.Event()
        self.active = 0
        self.most_active = 0
        self.started = 0
        self.fail: set[str] = set()

    async def index_file(self, **kwargs: Any) -> Indexed:
        self.active += 1
        self.started += 1
        self.most_active = max(self.most_active, self.active)
        try:
            await self.release.wait()
            if kwargs["file_id"] in self.fail:
                raise RuntimeError("parser crashed")
            return await super().index_file(**kwargs)
        finally:
            self.active -= 1

    def indexed(self) -> set[tuple[str, str]]:
        """(store, file) of every file with index entries, on disk."""
        root = self._root
        return {(p.parent.name, p.stem) for p in root.glob("*/*.json")} if root.exists() else set()


@dataclass
class Stack:
    db: Database
    blobs: LocalBlobStore
    retrieval: Any  # a HeldRetrieval, or a real one (test_reembedding's preset switch)
    ingestion: Ingestion
    files: FileService
    stores: VectorStoreService
    batches: FileBatchService
    search: FileSearch
    sweeper: Sweeper

    async def upload(self, name: str, content: bytes, **form: Any) -> str:
        file_id = ids.file_id()
        writer = self.blobs.writer(file_id)
        await writer.write(content)
        await writer.commit()
        upload = UploadForm.model_validate({"purpose": "assistants", **form})
        await self.files.create(PROJECT, file_id, filename=name, size=len(content), form=upload)
        return file_id

    async def store(self, file_ids: list[str]) -> str:
        request = CreateVectorStore.model_validate({"file_ids": file_ids})
        return (await self.stores.create(PROJECT, request)).id

    async def counts(self, store_id: str) -> dict[str, int]:
        return (await self.stores.retrieve(PROJECT, store_id)).file_counts.model_dump()

    async def settled(self, store_id: str, timeout: float = 15.0) -> dict[str, int]:
        deadline = time.monotonic() + timeout
        while (found := await self.counts(store_id))["in_progress"] and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return found

    async def sql(self, statement: str, **params: Any) -> None:
        await self.db.write(lambda connection: connection.execute(text(statement), params))

    async def close(self) -> None:
        self.retrieval.release.set()
        await self.sweeper.stop()
        await self.ingestion.stop()
        await self.db.dispose()


def build(
    url: str, data: Path, retrieval: Retrieval, *, db: Database | None = None, **options: Any
) -> Stack:
    """The services on ``url`` (on ``db`` when given: the one a real retrieval's index uses)."""
    db = db or Database(url)
    blobs = LocalBlobStore(data / "files")
    ingestion = Ingestion(db, retrieval, blobs, owner=options.pop("owner", "test-owner"), **options)
    removals = Removals(db, retrieval, blobs)
    search = FileSearch(db, retrieval)
    files = FileService(db, blobs, removals)
    stores = VectorStoreService(db, ingestion, removals, search)
    sweeper = Sweeper(files, stores, removals, blobs, IdempotencyKeys(db))
    batches = FileBatchService(db, ingestion)
    return Stack(db, blobs, retrieval, ingestion, files, stores, batches, search, sweeper)


@pytest.fixture
def fresh_url(backend: str) -> Iterator[str]:
    with database(backend) as url:
        yield url


@pytest.fixture
def run(fresh_url: str, tmp_path: Path) -> Callable[..., Any]:
    """``run(scenario, **ingestion_options)``: the scenario gets a started stack."""

    def go(scenario: Callable[[Stack], Awaitable[None]], **options: Any) -> None:
        async def main() -> None:
            await upgrade_to_head_async(fresh_url)
            retrieval = HeldRetrieval(tmp_path / "index")
            stack = build(fresh_url, tmp_path, retrieval, **options)
            await stack.ingestion.start()
            try:
                await asyncio.wait_for(scenario(stack), 60)
            finally:
                await stack.close()

        asyncio.run(main())

    return go


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def test_concurrency_is_bounded_and_requests_never_wait(run):
    async def scenario(stack: Stack) -> None:
        file_ids = [await stack.upload(f"f{i}.txt", f"file number {i}".encode()) for i in range(6)]
        store_id = await stack.store(file_ids)  # returns while every file still waits
        await until(lambda: stack.retrieval.active == 2)
        await asyncio.sleep(0.2)
        assert stack.retrieval.most_active == 2
        assert await stack.counts(store_id) == {
            "in_progress": 6,
            "completed": 0,
            "failed": 0,
            "cancelled": 0,
            "total": 6,
        }
        stack.retrieval.release.set()
        assert (await stack.settled(store_id))["completed"] == 6
        assert stack.retrieval.most_active == 2

    run(scenario, concurrency=2)


def test_a_crashed_servers_file_is_taken_up_when_its_lease_runs_out(run):
    async def scenario(stack: Stack) -> None:
        await stack.ingestion.stop()  # this test drives the queue by hand first
        file_id = await stack.upload("a.txt", b"alpha")
        store_id = await stack.store([file_id])
        [key] = await stack.db.read(queue.claimable, time.time(), 10)
        now = time.time()
        assert await stack.db.write(queue.claim, key, "dead-server", now, now + 1.0)

        survivor = build(
            stack.db.url,
            stack.blobs.root.parent,
            stack.retrieval,
            owner="survivor",
            concurrency=1,
            lease_seconds=1.0,
            poll_seconds=0.1,
        )
        stack.retrieval.release.set()
        await survivor.ingestion.start()
        try:
            assert (await survivor.settled(store_id))["completed"] == 1
        finally:
            await survivor.ingestion.stop()
            await survivor.db.dispose()

    run(scenario, concurrency=1)


def test_a_stopped_server_releases_its_files_for_the_next_start(run):
    async def scenario(stack: Stack) -> None:
        store_id = await stack.store([await stack.upload("a.txt", b"alpha")])
        await until(lambda: stack.retrieval.active == 1)
        await stack.ingestion.stop()  # graceful: the file is left in progress, unclaimed
        assert (await stack.counts(store_id))["in_progress"] == 1
        [key] = await stack.db.read(queue.claimable, time.time(), 10)
        assert key.file_id

    run(scenario, concurrency=1)


def test_deleting_a_store_mid_ingestion_leaves_nothing(run):
    async def scenario(stack: Stack) -> None:
        file_ids = [await stack.upload(f"f{i}.txt", b"content") for i in range(3)]
        store_id = await stack.store(file_ids)
        await until(lambda: stack.retrieval.active == 2)

        await stack.stores.delete(PROJECT, store_id)
        # The two files being indexed write their entries only now, after the store's removal.
        stack.retrieval.release.set()
        await until(lambda: stack.retrieval.active == 0)
        await asyncio.sleep(0.1)

        assert not any(store == store_id for store, _ in stack.retrieval.indexed())
        assert await stack.db.read(queue.claimable, time.time() + 3600, 10) == []

    run(scenario, concurrency=2)


def test_cancelling_a_batch_mid_ingestion(run):
    async def scenario(stack: Stack) -> None:
        store_id = await stack.store([])
        file_ids = [await stack.upload(f"f{i}.txt", b"content") for i in range(4)]
        batch = await stack.batches.create(
            PROJECT, store_id, CreateFileBatch.model_validate({"file_ids": file_ids})
        )
        await until(lambda: stack.retrieval.active == 2)

        cancelled = await stack.batches.cancel(PROJECT, store_id, batch.id)

        assert cancelled.status == "cancelled"
        assert cancelled.file_counts.cancelled == 4 and cancelled.file_counts.in_progress == 0
        stack.retrieval.release.set()
        await until(lambda: stack.retrieval.active == 0)
        await asyncio.sleep(0.2)
        assert stack.retrieval.indexed() == set()
        assert stack.retrieval.started == 2  # the two waiting files never started
        assert await stack.counts(store_id) == {
            "in_progress": 0,
            "completed": 0,
            "failed": 0,
            "cancelled": 4,
            "total": 4,
        }

    run(scenario, concurrency=2)


def test_a_crashing_parser_fails_its_file_only(run):
    async def scenario(stack: Stack) -> None:
        bad = await stack.upload("bad.txt", b"boom")
        good = await stack.upload("good.txt", b"fine words")
        stack.retrieval.fail.add(bad)
        stack.retrieval.release.set()
        store_id = await stack.store([bad, good])
        counts = await stack.settled(store_id)
        assert counts["completed"] == 1 and counts["failed"] == 1
        from threadline.services.vector_store_files import get_store_file

        record = await stack.db.read(get_store_file, PROJECT, store_id, bad)
        assert record["last_error"] == {
            "code": "server_error",
            "message": "The file could not be processed.",
        }
        assert stack.retrieval.indexed() == {(store_id, good)}

    run(scenario, concurrency=2)


def test_queued_again_while_indexing_indexes_once_more(run):
    async def scenario(stack: Stack) -> None:
        file_id = await stack.upload("a.txt", b"alpha")
        store_id = await stack.store([file_id])
        await until(lambda: stack.retrieval.active == 1)
        batch = await stack.batches.create(
            PROJECT, store_id, CreateFileBatch.model_validate({"file_ids": [file_id]})
        )
        await asyncio.sleep(0.2)
        assert stack.retrieval.started == 1  # the new job waits for the earlier one to end
        stack.retrieval.release.set()
        assert await stack.settled(store_id) == {
            "in_progress": 0,
            "completed": 1,
            "failed": 0,
            "cancelled": 0,
            "total": 1,
        }
        assert stack.retrieval.started == 2
        done = await stack.batches.retrieve(PROJECT, store_id, batch.id)
        assert done.status == "completed" and done.file_counts.completed == 1

    run(scenario, concurrency=2, poll_seconds=0.05)


def test_progress_is_fenced_like_the_outcome_and_starts_over_when_queued_again(run):
    async def scenario(stack: Stack) -> None:
        await stack.ingestion.stop()  # the queue is driven by hand
        file_id = await stack.upload("a.txt", b"alpha")
        store_id = await stack.store([file_id])
        [key] = await stack.db.read(queue.claimable, time.time(), 10)
        now = time.time()
        assert await stack.db.write(queue.claim, key, "server-a", now, now + 60)

        async def progress() -> tuple[int | None, int | None]:
            row = await stack.db.read(store_files.get, store_id, file_id)
            assert row is not None
            return row["chunks_done"], row["chunks_total"]

        assert await progress() == (None, None)
        assert await stack.db.write(queue.record_progress, key, "server-a", 3, 10)
        assert not await stack.db.write(queue.record_progress, key, "server-b", 9, 10)
        assert await progress() == (3, 10)

        await stack.batches.create(
            PROJECT, store_id, CreateFileBatch.model_validate({"file_ids": [file_id]})
        )
        assert await progress() == (None, None)  # queued again: it starts over
        assert not await stack.db.write(queue.record_progress, key, "server-a", 5, 10)
        assert await progress() == (None, None)

    run(scenario, concurrency=1)


def test_sweeper_expires_files_and_stores_and_finishes_removals(run):
    async def scenario(stack: Stack) -> None:
        stack.retrieval.release.set()
        expiring = await stack.upload(
            "old.txt", b"old words", expires_after={"anchor": "created_at", "seconds": 3600}
        )
        kept = await stack.upload("kept.txt", b"kept words")
        store_id = await stack.store([expiring, kept])
        await stack.settled(store_id)
        await stack.sql("UPDATE files SET expires_at = 1 WHERE id = :id", id=expiring)
        await stack.sql("UPDATE vector_stores SET expires_at = 1 WHERE id = :id", id=store_id)
        # A delete interrupted after its transaction: the bytes of a file are still owed.
        orphan = stack.blobs.writer("file-orphan")
        await orphan.write(b"x")
        await orphan.commit()
        await stack.db.write(owe_removal, clock.now() - 3600, file_id="file-orphan")

        await stack.sweeper.sweep(orphaned_after_seconds=60)

        assert not stack.blobs.path(expiring).exists()
        assert not stack.blobs.path("file-orphan").exists()
        assert stack.blobs.path(kept).exists()
        assert (store_id, expiring) not in stack.retrieval.indexed()
        store = await stack.stores.retrieve(PROJECT, store_id)
        assert store.status == "expired"
        assert store.file_counts.total == 1 and store.file_counts.completed == 1

    run(scenario)


def test_stores_for_a_run_and_searching_them(run):
    async def scenario(stack: Stack) -> None:
        from threadline.services.attachments import add_to_thread_store
        from threadline.storage.repositories import ThreadRepository

        stack.retrieval.release.set()
        volcano = await stack.upload("volcano.txt", b"Mount Etna erupts on Sicily.")
        tea = await stack.upload("tea.txt", b"Oolong tea is partially oxidised.")
        assistant_store = await stack.store([volcano])
        gone = await stack.store([])
        thread_id = ids.thread_id()
        now = clock.now()
        record = {
            "id": thread_id,
            "project_id": PROJECT,
            "created_at": now,
            "tool_resources": {},
            "metadata": {},
        }
        await stack.db.write(ThreadRepository().insert, record)
        await stack.db.write(add_to_thread_store, PROJECT, thread_id, [tea], now)
        await stack.stores.delete(PROJECT, gone)
        resources = {"file_search": {"vector_store_ids": [assistant_store, gone]}}

        store_ids = await stack.search.stores_for_run(PROJECT, resources, thread_id)

        assert store_ids[0] == assistant_store and len(store_ids) == 2
        thread_store = store_ids[1]
        await stack.settled(thread_store)
        assert await stack.search.files_in_progress(PROJECT, store_ids) == 0
        found = await stack.search.search(
            PROJECT, store_ids, ["oolong tea"], max_num_results=5, score_threshold=0.0
        )
        assert [(chunk.file_id, chunk.filename) for chunk in found][:1] == [(tea, "tea.txt")]
        assert all(0 <= chunk.score <= 1 for chunk in found)

    run(scenario)


def test_chunking_reaches_the_retrieval(run, tmp_path: Path):
    seen: list[ChunkingStrategy] = []

    async def scenario(stack: Stack) -> None:
        original = stack.retrieval.index_file

        async def spy(**kwargs: Any) -> Indexed:
            seen.append(kwargs["chunking"])
            return await original(**kwargs)

        stack.retrieval.index_file = spy  # type: ignore[method-assign]
        stack.retrieval.release.set()
        request = CreateVectorStore.model_validate(
            {
                "file_ids": [await stack.upload("a.txt", b"alpha")],
                "chunking_strategy": {
                    "type": "static",
                    "static": {"max_chunk_size_tokens": 300, "chunk_overlap_tokens": 0},
                },
            }
        )
        store = await stack.stores.create(PROJECT, request)
        await stack.settled(store.id)
        assert seen == [ChunkingStrategy(max_chunk_size_tokens=300, chunk_overlap_tokens=0)]

    run(scenario)
