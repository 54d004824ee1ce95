"""Files and vector stores as the official SDK's types, built from stored records."""

from openai.types import FileDeleted, FileObject, VectorStore, VectorStoreDeleted
from openai.types.vector_store_search_response import VectorStoreSearchResponse
from openai.types.vector_stores import (
    FileContentResponse,
    VectorStoreFile,
    VectorStoreFileBatch,
    VectorStoreFileDeleted,
)
from pydantic import BaseModel

from threadline.records.files import (
    BatchProgress,
    ChunkProgress,
    FileBatchRecord,
    FileRecord,
    SearchHitRecord,
    StoreCounters,
    VectorStoreFileRecord,
    VectorStoreRecord,
)

__all__ = [
    "FileContentPage",
    "FileDeleted",
    "FileObject",
    "SearchResultsPage",
    "VectorStore",
    "VectorStoreDeleted",
    "VectorStoreFile",
    "VectorStoreFileBatch",
    "VectorStoreFileDeleted",
]

# Purposes a file may be uploaded with that the SDK's FileObject does not list (it lists the
# outputs OpenAI itself writes); the object is then built without validation.
_UNLISTED_PURPOSES = frozenset({"evals"})


def file_object(record: FileRecord) -> FileObject:
    fields: dict[str, object] = {
        "id": record["id"],
        "object": "file",
        "bytes": record["bytes"],
        "created_at": record["created_at"],
        "filename": record["filename"],
        "purpose": record["purpose"],
        "status": record["status"],
    }
    if record["expires_at"] is not None:  # an integer in the spec, never null: left out
        fields["expires_at"] = record["expires_at"]
    if record["purpose"] in _UNLISTED_PURPOSES:
        return FileObject.model_construct(None, **fields)
    return FileObject.model_validate(fields)


def file_deleted(file_id: str) -> FileDeleted:
    return FileDeleted(id=file_id, object="file", deleted=True)


def file_counts(record: StoreCounters) -> dict[str, int]:
    return {
        "in_progress": record["files_in_progress"],
        "completed": record["files_completed"],
        "failed": record["files_failed"],
        "cancelled": record["files_cancelled"],
        "total": record["files_total"],
    }


def store_status(record: VectorStoreRecord, now: int) -> str:
    if record["expired_at"] is not None or (
        record["expires_at"] is not None and record["expires_at"] <= now
    ):
        return "expired"
    return "in_progress" if record["files_in_progress"] > 0 else "completed"


def vector_store(record: VectorStoreRecord, now: int) -> VectorStore:
    fields: dict[str, object] = {
        "id": record["id"],
        "object": "vector_store",
        "created_at": record["created_at"],
        "name": record["name"] or "",
        "usage_bytes": record["usage_bytes"],
        "file_counts": file_counts(record),
        "status": store_status(record, now),
        "expires_at": record["expires_at"],
        "last_active_at": record["last_active_at"],
        "metadata": record["metadata"],
    }
    if record["expires_after_days"] is not None:
        fields["expires_after"] = {"anchor": "last_active_at", "days": record["expires_after_days"]}
    return VectorStore.model_validate(fields)


def vector_store_deleted(store_id: str) -> VectorStoreDeleted:
    return VectorStoreDeleted(id=store_id, object="vector_store.deleted", deleted=True)


def file_progress(record: VectorStoreFileRecord) -> ChunkProgress | None:
    """The store file's ``progress`` (an extra field; the SDK keeps extras): null until the file
    is chunked, then its chunks embedded of its chunks; a completed file keeps its final counts,
    a failed or cancelled one those it reached."""
    done, total = record["chunks_done"], record["chunks_total"]
    if done is None or total is None:
        return None
    return {"chunks_done": done, "chunks_total": total}


def vector_store_file(record: VectorStoreFileRecord) -> VectorStoreFile:
    return VectorStoreFile.model_validate(
        {
            "id": record["file_id"],
            "object": "vector_store.file",
            "created_at": record["created_at"],
            "vector_store_id": record["vector_store_id"],
            "status": record["status"],
            "last_error": record["last_error"],
            "usage_bytes": record["usage_bytes"],
            "chunking_strategy": record["chunking_strategy"],
            "attributes": record["attributes"],
            "progress": file_progress(record),
        }
    )


def vector_store_file_deleted(file_id: str) -> VectorStoreFileDeleted:
    return VectorStoreFileDeleted(id=file_id, object="vector_store.file.deleted", deleted=True)


def file_batch(record: FileBatchRecord, progress: BatchProgress) -> VectorStoreFileBatch:
    """``progress`` (an extra field) sums its files' (``store_file_batches.batch_progress``)."""
    return VectorStoreFileBatch.model_validate(
        {
            "id": record["id"],
            "object": "vector_store.files_batch",
            "created_at": record["created_at"],
            "vector_store_id": record["vector_store_id"],
            "status": record["status"],
            "file_counts": file_counts(record),
            "progress": progress,
        }
    )


class SearchResultsPage(BaseModel):
    object: str = "vector_store.search_results.page"
    search_query: list[str]
    data: list[VectorStoreSearchResponse]
    has_more: bool = False
    next_page: str | None = None


def search_results_page(queries: list[str], hits: list[SearchHitRecord]) -> SearchResultsPage:
    items = [
        VectorStoreSearchResponse.model_validate(
            {
                "file_id": hit["file_id"],
                "filename": hit["filename"],
                "score": hit["score"],
                "attributes": hit["attributes"],
                "content": [{"type": "text", "text": hit["text"]}],
            }
        )
        for hit in hits
    ]
    return SearchResultsPage(
        object="vector_store.search_results.page",
        search_query=queries,
        data=items,
        has_more=False,
        next_page=None,
    )


class FileContentPage(BaseModel):
    object: str = "vector_store.file_content.page"
    data: list[FileContentResponse]
    has_more: bool = False
    next_page: str | None = None


def file_content_page(texts: list[str]) -> FileContentPage:
    return FileContentPage(
        object="vector_store.file_content.page",
        data=[FileContentResponse(type="text", text=text) for text in texts],
        has_more=False,
        next_page=None,
    )
