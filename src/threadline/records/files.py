"""Rows of files, vector stores, their files and file batches (``storage.file_tables``)."""

from typing import Literal, TypeAlias, TypedDict

from threadline.records.jsonvalue import Metadata

FileStatus: TypeAlias = Literal["uploaded", "processed", "error"]
StoreFileStatus: TypeAlias = Literal["in_progress", "completed", "failed", "cancelled"]
BatchStatus: TypeAlias = Literal["in_progress", "completed", "failed", "cancelled"]

# A store file's attributes: up to 16 keys, each a string, a number or a boolean.
AttributeValue: TypeAlias = str | float | bool
Attributes: TypeAlias = dict[str, AttributeValue]


class AttributeFilter(TypedDict, total=False):
    """OpenAI's attribute filter: a comparison ``{"type": "eq"|"ne"|"gt"|"gte"|"lt"|"lte"|"in"|
    "nin", "key", "value"}`` or a compound ``{"type": "and"|"or", "filters": [...]}``."""

    type: str
    key: str
    value: AttributeValue | list[AttributeValue]
    filters: list["AttributeFilter"]


class FileRecord(TypedDict):
    id: str
    project_id: str
    created_at: int
    bytes: int
    filename: str
    purpose: str
    status: FileStatus
    expires_at: int | None


class FileExpiry(TypedDict):
    """What the sweeper needs of an expired file."""

    id: str
    project_id: str


class StoreCounters(TypedDict):
    files_in_progress: int
    files_completed: int
    files_failed: int
    files_cancelled: int
    files_total: int


class VectorStoreRecord(StoreCounters):
    id: str
    project_id: str
    created_at: int
    name: str | None
    description: str | None
    usage_bytes: int
    expires_after_days: int | None
    expires_at: int | None
    last_active_at: int | None
    expired_at: int | None
    metadata: Metadata | None
    embedding_model: str | None


class VectorStoreChanges(TypedDict, total=False):
    name: str | None
    metadata: Metadata | None
    expires_after_days: int | None
    expires_at: int | None
    expired_at: int | None


class StaticChunkSizes(TypedDict):
    max_chunk_size_tokens: int
    chunk_overlap_tokens: int


class ChunkingStrategyRecord(TypedDict):
    """Always static as stored: ``auto`` stands for the sizes it means."""

    type: Literal["static"]
    static: StaticChunkSizes


class StoreFileError(TypedDict):
    code: str
    message: str


class VectorStoreFileRecord(TypedDict):
    vector_store_id: str
    file_id: str
    project_id: str
    created_at: int
    status: StoreFileStatus
    last_error: StoreFileError | None
    usage_bytes: int
    chunking_strategy: ChunkingStrategyRecord
    attributes: Attributes | None
    batch_id: str | None
    # Ingestion progress (``progress`` on the wire): None until the file is chunked.
    chunks_done: int | None
    chunks_total: int | None
    # The model its vectors are from; None until it completes (see storage.reembed_queue).
    embedding_model: str | None
    # Ingestion bookkeeping, never shown (see storage.ingestion_queue).
    token: str
    lease_owner: str | None
    lease_expires_at: float | None


class StoreFileChanges(TypedDict, total=False):
    status: StoreFileStatus
    last_error: StoreFileError | None
    usage_bytes: int
    chunking_strategy: ChunkingStrategyRecord
    attributes: Attributes | None
    batch_id: str | None
    chunks_done: int | None
    chunks_total: int | None
    embedding_model: str | None
    created_at: int
    token: str
    lease_owner: str | None
    lease_expires_at: float | None


class IngestionJob(VectorStoreFileRecord):
    """A store file with what indexing it needs of its file."""

    filename: str
    bytes: int


class NamedStoreFile(TypedDict):
    """For search results: a completed store file's attributes and its file's name."""

    file_id: str
    attributes: Attributes | None
    filename: str


class ChunkProgress(TypedDict):
    """How far ingestion got: chunks embedded of the chunks there are (a file's, or the sum over
    a batch's files)."""

    chunks_done: int
    chunks_total: int


class BatchProgress(ChunkProgress):
    """A batch's: the sums over its files in progress or completed that are chunked already,
    and how many files that is (the rest are not parsed yet, and add their chunks later)."""

    files_chunked: int


class FileBatchRecord(StoreCounters):
    id: str
    project_id: str
    vector_store_id: str
    created_at: int
    status: BatchStatus


class RemovalRecord(TypedDict):
    """Index entries or bytes still to remove after a delete (``storage.file_tables``)."""

    id: str
    created_at: int
    vector_store_id: str | None
    file_id: str | None


class SearchHitRecord(TypedDict):
    """A search result as ``services.file_search.FoundChunk.as_record`` gives it."""

    file_id: str
    filename: str
    score: float
    text: str
    chunk_index: int
    attributes: Attributes | None
