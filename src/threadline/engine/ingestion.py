"""Background ingestion: vector-store files are parsed, chunked, embedded and indexed here, never
in a request, at most ``concurrency`` files at a time per server.

The queue is the database (``storage/ingestion_queue.py``): a file added to a store is a row
``in_progress``; a server claims it with a lease, indexes it through the ``Retrieval`` seam and
records the outcome in the same transaction as the store's and batch's counts. A file that
cannot be parsed ends ``failed`` with ``last_error`` and nothing else is touched. A server that
dies leaves its files claimed until their leases run out; then any server takes them up again.
A file deleted or cancelled while it is indexed is stopped here (``forget``), or, when another
server indexes it, as soon as that server's lease renewal finds it gone; either way its index
entries are removed."""

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from threadline.engine.retrieval.base import ChunkingStrategy, FileRejected, Retrieval
from threadline.providers.blobs.base import BlobStore
from threadline.storage import ingestion_queue as queue
from threadline.storage.database import Database
from threadline.storage.ingestion_queue import JobKey, Outcome

logger = logging.getLogger("threadline.ingestion")

_SERVER_ERROR = {"code": "server_error", "message": "The file could not be processed."}


@dataclass
class _Job:
    key: JobKey
    task: "asyncio.Task[None]" = field(init=False)
    # Past indexing, recording its outcome: no longer stopped from outside (it cleans up).
    settling: bool = False

    def stop(self) -> None:
        if not self.settling:
            self.task.cancel()


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

    async def start(self) -> None:
        if self._concurrency <= 0:
            return
        if self._release_at_start:
            await self._db.write(queue.release)
        self._loops = [
            asyncio.create_task(self._claim_loop(), name="threadline-ingestion-claim"),
            asyncio.create_task(self._lease_loop(), name="threadline-ingestion-leases"),
        ]

    def wake(self) -> None:
        """Files may be waiting: look now rather than at the next poll."""
        self._wakeup.set()

    async def forget(self, store_id: str, file_id: str | None = None) -> None:
        """Stop indexing the store's file (every file of the store when ``file_id`` is None)
        here, and wait until the stopped jobs have cleaned up after themselves."""
        jobs = [
            job
            for (store, file), job in self._running.items()
            if store == store_id and file_id in (None, file)
        ]
        for job in jobs:
            job.stop()
        if jobs:
            await asyncio.wait([job.task for job in jobs])

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
                held = self._running.get((key.store_id, key.file_id))
                if held is not None and held.key == key:
                    continue  # ours already; its lease renewal is merely late
                now = time.time()
                if not await self._db.write(
                    queue.claim, key, self._owner, now, now + self._lease_seconds
                ):
                    continue
                self._start(key, held)
                started += 1
            if started == 0 or len(keys) < limit:
                return

    def _start(self, key: JobKey, previous: _Job | None) -> None:
        slot = (key.store_id, key.file_id)
        job = _Job(key)
        job.task = asyncio.create_task(self._run(job, previous), name=f"ingest-{key.file_id}")
        self._running[slot] = job

        def done(_: asyncio.Task[None]) -> None:
            if self._running.get(slot) is job:
                del self._running[slot]
            self._wakeup.set()  # a slot is free

        job.task.add_done_callback(done)

    # -- one file ------------------------------------------------------------------------

    async def _run(self, job: _Job, previous: _Job | None) -> None:
        key = job.key
        if previous is not None:
            # The file was queued again while an earlier job still ran: that one stops first,
            # so two jobs never write the same file's index entries at once.
            previous.stop()
            await asyncio.wait([previous.task])
        attributes: Any = None
        try:
            outcome, attributes = await self._index(key)
        except asyncio.CancelledError:
            if self._stopping:
                raise  # left in progress: the next start takes it up again
            outcome = None
        job.settling = True
        try:
            settled = await self._db.write(queue.settle, key, self._owner, outcome)
            if settled.remove:
                await self._retrieval.remove_file(store_id=key.store_id, file_id=key.file_id)
            elif outcome is not None and settled.attributes != attributes:
                await self._retrieval.set_attributes(
                    store_id=key.store_id, file_id=key.file_id, attributes=settled.attributes
                )
        except Exception:
            # Left in progress under a lease nobody renews: taken up again when it runs out.
            logger.exception("recording the ingestion of %s failed", key.file_id)

    async def _index(self, key: JobKey) -> tuple[Outcome | None, Any]:
        job = await self._db.read(queue.job, key)
        if job is None:
            return None, None
        static = (job["chunking_strategy"] or {}).get("static") or {}
        chunking = ChunkingStrategy(**static)
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
                )
        except FileRejected as rejected:
            error = {"code": rejected.code, "message": rejected.message}
            return Outcome("failed", last_error=error), job["attributes"]
        except Exception:
            logger.exception("ingesting %s into %s failed", key.file_id, key.store_id)
            return Outcome("failed", last_error=_SERVER_ERROR), job["attributes"]
        outcome = Outcome(
            "completed", usage_bytes=job["bytes"], embedding_model=indexed.embedding_model
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
            if job.settling or job.task.done():
                continue
            if not await self._db.write(queue.renew, job.key, self._owner, until):
                job.stop()  # deleted, cancelled or re-queued elsewhere: stop and clean up
