"""Tables of files and vector stores (kept apart from ``tables.py``, which holds the assistants
side). A store's ``file_counts`` and ``usage_bytes`` are counter columns, changed in the same
transaction as the store files they count (see ``store_files.py``)."""

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from threadline.records.jsonvalue import JsonObject, Metadata
from threadline.storage.tables import Base, IdType, JsonType


class FileRow(Base):
    __tablename__ = "files"
    __table_args__ = (
        Index("ix_files_project_id_id", "project_id", "id"),
        Index("ix_files_project_id_purpose_id", "project_id", "purpose", "id"),
        Index("ix_files_expires_at", "expires_at"),
    )

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    project_id: Mapped[str] = mapped_column(IdType)
    created_at: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger)
    # Metadata only: the bytes are stored under the id, never under a client-supplied name.
    filename: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[int | None] = mapped_column(BigInteger)


class VectorStoreRow(Base):
    __tablename__ = "vector_stores"
    __table_args__ = (
        Index("ix_vector_stores_project_id_id", "project_id", "id"),
        Index("ix_vector_stores_expires_at", "expires_at"),
    )

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    project_id: Mapped[str] = mapped_column(IdType)
    created_at: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(String(512))
    usage_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    files_in_progress: Mapped[int] = mapped_column(Integer, default=0)
    files_completed: Mapped[int] = mapped_column(Integer, default=0)
    files_failed: Mapped[int] = mapped_column(Integer, default=0)
    files_cancelled: Mapped[int] = mapped_column(Integer, default=0)
    files_total: Mapped[int] = mapped_column(Integer, default=0)
    # ``expires_after`` is always {"anchor": "last_active_at", "days": N}: only N is kept.
    expires_after_days: Mapped[int | None] = mapped_column(Integer)
    expires_at: Mapped[int | None] = mapped_column(BigInteger)
    last_active_at: Mapped[int | None] = mapped_column(BigInteger)
    expired_at: Mapped[int | None] = mapped_column(BigInteger)
    metadata_: Mapped[Metadata | None] = mapped_column("metadata", JsonType)
    # The embedding model its chunks were embedded with (set by the first completed file).
    embedding_model: Mapped[str | None] = mapped_column(String(256))


class VectorStoreFileRow(Base):
    __tablename__ = "vector_store_files"
    __table_args__ = (
        Index("ix_vector_store_files_store_status_file", "vector_store_id", "status", "file_id"),
        Index("ix_vector_store_files_batch_id_file_id", "batch_id", "file_id"),
        Index("ix_vector_store_files_file_id", "file_id"),
        Index("ix_vector_store_files_status_created_at", "status", "created_at"),
        Index("ix_vector_store_files_status_embedding_model", "status", "embedding_model"),
    )

    vector_store_id: Mapped[str] = mapped_column(
        IdType, ForeignKey("vector_stores.id", ondelete="CASCADE"), primary_key=True
    )
    # The store file's id on the wire is its file's id.
    file_id: Mapped[str] = mapped_column(IdType, primary_key=True)
    project_id: Mapped[str] = mapped_column(IdType)
    created_at: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    last_error: Mapped[JsonObject | None] = mapped_column(JsonType)
    usage_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    chunking_strategy: Mapped[JsonObject] = mapped_column(JsonType)
    attributes: Mapped[JsonObject | None] = mapped_column(JsonType)
    batch_id: Mapped[str | None] = mapped_column(IdType)
    # Ingestion progress, shown as the store file's ``progress``: NULL until the file is
    # chunked; then chunks embedded so far of how many (written every ~0.5 s while embedding).
    chunks_done: Mapped[int | None] = mapped_column(Integer)
    chunks_total: Mapped[int | None] = mapped_column(Integer)
    # The model its vectors are from (set when it completes, and when it is re-embedded): a
    # server with another model re-embeds completed files whose model differs (migration 0014).
    embedding_model: Mapped[str | None] = mapped_column(String(256))
    # Ingestion bookkeeping, never shown. ``token`` changes each time the file is (re)queued, so
    # a late result of an earlier attempt is recognised and dropped; the lease is the claim of
    # the server indexing it.
    token: Mapped[str] = mapped_column(String(40))
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[float | None] = mapped_column(Float)


class FileBatchRow(Base):
    __tablename__ = "vector_store_file_batches"
    __table_args__ = (Index("ix_vector_store_file_batches_store_id_id", "vector_store_id", "id"),)

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    project_id: Mapped[str] = mapped_column(IdType)
    vector_store_id: Mapped[str] = mapped_column(
        IdType, ForeignKey("vector_stores.id", ondelete="CASCADE")
    )
    created_at: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    files_in_progress: Mapped[int] = mapped_column(Integer, default=0)
    files_completed: Mapped[int] = mapped_column(Integer, default=0)
    files_failed: Mapped[int] = mapped_column(Integer, default=0)
    files_cancelled: Mapped[int] = mapped_column(Integer, default=0)
    files_total: Mapped[int] = mapped_column(Integer, default=0)


class PendingRemovalRow(Base):
    """Index entries and bytes still to remove after a delete committed: written in the delete's
    transaction, removed once done, so a crash in between leaves work for the sweeper, not
    orphans. ``vector_store_id`` alone: the store's index; with ``file_id``: that file's entries
    in it; ``file_id`` alone: the file's bytes."""

    __tablename__ = "pending_removals"

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    vector_store_id: Mapped[str | None] = mapped_column(IdType)
    file_id: Mapped[str | None] = mapped_column(IdType)


class BlobPartRow(Base):
    """File bytes kept in the database (``THREADLINE_BLOB_STORE=database``), in parts of up to
    1 MiB. A blob being written lives under a ``~``-prefixed incoming id until its commit renames
    it, so readers see all of it or nothing."""

    __tablename__ = "blob_parts"
    __table_args__ = (Index("ix_blob_parts_created_at", "created_at"),)

    blob_id: Mapped[str] = mapped_column(IdType, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[int] = mapped_column(BigInteger)
