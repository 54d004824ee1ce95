"""Carrying out what a delete owes once its transaction committed: index entries (through the
``Retrieval`` seam) and file bytes (the blob store).

The delete's transaction records each removal (``pending_removals``); it is forgotten only once
done. A crash in between leaves the record, and the sweeper finishes the job."""

import logging

from threadline import clock
from threadline.engine.retrieval.base import Retrieval
from threadline.providers.blobs.base import BlobStore
from threadline.records.files import RemovalRecord
from threadline.storage.database import Database
from threadline.storage.files import removals_done, removals_owed

logger = logging.getLogger("threadline.files")


class Removals:
    def __init__(
        self,
        database: Database,
        retrieval: Retrieval,
        blobs: BlobStore,
    ) -> None:
        self._db = database
        self._retrieval = retrieval
        self._blobs = blobs

    async def carry_out(self, owed: list[RemovalRecord]) -> None:
        done: list[str] = []
        for removal in owed:
            try:
                await self._remove(removal["vector_store_id"], removal["file_id"])
            except Exception:
                logger.exception("removal %s failed; the sweeper retries it", removal["id"])
            else:
                done.append(removal["id"])
        if done:
            await self._db.write(removals_done, done)

    async def retry_owed(self, older_than_seconds: int, limit: int = 100) -> int:
        """Finish removals an interrupted delete left (only old ones: a delete in progress is
        carrying out its own)."""
        owed = await self._db.read(removals_owed, clock.now() - older_than_seconds, limit)
        await self.carry_out(owed)
        return len(owed)

    async def _remove(self, store_id: str | None, file_id: str | None) -> None:
        # A file still being indexed writes its entries after this; its ingestion removes them
        # when it finds the file gone (see engine/ingestion.py).
        if store_id is not None:
            if file_id is not None:
                await self._retrieval.remove_file(store_id=store_id, file_id=file_id)
            else:
                await self._retrieval.remove_store(store_id=store_id)
        elif file_id is not None:
            await self._blobs.delete(file_id)
