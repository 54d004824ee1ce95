"""Re-embedding: a server whose embedding model differs from the one a store's files were embedded
with embeds them again in the background, from the chunks the index keeps (no parsing), and
swaps each file's vectors at once when all of its passages are embedded.

It runs in the ingestion's slots (``engine/ingestion.py``), after files waiting to be ingested
and never in the last free slot, under the same leases, so it survives restarts and shares the
work between replicas. The files stay ``completed`` throughout: searches keep answering (by
keywords, and by the old vectors for a server still on the old model) until the new vectors
replace the old ones; ``progress`` shows the chunks embedded with the new model so far. The
queue is ``storage/reembed_queue.py``.

It looks for work from the server's start until nothing is left to re-embed, held by any server
or not; a server started with the model everything is on looks once and is done."""

import logging
import time
from collections.abc import Container

from threadline.engine.ingestion_progress import ProgressWriter
from threadline.engine.retrieval.base import ChunkingStrategy, Retrieval
from threadline.storage import reembed_queue, store_files
from threadline.storage.database import Database
from threadline.storage.ingestion_queue import JobKey

logger = logging.getLogger("threadline.ingestion")


class Reembedding:
    def __init__(
        self, db: Database, retrieval: Retrieval, *, owner: str, lease_seconds: float
    ) -> None:
        self._db = db
        self._retrieval = retrieval
        self._owner = owner
        self._lease_seconds = lease_seconds
        self._model = retrieval.embedding_model
        self._looking = True

    async def claim(self, limit: int, running: Container[tuple[str, str]]) -> list[JobKey]:
        """Claim up to ``limit`` files to re-embed, none of ``running`` (files this server is
        working on already)."""
        if not self._looking or limit <= 0:
            return []
        keys = await self._db.read(reembed_queue.claimable, self._model, time.time(), limit)
        if not keys:
            if await self._db.read(reembed_queue.pending, self._model) == 0:
                self._looking = False  # every store is on this model: nothing more to do
            return []
        claimed: list[JobKey] = []
        for key in keys:
            if (key.store_id, key.file_id) in running:
                continue
            now = time.time()
            until = now + self._lease_seconds
            if await self._db.write(reembed_queue.claim, key, self._model, self._owner, now, until):
                claimed.append(key)
        return claimed

    async def renew(self, key: JobKey, until: float) -> None:
        await self._db.write(reembed_queue.renew, key, self._owner, until)

    async def run(self, key: JobKey) -> None:
        """Re-embed one claimed file. A failure (the embedder down, say) leaves the file on its
        old model under a lease nobody renews: it is tried again when the lease runs out."""
        try:
            row = await self._db.read(store_files.get, key.store_id, key.file_id)
            if row is None or row["token"] != key.token or row["status"] != "completed":
                return  # queued again or removed since it was claimed: not ours any more
            static = (row["chunking_strategy"] or {}).get("static") or {}
            progress = ProgressWriter(
                lambda done, total: self._db.write(
                    reembed_queue.record_progress, key, self._owner, done, total
                )
            )
            try:
                indexed = await self._retrieval.reembed_file(
                    store_id=key.store_id,
                    file_id=key.file_id,
                    chunking=ChunkingStrategy(**static),
                    progress=progress.report,
                )
            finally:
                await progress.close()
            if indexed is None:
                # Not in the index (a removal under way): nothing to embed; recorded as done so
                # that it is not looked at again.
                logger.warning(
                    "%s in %s has no index entries to re-embed", key.file_id, key.store_id
                )
            chunks = indexed.chunks if indexed is not None else row["chunks_total"]
            await self._db.write(reembed_queue.settle, key, self._owner, self._model, chunks)
        except Exception:
            logger.exception("re-embedding %s in %s failed", key.file_id, key.store_id)
