"""Putting files into a vector store: the unit-of-work functions every path shares (store create,
store file create, file batches, the ``tool_resources`` helper, message attachments).

A file put into a store becomes a store file ``in_progress``: that row is the ingestion queue's
entry, and the counts change with it, in the caller's transaction. After the transaction the
caller wakes the ingestion (``IngestionQueue.wake``)."""

from dataclasses import dataclass
from typing import Protocol, cast

from threadline import ids
from threadline.errors import InvalidRequest, NotFound
from threadline.records.files import (
    Attributes,
    ChunkingStrategyRecord,
    StoreFileChanges,
    VectorStoreFileRecord,
    VectorStoreRecord,
)
from threadline.records.jsonvalue import Metadata
from threadline.schemas.common import ChunkingStrategy
from threadline.schemas.file_objects import store_status
from threadline.storage import store_files
from threadline.storage.database import Connection
from threadline.storage.files import DAY_SECONDS, FileRepository, VectorStoreRepository

_files = FileRepository()
_stores = VectorStoreRepository()

AUTO_CHUNKING: ChunkingStrategyRecord = {
    "type": "static",
    "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400},
}


class IngestionQueue(Protocol):
    def wake(self) -> None: ...


@dataclass(frozen=True, slots=True)
class FileEntry:
    file_id: str
    chunking_strategy: ChunkingStrategyRecord
    attributes: Attributes | None = None


def dump_chunking(strategy: ChunkingStrategy | None) -> ChunkingStrategyRecord:
    """The strategy as a store file reports it: ``auto`` is reported as the static sizes it
    stands for, as OpenAI does."""
    if strategy is None or strategy.type == "auto" or strategy.static is None:
        return AUTO_CHUNKING
    sizes = strategy.static
    return {
        "type": "static",
        "static": {
            "max_chunk_size_tokens": sizes.max_chunk_size_tokens,
            "chunk_overlap_tokens": sizes.chunk_overlap_tokens,
        },
    }


def new_store_record(
    project_id: str,
    now: int,
    *,
    name: str | None = None,
    description: str | None = None,
    expires_after_days: int | None = None,
    metadata: Metadata | None = None,
) -> VectorStoreRecord:
    expires_at = now + expires_after_days * DAY_SECONDS if expires_after_days else None
    return {
        "id": ids.vector_store_id(),
        "project_id": project_id,
        "created_at": now,
        "name": name,
        "description": description,
        "usage_bytes": 0,
        "files_in_progress": 0,
        "files_completed": 0,
        "files_failed": 0,
        "files_cancelled": 0,
        "files_total": 0,
        "expires_after_days": expires_after_days,
        "expires_at": expires_at,
        "last_active_at": now,
        "expired_at": None,
        "metadata": metadata or {},
        "embedding_model": None,
    }


def usable_store(
    connection: Connection, project_id: str, store_id: str, now: int
) -> VectorStoreRecord:
    """The store, if it exists in the project and has not expired (else 404 / 400)."""
    store = _stores.get(connection, project_id, store_id)
    if store is None:
        raise NotFound.object("vector store", store_id)
    if store_status(store, now) == "expired":
        raise InvalidRequest(f"Vector store {store_id} has expired and can no longer be used.")
    return store


def check_files_exist(
    connection: Connection, project_id: str, file_ids: list[str], now: int, param: str
) -> None:
    """404 naming the first file that is not a live file of the project; ``param`` names where
    it is in the request (``{index}`` is replaced by its position)."""
    missing = _files.missing(connection, project_id, file_ids, now)
    if missing:
        where = param.format(index=file_ids.index(missing[0]))
        raise NotFound(f"No file found with id '{missing[0]}'.", param=where)


def put_files(
    connection: Connection,
    project_id: str,
    store_id: str,
    entries: list[FileEntry],
    now: int,
    *,
    batch_id: str | None = None,
    keep_existing: bool = False,
) -> list[VectorStoreFileRecord]:
    """Queue ``entries`` for ingestion into the store (the files were checked). A file already
    in the store is queued again with the new settings, unless ``keep_existing`` and it is
    indexed or being indexed. The store files as they now are."""
    # Every writer of a store's files takes this lock first, so what is read next stays true.
    store_files.lock_store(connection, store_id)
    existing = store_files.in_store(connection, store_id, [e.file_id for e in entries])
    placed: dict[str, VectorStoreFileRecord] = {}
    added: list[VectorStoreFileRecord] = []
    requeued: tuple[list[VectorStoreFileRecord], list[StoreFileChanges]] = ([], [])
    for entry in entries:
        values: StoreFileChanges = {
            "status": "in_progress",
            "created_at": now,
            "last_error": None,
            "usage_bytes": 0,
            "chunking_strategy": entry.chunking_strategy,
            "attributes": entry.attributes,
            "batch_id": batch_id,
            "chunks_done": None,  # queued again: its progress starts over
            "chunks_total": None,
            "embedding_model": None,  # set when it completes
            "token": ids.new_id("ing_"),
            "lease_owner": None,
            "lease_expires_at": None,
        }
        before = existing.get(entry.file_id)
        if before is None:
            added.append(_new_store_file(store_id, entry, project_id, values))
            placed[entry.file_id] = added[-1]
        elif keep_existing and before["status"] in ("in_progress", "completed"):
            placed[entry.file_id] = before
        else:
            requeued[0].append(before)
            requeued[1].append(values)
    store_files.add_many(connection, added)
    for after in store_files.change_many(connection, *requeued):
        placed[after["file_id"]] = after
    _stores.touch(connection, [store_id], now)
    return [placed[entry.file_id] for entry in entries]


def _new_store_file(
    store_id: str, entry: FileEntry, project_id: str, values: StoreFileChanges
) -> VectorStoreFileRecord:
    row = {"vector_store_id": store_id, "file_id": entry.file_id, "project_id": project_id}
    return cast(VectorStoreFileRecord, {**row, **values})
