"""Keyword postings of the stores searched, in memory, kept current with the database.

Keyword search runs on in-memory postings (``providers/vector_index/postings.py``: BM25 in numpy)
rather than in the database: FTS5's BM25 and PostgreSQL's ``ts_rank`` score every chunk that
matches any query word, one row at a time, which is slow on large stores
(docs/benchmarks.md#file-search-speed). The database stays the only durable copy.

Every change to a store's files raises the store's version and stamps the file with it
(migration 0008). A search reads the versions of its stores (one indexed read); when a store's
postings are older, the files whose stamps changed are read again and the removed ones dropped.
That holds whichever process made the change, so PostgreSQL replicas each keep their own postings
and still see each other's writes at their next search.

Tokenising a large store takes a while (tens of seconds at 100k chunks), so a store's first load
runs in the background, and a search that would wait more than ``POSTINGS_WAIT`` for it is
answered by the database's own full-text search meanwhile.

Memory is bounded: past ``memory_budget_bytes`` (all stores' postings together), the stores
searched least recently are dropped, to be loaded again when next searched (~1.4 KB a chunk:
the default 1 GiB holds some 700k chunks)."""

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from threadline.providers.vector_index.base import Candidate
from threadline.providers.vector_index.postings import StorePostings, Tokenizer
from threadline.storage.database import Database
from threadline.storage.search_index import file_versions, read_file_chunks, store_versions

logger = logging.getLogger("threadline.retrieval")

POSTINGS_WAIT = 1.0
DEFAULT_MEMORY_BUDGET = 1024 * 1024 * 1024


@dataclass(slots=True)
class _Store:
    postings: StorePostings
    version: int = -1  # of the store when the postings were last brought up to date
    files: dict[str, int] = field(default_factory=dict)  # file -> version of its postings
    refresh: "asyncio.Task[None] | None" = None
    used_at: float = 0.0  # monotonic time of the last search


class KeywordPostings:
    def __init__(
        self, database: Database, memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET
    ) -> None:
        self.database = database
        self._tokenizer = Tokenizer()
        self._stores: dict[str, _Store] = {}
        self._budget = memory_budget_bytes

    async def search(
        self,
        store_ids: Sequence[str],
        words: Sequence[str],
        limit: int,
        allowed: list[tuple[str, str]] | None,
    ) -> list[Candidate] | None:
        """The best ``limit`` chunks of the stores (``allowed``: only those (store, file)
        pairs), or None while a store's postings load: the caller searches the database."""
        unique = list(dict.fromkeys(store_ids))
        current = await self.current(unique)
        if current is None:
            return None
        found: list[Candidate] = []
        for store_id, postings in current.items():
            keep = None
            if allowed is not None:
                keep = {f for s, f in allowed if s == store_id}.__contains__
            found += await asyncio.to_thread(postings.search, store_id, words, limit, keep)
        return sorted(found, key=lambda c: -c.score)[:limit]

    async def current(self, store_ids: Sequence[str]) -> dict[str, StorePostings] | None:
        """Up-to-date postings for each store, or None if one is still loading (past
        ``POSTINGS_WAIT``): then the caller searches the database instead."""
        versions = await self.database.read(store_versions, list(store_ids))
        found: dict[str, StorePostings] = {}
        for store_id in store_ids:
            postings = await self._current(store_id, versions[store_id])
            if postings is None:
                return None
            found[store_id] = postings
        return found

    async def preload(self, store_id: str) -> None:
        """Bring the store's postings up to date, however long it takes (warming up)."""
        store = self._store(store_id)
        while True:
            versions = await self.database.read(store_versions, [store_id])
            if store.version >= versions[store_id]:
                return
            if store.refresh is None or store.refresh.done():
                store.refresh = asyncio.create_task(self._refresh(store_id, store))
            await asyncio.shield(store.refresh)  # raises if the refresh failed

    def forget(self, store_id: str) -> None:
        store = self._stores.pop(store_id, None)
        if store is not None and store.refresh is not None:
            store.refresh.cancel()

    def memory_bytes(self, store_id: str) -> int:
        store = self._stores.get(store_id)
        return store.postings.memory_bytes() if store is not None else 0

    def close(self) -> None:
        for store_id in list(self._stores):
            self.forget(store_id)

    def _store(self, store_id: str) -> _Store:
        store = self._stores.get(store_id)
        if store is None:
            store = self._stores[store_id] = _Store(StorePostings(self._tokenizer))
        store.used_at = time.monotonic()
        return store

    def _keep_within_budget(self, keep: str) -> None:
        """Drop the least recently searched stores (not ``keep``, none being loaded) until all
        postings fit the budget."""
        sizes = {store_id: s.postings.memory_bytes() for store_id, s in self._stores.items()}
        total = sum(sizes.values())
        idle = sorted(
            (s.used_at, store_id)
            for store_id, s in self._stores.items()
            if store_id != keep and (s.refresh is None or s.refresh.done())
        )
        for _, store_id in idle:
            if total <= self._budget:
                break
            total -= sizes[store_id]
            self.forget(store_id)
            logger.info("keyword postings of %s dropped from memory (budget)", store_id)

    async def _current(self, store_id: str, version: int) -> StorePostings | None:
        store = self._store(store_id)
        if store.version >= version:
            return store.postings
        if store.refresh is None or store.refresh.done():
            store.refresh = asyncio.create_task(self._refresh(store_id, store))
        task = store.refresh
        await asyncio.wait({task}, timeout=POSTINGS_WAIT)  # neither raises nor cancels it
        if not task.done() or task.cancelled():
            return None
        if (error := task.exception()) is not None:
            logger.warning("loading the keyword postings of %s failed: %r", store_id, error)
            return None  # the next search tries again
        # A refresh begun before the change this search saw may have ended short of it.
        return store.postings if store.version >= version else None

    async def _refresh(self, store_id: str, store: _Store) -> None:
        version, files = await self.database.run_off_loop(False, file_versions, store_id)
        if store.version >= version:
            return
        for file_id in [f for f in store.files if f not in files]:
            store.postings.remove(file_id)
            del store.files[file_id]
        for file_id, file_version in files.items():
            if store.files.get(file_id) == file_version:
                continue
            # Read now, possibly newer than ``file_version``: then the next refresh reads it
            # again, as the store's version will have moved past ``version`` too.
            chunks = await self.database.run_off_loop(False, read_file_chunks, store_id, file_id)
            await asyncio.to_thread(store.postings.put, file_id, chunks)
            store.files[file_id] = file_version
        await asyncio.to_thread(store.postings.prepare)
        store.version = version
        self._keep_within_budget(keep=store_id)
