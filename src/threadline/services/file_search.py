"""Searching vector stores: for ``POST /vector_stores/{id}/search`` and for the ``file_search``
tool inside runs.

For a run, ``stores_for_run`` resolves which stores it searches (the assistant's or the run's
``tool_resources`` plus the thread's own), and ``search`` returns the chunks with their file
names; both skip stores that were deleted or have expired instead of failing the run."""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import cast

from threadline import clock
from threadline.engine.retrieval.base import Retrieval
from threadline.records.files import AttributeFilter, Attributes, SearchHitRecord
from threadline.records.tools import ToolResourcesRecord
from threadline.services.store_membership import usable_store
from threadline.storage import store_files
from threadline.storage.database import Connection, Database
from threadline.storage.files import VectorStoreRepository
from threadline.storage.repositories import ThreadRepository

_stores = VectorStoreRepository()
_threads = ThreadRepository()


@dataclass(frozen=True, slots=True)
class FoundChunk:
    file_id: str
    filename: str
    score: float  # 0..1
    text: str
    chunk_index: int
    attributes: Attributes | None

    def as_record(self) -> SearchHitRecord:
        return cast(SearchHitRecord, asdict(self))


def file_search_store_ids(resources: ToolResourcesRecord | None) -> list[str]:
    """``tool_resources.file_search.vector_store_ids`` of an assistant, thread or run."""
    file_search = (resources or {}).get("file_search") or {}
    return list(file_search.get("vector_store_ids") or [])


def run_store_ids(
    connection: Connection,
    project_id: str,
    run_tool_resources: ToolResourcesRecord | None,
    thread_id: str,
    now: int,
) -> list[str]:
    """The live stores a run's ``file_search`` searches: the run's own ``tool_resources``
    (the assistant's, as the run snapshotted them) then the thread's, without duplicates."""
    wanted = file_search_store_ids(run_tool_resources)
    thread = _threads.get_any(connection, project_id, thread_id)
    if thread is not None:
        wanted += file_search_store_ids(thread["tool_resources"])
    return _stores.live_ids(connection, project_id, list(dict.fromkeys(wanted)), now)


class FileSearch:
    def __init__(self, database: Database, retrieval: Retrieval) -> None:
        self._db = database
        self._retrieval = retrieval

    async def stores_for_run(
        self, project_id: str, run_tool_resources: ToolResourcesRecord | None, thread_id: str
    ) -> list[str]:
        return await self._db.read(
            run_store_ids, project_id, run_tool_resources, thread_id, clock.now()
        )

    async def files_in_progress(self, project_id: str, store_ids: Sequence[str]) -> int:
        """How many files of the stores are still being ingested (OpenAI's runs waited for
        the files attached to a thread to be searchable before searching)."""
        return await self._db.read(_stores.files_in_progress, project_id, list(store_ids))

    async def search(
        self,
        project_id: str,
        store_ids: Sequence[str],
        queries: Sequence[str],
        *,
        max_num_results: int,
        score_threshold: float = 0.0,
        filters: AttributeFilter | None = None,
        strict: bool = False,
    ) -> list[FoundChunk]:
        """The best chunks for ``queries`` in the stores, best first; the stores count as used
        (``last_active_at``). ``strict``: a missing store is a 404 and an expired one a 400;
        otherwise such stores are skipped."""
        live = await self._db.write(_use_stores, project_id, list(store_ids), clock.now(), strict)
        if not live or not queries:
            return []
        hits = await self._retrieval.search(
            store_ids=live,
            queries=queries,
            max_results=max_num_results,
            score_threshold=score_threshold,
            filters=filters,
        )
        files = await self._db.read(
            store_files.completed_with_names, live, {hit.file_id for hit in hits}
        )
        found: list[FoundChunk] = []
        seen: set[tuple[str, int]] = set()
        for hit in hits:
            file = files.get(hit.file_id)
            # A file removed or being re-indexed since: its old entries are not answers.
            if file is None or (hit.file_id, hit.chunk_index) in seen:
                continue
            seen.add((hit.file_id, hit.chunk_index))
            score = min(1.0, max(0.0, hit.score))
            found.append(
                FoundChunk(
                    hit.file_id,
                    file["filename"],
                    score,
                    hit.text,
                    hit.chunk_index,
                    file["attributes"],
                )
            )
        return found


def _use_stores(
    connection: Connection, project_id: str, store_ids: list[str], now: int, strict: bool
) -> list[str]:
    if strict:
        for store_id in store_ids:
            usable_store(connection, project_id, store_id, now)
        live = store_ids
    else:
        live = _stores.live_ids(connection, project_id, store_ids, now)
    _stores.touch(connection, live, now)
    return live
