"""Vector-store files: add a file to a store (queued for ingestion), list, retrieve, update its
attributes, remove it from the store (the File itself stays), and its parsed content."""

from threadline import clock
from threadline.engine.retrieval.base import Retrieval
from threadline.errors import NotFound
from threadline.records.files import (
    Attributes,
    RemovalRecord,
    StoreFileStatus,
    VectorStoreFileRecord,
)
from threadline.schemas import file_objects, objects
from threadline.schemas.file_objects import (
    FileContentPage,
    VectorStoreFile,
    VectorStoreFileDeleted,
)
from threadline.schemas.objects import ListPage
from threadline.schemas.vector_stores import CreateVectorStoreFile
from threadline.services.removals import Removals
from threadline.services.store_membership import (
    FileEntry,
    IngestionQueue,
    check_files_exist,
    dump_chunking,
    put_files,
    usable_store,
)
from threadline.storage import store_file_batches, store_files
from threadline.storage.database import Connection, Database
from threadline.storage.files import VectorStoreRepository, owe_removal
from threadline.storage.pagination import Page, PageRequest

_stores = VectorStoreRepository()


def store_file_not_found(store_id: str, file_id: str) -> NotFound:
    return NotFound(f"No file found with id '{file_id}' in vector store '{store_id}'.")


def get_store_file(
    connection: Connection, project_id: str, store_id: str, file_id: str
) -> VectorStoreFileRecord:
    if not _stores.exists(connection, project_id, store_id):
        raise NotFound.object("vector store", store_id)
    record = store_files.get(connection, store_id, file_id)
    if record is None:
        raise store_file_not_found(store_id, file_id)
    return record


def list_store_files(
    connection: Connection,
    project_id: str,
    store_id: str,
    page: PageRequest,
    status: StoreFileStatus | None,
    batch_id: str | None = None,
) -> Page[VectorStoreFileRecord]:
    if not _stores.exists(connection, project_id, store_id):
        raise NotFound.object("vector store", store_id)
    if (
        batch_id is not None
        and store_file_batches.get_batch(connection, project_id, store_id, batch_id) is None
    ):
        raise NotFound.object("vector store file batch", batch_id)
    return store_files.page(connection, store_id, page, status, batch_id)


class StoreFileService:
    def __init__(
        self,
        database: Database,
        retrieval: Retrieval,
        ingestion: IngestionQueue,
        removals: Removals,
    ) -> None:
        self._db = database
        self._retrieval = retrieval
        self._ingestion = ingestion
        self._removals = removals

    async def create(
        self, project_id: str, store_id: str, request: CreateVectorStoreFile
    ) -> VectorStoreFile:
        entry = FileEntry(
            request.file_id, dump_chunking(request.chunking_strategy), request.attributes
        )
        record = await self._db.write(_create, project_id, store_id, entry, clock.now())
        self._ingestion.wake()
        return file_objects.vector_store_file(record)

    async def list(
        self, project_id: str, store_id: str, page: PageRequest, status: StoreFileStatus | None
    ) -> ListPage:
        result = await self._db.read(list_store_files, project_id, store_id, page, status)
        items = [file_objects.vector_store_file(record) for record in result.items]
        return objects.list_page(items, result.has_more)

    async def retrieve(self, project_id: str, store_id: str, file_id: str) -> VectorStoreFile:
        record = await self._db.read(get_store_file, project_id, store_id, file_id)
        return file_objects.vector_store_file(record)

    async def update(
        self, project_id: str, store_id: str, file_id: str, attributes: Attributes | None
    ) -> VectorStoreFile:
        record = await self._db.write(_set_attributes, project_id, store_id, file_id, attributes)
        # A file still being indexed gets them when its ingestion ends (it compares).
        await self._retrieval.set_attributes(
            store_id=store_id, file_id=file_id, attributes=attributes
        )
        return file_objects.vector_store_file(record)

    async def delete(self, project_id: str, store_id: str, file_id: str) -> VectorStoreFileDeleted:
        owed = await self._db.write(_remove, project_id, store_id, file_id, clock.now())
        await self._removals.carry_out(owed)
        return file_objects.vector_store_file_deleted(file_id)

    async def content(self, project_id: str, store_id: str, file_id: str) -> FileContentPage:
        record = await self._db.read(get_store_file, project_id, store_id, file_id)
        texts: list[str] = []
        if record["status"] == "completed":
            texts = await self._retrieval.file_content(store_id=store_id, file_id=file_id)
        return file_objects.file_content_page(texts)


def _create(
    connection: Connection, project_id: str, store_id: str, entry: FileEntry, now: int
) -> VectorStoreFileRecord:
    usable_store(connection, project_id, store_id, now)
    check_files_exist(connection, project_id, [entry.file_id], now, "file_id")
    [record] = put_files(connection, project_id, store_id, [entry], now)
    return record


def _set_attributes(
    connection: Connection,
    project_id: str,
    store_id: str,
    file_id: str,
    attributes: Attributes | None,
) -> VectorStoreFileRecord:
    record = get_store_file(connection, project_id, store_id, file_id)
    store_files.set_attributes(connection, store_id, file_id, attributes)
    return {**record, "attributes": attributes}


def _remove(
    connection: Connection, project_id: str, store_id: str, file_id: str, now: int
) -> list[RemovalRecord]:
    store_files.lock_store(connection, store_id)
    record = get_store_file(connection, project_id, store_id, file_id)
    store_files.remove(connection, record)
    return [owe_removal(connection, now, store_id=store_id, file_id=file_id)]
