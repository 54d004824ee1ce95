"""Background ingestion: vector-store files are parsed, chunked, embedded and indexed here, never
in a request, at most ``concurrency`` files at a time per server.

The queue is the database (``storage/ingestion_queue.py``): a file added to a store is a row
``in_progress``; a server claims it with a lease, indexes it through the ``Retrieval`` seam and
records the outcome in the same transaction as the store's and batch's counts. A file that
cannot be parsed ends ``failed`` with ``last_error`` and nothing else is touched. A server that
dies leaves its files claimed until their leases run out; then any server takes them up again.

A file deleted or cancelled while it is being indexed is not interrupted: the indexing may be
running in a thread that a cancelled task would not stop, and could write after any cleanup.
It is left to finish; recording its outcome then finds the file gone or cancelled, and removes
what it wrote. A file queued again meanwhile waits for the earlier job to end, so two jobs never
write one file's entries at once.

Slots that files to ingest leave free re-embed files indexed with another embedding model than
the server's (``engine/reembedding.py``), under the same leases."""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from threadline.engine.ingestion_progress import ProgressWriter
from threadline.engine.reembedding import Reembedding
from threadline.engine.retrieval.base import ChunkingStrategy, FileRejected, Retrieval
from threadline.providers.blobs.base import BlobStore
from threadline.records.files import Attributes, StoreFileError
from threadline.storage import ingestion_queue as queue
from threadline.storage.database import Database
from threadline.storage.ingestion_queue import JobKey, Outcome

logger = logging.getLogger("threadline.ingestion")

_SERVER_ERROR: StoreFileError = {
    "code": "server_error",
    "message": "The file could not be processed.",
}


Renew = Callable[[JobKey, float], Awaitable[object]]  # (the job, its lease's new end)


@dataclass
class _Job:
    key: JobKey
    renew: Renew
    task: "asyncio.Task[None]" = field(init=False)


