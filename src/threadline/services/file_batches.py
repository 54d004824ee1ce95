"""Vector-store file batches: create (many files, one set of counts), retrieve, cancel (its
files not yet indexed end ``cancelled``), list its files."""

from typing import NamedTuple

from threadline import clock, ids
from threadline.errors import NotFound
from threadline.records.files import (
    BatchProgress,
    FileBatchRecord,
    StoreFileChanges,
    StoreFileStatus,
)
from threadline.schemas import file_objects, objects
from threadline.schemas.file_objects import VectorStoreFileBatch
from threadline.schemas.objects import ListPage
from threadline.schemas.vector_stores import CreateFileBatch
from threadline.services.store_membership import (
    FileEntry,
    IngestionQueue,
    check_files_exist,
    dump_chunking,
    put_files,
    usable_store,
)
from threadline.services.vector_store_files import list_store_files
from threadline.storage import store_file_batches, store_files
from threadline.storage.database import Connection, Database
from threadline.storage.pagination import PageRequest


class _Batch(NamedTuple):
    """A batch as shown: its row, and its progress summed over its files (read together)."""

    record: FileBatchRecord
    progress: BatchProgress

    def shown(self) -> VectorStoreFileBatch:
        return file_objects.file_batch(self.record, self.progress)


class FileBatchService:
    def __init__(self, database: Database, ingestion: IngestionQueue) -> None:
        self._db = database
        self._ingestion = ingestion

    async def create(
        self, project_id: str, store_id: str, request: CreateFileBatch
    ) -> VectorStoreFileBatch:
        if request.files is not None:
            entries = [
                FileEntry(
                    item.file_id,
                    dump_chunking(item.chunking_strategy or request.chunking_strategy),
                    item.attributes
                    if "attributes" in item.model_fields_set
                    else request.attributes,
                )
                for item in request.files
            ]
            param = "files[{index}].file_id"
        else:
            chunking = dump_chunking(request.chunking_strategy)
            entries = [FileEntry(f, chunking, request.attributes) for f in request.file_ids or []]
            param = "file_ids[{index}]"
        # One entry a file: a file named twice is indexed once, with its last settings.
        unique = list({entry.file_id: entry for entry in entries}.values())
        batch = await self._db.write(_create, project_id, store_id, unique, param, clock.now())
        self._ingestion.wake()
        return batch.shown()

    async def retrieve(self, project_id: str, store_id: str, batch_id: str) -> VectorStoreFileBatch:
        batch = await self._db.read(_shown, project_id, store_id, batch_id)
        return batch.shown()

    async def cancel(self, project_id: str, store_id: str, batch_id: str) -> VectorStoreFileBatch:
        # A file of the batch being indexed finishes, then finds itself cancelled and removes
        # its entries; the others never start.
        batch = await self._db.write(_cancel, project_id, store_id, batch_id)
        return batch.shown()

    async def list_files(
        self,
        project_id: str,
        store_id: str,
        batch_id: str,
        page: PageRequest,
        status: StoreFileStatus | None,
    ) -> ListPage:
        result = await self._db.read(list_store_files, project_id, store_id, page, status, batch_id)
        items = [file_objects.vector_store_file(record) for record in result.items]
        return objects.list_page(items, result.has_more)


def _get(connection: Connection, project_id: str, store_id: str, batch_id: str) -> FileBatchRecord:
    record = store_file_batches.get_batch(connection, project_id, store_id, batch_id)
    if record is None:
        raise NotFound.object("vector store file batch", batch_id)
    return record


def _shown(connection: Connection, project_id: str, store_id: str, batch_id: str) -> _Batch:
    record = _get(connection, project_id, store_id, batch_id)
    return _Batch(record, store_file_batches.batch_progress(connection, batch_id))


def _create(
    connection: Connection,
    project_id: str,
    store_id: str,
    entries: list[FileEntry],
    param: str,
    now: int,
) -> _Batch:
    usable_store(connection, project_id, store_id, now)
    check_files_exist(connection, project_id, [e.file_id for e in entries], now, param)
    batch: FileBatchRecord = {
        "id": ids.file_batch_id(),
        "project_id": project_id,
        "vector_store_id": store_id,
        "created_at": now,
        "status": "in_progress",
        "files_in_progress": 0,
        "files_completed": 0,
        "files_failed": 0,
        "files_cancelled": 0,
        "files_total": 0,
    }
    store_file_batches.insert_batch(connection, batch)
    put_files(connection, project_id, store_id, entries, now, batch_id=batch["id"])
    return _shown(connection, project_id, store_id, batch["id"])


def _cancel(connection: Connection, project_id: str, store_id: str, batch_id: str) -> _Batch:
    store_files.lock_store(connection, store_id)
    batch = _get(connection, project_id, store_id, batch_id)
    if batch["status"] != "in_progress":  # already over: cancelling changes nothing
        return _shown(connection, project_id, store_id, batch_id)
    for row in store_files.of_batch(connection, batch_id, "in_progress"):
        changes: StoreFileChanges = {
            "status": "cancelled",
            "lease_owner": None,
            "lease_expires_at": None,
        }
        store_files.change(connection, row, changes)
    # After the files: their counts may have marked the batch completed meanwhile.
    store_file_batches.set_batch_status(connection, batch_id, "cancelled")
    return _shown(connection, project_id, store_id, batch_id)
