"""Vector stores: create (with files), list, retrieve, modify, delete (its index goes with it),
search, and the sweep that expires them."""

from threadline import clock
from threadline.engine.retrieval.rewrite import rewrite_query
from threadline.errors import NotFound
from threadline.records.files import RemovalRecord, VectorStoreChanges, VectorStoreRecord
from threadline.schemas import file_objects, objects
from threadline.schemas.file_objects import (
    SearchResultsPage,
    VectorStore,
    VectorStoreDeleted,
    store_status,
)
from threadline.schemas.objects import ListPage
from threadline.schemas.vector_stores import (
    CreateVectorStore,
    ModifyVectorStore,
    SearchVectorStore,
    dump_filter,
)
from threadline.services.file_search import FileSearch
from threadline.services.removals import Removals
from threadline.services.store_membership import (
    FileEntry,
    IngestionQueue,
    check_files_exist,
    dump_chunking,
    new_store_record,
    put_files,
)
from threadline.storage import store_files
from threadline.storage.database import Connection, Database
from threadline.storage.files import DAY_SECONDS, VectorStoreRepository, owe_removal
from threadline.storage.pagination import PageRequest

_stores = VectorStoreRepository()


class VectorStoreService:
    def __init__(
        self,
        database: Database,
        ingestion: IngestionQueue,
        removals: Removals,
        file_search: FileSearch,
    ) -> None:
        self._db = database
        self._ingestion = ingestion
        self._removals = removals
        self._search = file_search

    async def create(self, project_id: str, request: CreateVectorStore) -> VectorStore:
        now = clock.now()
        record = new_store_record(
            project_id,
            now,
            name=request.name,
            description=request.description,
            expires_after_days=request.expires_after.days if request.expires_after else None,
            metadata=request.metadata,
        )
        chunking = dump_chunking(request.chunking_strategy)
        entries = [FileEntry(file_id, chunking) for file_id in dict.fromkeys(request.file_ids)]
        created = await self._db.write(_create, project_id, record, entries, now)
        if entries:
            self._ingestion.wake()
        return file_objects.vector_store(created, now)

    async def retrieve(self, project_id: str, store_id: str) -> VectorStore:
        record = await self._db.read(_stores.get, project_id, store_id)
        if record is None:
            raise NotFound.object("vector store", store_id)
        return file_objects.vector_store(record, clock.now())

    async def list(self, project_id: str, page: PageRequest) -> ListPage:
        result = await self._db.read(_stores.list, project_id, page)
        now = clock.now()
        items = [file_objects.vector_store(record, now) for record in result.items]
        return objects.list_page(items, result.has_more)

    async def modify(
        self, project_id: str, store_id: str, request: ModifyVectorStore
    ) -> VectorStore:
        now = clock.now()
        record = await self._db.write(_modify, project_id, store_id, request, now)
        return file_objects.vector_store(record, now)

    async def delete(self, project_id: str, store_id: str) -> VectorStoreDeleted:
        owed = await self._db.write(_delete, project_id, store_id, clock.now())
        await self._removals.carry_out(owed)
        return file_objects.vector_store_deleted(store_id)

    async def search(
        self, project_id: str, store_id: str, request: SearchVectorStore
    ) -> SearchResultsPage:
        queries = [request.query] if isinstance(request.query, str) else list(request.query)
        if request.rewrite_query:
            queries = [rewrite_query(query) for query in queries]
        ranking = request.ranking_options
        hits = await self._search.search(
            project_id,
            [store_id],
            queries,
            max_num_results=request.max_num_results,
            score_threshold=ranking.score_threshold if ranking else 0.0,
            filters=dump_filter(request.filters) if request.filters else None,
            strict=True,
        )
        return file_objects.search_results_page(queries, [hit.as_record() for hit in hits])

    async def expire_due(self) -> int:
        """Mark stores past ``expires_at`` expired (the sweeper); how many."""
        return await self._db.write(_stores.expire_due, clock.now())


def _create(
    connection: Connection,
    project_id: str,
    record: VectorStoreRecord,
    entries: list[FileEntry],
    now: int,
) -> VectorStoreRecord:
    check_files_exist(
        connection, project_id, [e.file_id for e in entries], now, "file_ids[{index}]"
    )
    _stores.insert(connection, record)
    put_files(connection, project_id, record["id"], entries, now)
    created = _stores.get(connection, project_id, record["id"])
    assert created is not None
    return created


def _modify(
    connection: Connection, project_id: str, store_id: str, request: ModifyVectorStore, now: int
) -> VectorStoreRecord:
    record = _stores.get(connection, project_id, store_id)
    if record is None:
        raise NotFound.object("vector store", store_id)
    sent = request.model_fields_set
    changes: VectorStoreChanges = {}
    if "name" in sent:
        changes["name"] = request.name
    if "metadata" in sent:
        changes["metadata"] = request.metadata or {}
    expired = store_status(record, now) == "expired"
    if "expires_after" in sent and not expired:
        days = request.expires_after.days if request.expires_after else None
        anchor = record["last_active_at"] or now
        changes["expires_after_days"] = days
        changes["expires_at"] = anchor + days * DAY_SECONDS if days else None
    if expired and record["expired_at"] is None:
        changes["expired_at"] = now  # an expired store stays expired, whatever is changed
    if changes:
        _stores.update(connection, project_id, store_id, changes)
    return {**record, **changes}


def _delete(
    connection: Connection, project_id: str, store_id: str, now: int
) -> list[RemovalRecord]:
    if not _stores.exists(connection, project_id, store_id):
        raise NotFound.object("vector store", store_id)
    store_files.lock_store(connection, store_id)
    store_files.delete_store_contents(connection, store_id)
    _stores.delete(connection, project_id, store_id)
    return [owe_removal(connection, now, store_id=store_id)]
