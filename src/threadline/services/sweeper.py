"""The sweeper: a small background loop that deletes expired files, marks expired vector
stores, finishes removals an interrupted delete left, and clears half-written uploads."""

import asyncio
import contextlib
import logging

from threadline.providers.blobs.base import BlobStore
from threadline.services.files import FileService
from threadline.services.idempotency import IdempotencyKeys
from threadline.services.removals import Removals
from threadline.services.vector_stores import VectorStoreService

logger = logging.getLogger("threadline.files")

# A delete carries out its own removals right after its transaction; only older ones are left
# over from an interruption.
_ORPHANED_AFTER_SECONDS = 60
_PARTIAL_UPLOAD_SECONDS = 24 * 3600


class Sweeper:
    def __init__(
        self,
        files: FileService,
        stores: VectorStoreService,
        removals: Removals,
        blobs: BlobStore,
        idempotency: IdempotencyKeys,
        *,
        interval_seconds: float = 60.0,
    ) -> None:
        self._files = files
        self._stores = stores
        self._removals = removals
        self._blobs = blobs
        self._idempotency = idempotency
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="threadline-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def sweep(self, orphaned_after_seconds: int = _ORPHANED_AFTER_SECONDS) -> None:
        while await self._files.delete_expired() > 0:
            pass
        await self._stores.expire_due()
        await self._removals.retry_owed(orphaned_after_seconds)
        await self._blobs.discard_partial(_PARTIAL_UPLOAD_SECONDS)
        await self._idempotency.expire()

    async def _loop(self) -> None:
        first = True
        while True:
            try:
                # At start, whatever a previous process left unfinished is finished now.
                await self.sweep(0 if first else _ORPHANED_AFTER_SECONDS)
            except Exception:
                logger.exception("sweeping expired files and vector stores failed")
            first = False
            await asyncio.sleep(self._interval)
