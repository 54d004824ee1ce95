"""The ingestion queue: store files ``in_progress`` are the queue, in the database, so it survives
restarts. A server claims a file with a lease (``lease_owner``, ``lease_expires_at``) that it
renews while indexing; a file whose server died is claimed again when the lease runs out.

Results are fenced like run updates: they land only while the row still has the token the job
started with and the lease is still the job's."""

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, and_, bindparam, or_, select, update

from threadline.records.files import Attributes, IngestionJob, StoreFileChanges, StoreFileError
from threadline.storage import store_files
from threadline.storage.file_tables import FileRow, VectorStoreFileRow, VectorStoreRow
from threadline.storage.repositories import rows_of

_store_files = VectorStoreFileRow.__table__
_stores = VectorStoreRow.__table__
_files = FileRow.__table__


@dataclass(frozen=True, slots=True)
class JobKey:
    store_id: str
    file_id: str
    token: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """How indexing a file ended."""

    status: Literal["completed", "failed"]
    last_error: StoreFileError | None = None
    usage_bytes: int = 0
    embedding_model: str | None = None
    chunks: int = 0  # a completed file's chunks (its final progress)


@dataclass(frozen=True, slots=True)
class Settled:
    """What the job must still do in the index: ``remove`` the file's entries (the file left
    the store, was cancelled, or failed), or nothing; ``attributes`` are the row's current ones
    (they may have changed while indexing)."""

    remove: bool
    attributes: Attributes | None = None


# Built once, with bound parameters (names differ from the columns: an UPDATE reserves those).
_columns = _store_files.c
_KEY = and_(
    _columns.vector_store_id == bindparam("k_store"),
    _columns.file_id == bindparam("k_file"),
    _columns.token == bindparam("k_token"),
    _columns.status == "in_progress",
)
_UNHELD = or_(_columns.lease_owner.is_(None), _columns.lease_expires_at < bindparam("k_now"))
_CLAIMABLE = (
    select(_columns.vector_store_id, _columns.file_id, _columns.token)
    .where(_columns.status == "in_progress", _UNHELD)
    .order_by(_columns.created_at)
    .limit(bindparam("k_limit"))
)
_CLAIM = (
    update(_store_files)
    .where(_KEY, _UNHELD)
    .values(lease_owner=bindparam("k_owner"), lease_expires_at=bindparam("k_until"))
)
_RENEW = (
    update(_store_files)
    .where(_KEY, _columns.lease_owner == bindparam("k_owner"))
    .values(lease_expires_at=bindparam("k_until"))
)
_PROGRESS = (
    update(_store_files)
    .where(_KEY, _columns.lease_owner == bindparam("k_owner"))
    .values(chunks_done=bindparam("k_done"), chunks_total=bindparam("k_total"))
)
_JOB = (
    select(_store_files, _files.c.filename, _files.c.bytes)
    .join(_files, _files.c.id == _columns.file_id)
    .where(_KEY)
)


def _key(key: JobKey) -> dict[str, str]:
    return {"k_store": key.store_id, "k_file": key.file_id, "k_token": key.token}


def claimable(connection: Connection, now: float, limit: int) -> list[JobKey]:
    """Files waiting to be indexed that no live lease holds, oldest first."""
    rows = connection.execute(_CLAIMABLE, {"k_now": now, "k_limit": limit})
    return [JobKey(*row) for row in rows]


def claim(connection: Connection, key: JobKey, owner: str, now: float, until: float) -> bool:
    params = {**_key(key), "k_owner": owner, "k_now": now, "k_until": until}
    return connection.execute(_CLAIM, params).rowcount > 0


def renew(connection: Connection, key: JobKey, owner: str, until: float) -> bool:
    """Extend the lease; False if the job no longer owns the file (deleted, cancelled,
    re-queued or taken over)."""
    params = {**_key(key), "k_owner": owner, "k_until": until}
    return connection.execute(_RENEW, params).rowcount > 0


def record_progress(connection: Connection, key: JobKey, owner: str, done: int, total: int) -> bool:
    """How many of the file's chunks are embedded so far; False (nothing written) if the job no
    longer owns the file. No counter changes with it, so no store lock is taken."""
    params = {**_key(key), "k_owner": owner, "k_done": done, "k_total": total}
    return connection.execute(_PROGRESS, params).rowcount > 0


def release(connection: Connection, owner: str | None = None) -> None:
    """Give up the leases of ``owner`` (every lease when None), so the files are claimed again
    at once instead of after the lease runs out."""
    statement = update(_store_files).where(_columns.lease_owner.is_not(None))
    if owner is not None:
        statement = statement.where(_columns.lease_owner == owner)
    connection.execute(statement.values(lease_owner=None, lease_expires_at=None))


def job(connection: Connection, key: JobKey) -> IngestionJob | None:
    """What indexing the file needs: the store file, its file's name and size."""
    found = rows_of(connection.execute(_JOB, _key(key)), IngestionJob)
    return found[0] if found else None


def settle(connection: Connection, key: JobKey, owner: str, outcome: Outcome | None) -> Settled:
    """Record how the job ended (``outcome`` None: it was stopped before it ended)."""
    store_files.lock_store(connection, key.store_id)
    row = store_files.get(connection, key.store_id, key.file_id)
    if row is None:
        return Settled(remove=True)
    if row["token"] != key.token:
        return Settled(remove=False)  # re-queued meanwhile: the newer job owns the index entries
    if row["status"] == "cancelled":
        return Settled(remove=True)
    if row["status"] != "in_progress" or row["lease_owner"] != owner or outcome is None:
        return Settled(remove=False)
    completed = outcome.status == "completed"
    changes: StoreFileChanges = {
        "status": outcome.status,
        "last_error": outcome.last_error,
        "usage_bytes": outcome.usage_bytes if completed else 0,
        "lease_owner": None,
        "lease_expires_at": None,
    }
    if completed:
        # A completed file keeps its final counts (a batch's progress sums them).
        changes["chunks_done"] = changes["chunks_total"] = outcome.chunks
        changes["embedding_model"] = outcome.embedding_model
    if store_files.change(connection, row, changes) is None:
        return Settled(remove=False)
    if completed and outcome.embedding_model:
        connection.execute(
            update(_stores)
            .where(_stores.c.id == key.store_id, _stores.c.embedding_model.is_(None))
            .values(embedding_model=outcome.embedding_model)
        )
    return Settled(remove=not completed, attributes=row["attributes"])