class Ingestion:
    def __init__(
        self,
        db: Database,
        retrieval: Retrieval,
        blobs: BlobStore,
        *,
        owner: str,
        concurrency: int = 2,
        lease_seconds: float = 60.0,
        poll_seconds: float = 1.0,
        release_leases_at_start: bool = False,
    ) -> None:
        self._db = db
        self._retrieval = retrieval
        self._blobs = blobs
        self._owner = owner
        self._concurrency = concurrency
        self._lease_seconds = lease_seconds
        self._poll_seconds = poll_seconds
        # One server per SQLite database: leases left by its previous process are stale.
        self._release_at_start = release_leases_at_start
        self._running: dict[tuple[str, str], _Job] = {}
        self._wakeup = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._stopping = False
        # Files embedded with another model than the retrieval's, embedded again in the slots
        # new files leave free (``engine/reembedding.py``).
        self._reembedding = Reembedding(db, retrieval, owner=owner, lease_seconds=lease_seconds)

    async def start(self) -> None:
        if self._concurrency <= 0:
            return
        if self._release_at_start:
            await release_ingestion_leases(self._db)
        self._loops = [
            asyncio.create_task(self._claim_loop(), name="threadline-ingestion-claim"),
            asyncio.create_task(self._lease_loop(), name="threadline-ingestion-leases"),
        ]

    def wake(self) -> None:
        """Files may be waiting: look now rather than at the next poll."""
        self._wakeup.set()

    async def stop(self) -> None:
        self._stopping = True
        for loop in self._loops:
            loop.cancel()
        tasks = [job.task for job in self._running.values()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        for loop in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        if self._loops:
            # The next start (of this server or another) takes these files up at once.
            with contextlib.suppress(Exception):
                await self._db.write(queue.release, self._owner)

    # -- claiming ------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        while not self._stopping:
            self._wakeup.clear()
            try:
                await self._claim_available()
            except Exception:
                logger.exception("claiming files to ingest failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._poll_seconds)

    async def _claim_available(self) -> None:
        while not self._stopping and len(self._running) < self._concurrency:
            limit = self._concurrency * 2
            keys = await self._db.read(queue.claimable, time.time(), limit)
            started = 0
            for key in keys:
                if len(self._running) >= self._concurrency:
                    return
                if (key.store_id, key.file_id) in self._running:
                    # Ours already (its lease renewal is merely late), or queued again while an
                    # earlier job runs: claimed once that one ends.
                    continue
                now = time.time()
                if not await self._db.write(
                    queue.claim, key, self._owner, now, now + self._lease_seconds
                ):
                    continue
                self._start(key, self._run, self._renew)
                started += 1
            if started == 0 or len(keys) < limit:
                break
        # Slots new files leave free re-embed files (after a change of embedding model), all
        # but one of them: a file added meanwhile never waits for a re-embedding to end.
        reembedding = sum(job.renew == self._reembedding.renew for job in self._running.values())
        free = min(
            self._concurrency - len(self._running),
            max(1, self._concurrency - 1) - reembedding,
        )
        if not self._stopping and free > 0:
            for key in await self._reembedding.claim(free, self._running):
                self._start(key, self._reembedding.run, self._reembedding.renew)

    def _start(self, key: JobKey, work: Callable[[JobKey], Awaitable[None]], renew: Renew) -> None:
        slot = (key.store_id, key.file_id)
        job = _Job(key, renew)
        job.task = asyncio.create_task(work(key), name=f"ingest-{key.file_id}")
        self._running[slot] = job

        def done(_: asyncio.Task[None]) -> None:
            if self._running.get(slot) is job:
                del self._running[slot]
            self._wakeup.set()  # a slot is free

        job.task.add_done_callback(done)

    # -- one file ------------------------------------------------------------------------

    async def _run(self, key: JobKey) -> None:
        # Cancelled only when the server stops: the file is left in progress for the next start.
        # Any failure outside the indexing itself (the database, say) leaves it in progress too,
        # under a lease nobody renews: it is taken up again when the lease runs out.
        try:
            outcome, attributes = await self._index(key)
            settled = await self._db.write(queue.settle, key, self._owner, outcome)
            if settled.remove:
                await self._retrieval.remove_file(store_id=key.store_id, file_id=key.file_id)
            elif outcome is not None and settled.attributes != attributes:
                # Changed while it was indexed: the entries get the current ones.
                await self._retrieval.set_attributes(
                    store_id=key.store_id, file_id=key.file_id, attributes=settled.attributes
                )
        except Exception:
            logger.exception("ingesting %s into %s failed", key.file_id, key.store_id)

    async def _index(self, key: JobKey) -> tuple[Outcome | None, Attributes | None]:
        job = await self._db.read(queue.job, key)
        if job is None:
            return None, None
        static = (job["chunking_strategy"] or {}).get("static") or {}
        chunking = ChunkingStrategy(**static)
        # Chunks embedded so far, on the store file (``progress`` in the API), fenced like the
        # outcome: a job that lost the file writes nothing.
        progress = ProgressWriter(
            lambda done, total: self._db.write(queue.record_progress, key, self._owner, done, total)
        )
        try:
            async with self._blobs.local_path(key.file_id) as path:
                indexed = await self._retrieval.index_file(
                    project_id=job["project_id"],
                    store_id=key.store_id,
                    file_id=key.file_id,
                    path=path,
                    filename=job["filename"],
                    chunking=chunking,
                    attributes=job["attributes"],
                    progress=progress.report,
                )
        except FileRejected as rejected:
            error: StoreFileError = {"code": rejected.code, "message": rejected.message}
            return Outcome("failed", last_error=error), job["attributes"]
        except Exception:
            logger.exception("ingesting %s into %s failed", key.file_id, key.store_id)
            return Outcome("failed", last_error=_SERVER_ERROR), job["attributes"]
        finally:
            await progress.close()
        outcome = Outcome(
            "completed",
            usage_bytes=job["bytes"],
            embedding_model=indexed.embedding_model,
            chunks=indexed.chunks,
        )
        return outcome, job["attributes"]

    # -- leases --------------------------------------------------------------------------

    async def _lease_loop(self) -> None:
        interval = max(0.2, self._lease_seconds / 3)
        while not self._stopping:
            await asyncio.sleep(interval)
            try:
                await self._renew_leases()
            except Exception:
                logger.exception("renewing ingestion leases failed")

    async def _renew_leases(self) -> None:
        until = time.time() + self._lease_seconds
        for job in list(self._running.values()):
            # A refused renewal (the file was deleted, cancelled or queued again) needs nothing
            # here: recording the job's outcome sorts it out when it ends.
            if not job.task.done():
                await job.renew(job.key, until)

    async def _renew(self, key: JobKey, until: float) -> None:
        await self._db.write(queue.renew, key, self._owner, until)


async def release_ingestion_leases(db: Database) -> None:
    """Hand back every file's ingestion lease: for a server that knows no other serves ``db``."""
    await db.write(queue.release)
