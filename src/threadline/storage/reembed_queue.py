"""The re-embedding queue: completed store files whose vectors are from another model than the
server's (``vector_store_files.embedding_model``, migration 0014) are the queue, in the database,
so it survives restarts. A file stays ``completed`` throughout (its store keeps answering
searches); a server claims it with the ingestion lease columns (``lease_owner``,
``lease_expires_at``, unused on completed files otherwise), writes its progress to
``chunks_done``/``chunks_total`` (the API's ``progress``) and records the new model when its
vectors are swapped.

Every write is fenced like ingestion's: it lands only while the row still has the token the job
started with, is still completed and is still leased to the job. A file queued again, deleted or
taken over meanwhile is left to whoever owns it now."""

from sqlalchemy import Connection, and_, bindparam, func, select, update

from threadline.storage import store_files
from threadline.storage.file_tables import VectorStoreFileRow, VectorStoreRow
from threadline.storage.ingestion_queue import JobKey

_store_files = VectorStoreFileRow.__table__
_stores = VectorStoreRow.__table__
_columns = _store_files.c

# Completed files indexed with a model other than ``k_model`` (NULL: never indexed, nothing to
# re-embed). Served by ix_vector_store_files_status_embedding_model.
_STALE = and_(
    _columns.status == "completed",
    _columns.embedding_model.is_not(None),
    _columns.embedding_model != bindparam("k_model"),
)
_KEY = and_(
    _columns.vector_store_id == bindparam("k_store"),
    _columns.file_id == bindparam("k_file"),
    _columns.token == bindparam("k_token"),
    _columns.status == "completed",
)
_UNHELD = (_columns.lease_owner.is_(None)) | (_columns.lease_expires_at < bindparam("k_now"))
_OWNED = and_(_KEY, _columns.lease_owner == bindparam("k_owner"))
_CLAIMABLE = (
    select(_columns.vector_store_id, _columns.file_id, _columns.token)
    .where(_STALE, _UNHELD)
    .order_by(_columns.created_at)
    .limit(bindparam("k_limit"))
)
_PENDING = select(func.count()).select_from(_store_files).where(_STALE)
_CLAIM = (
    update(_store_files)
    .where(_KEY, _STALE, _UNHELD)
    .values(lease_owner=bindparam("k_owner"), lease_expires_at=bindparam("k_until"))
)
_RENEW = update(_store_files).where(_OWNED).values(lease_expires_at=bindparam("k_until"))
_PROGRESS = (
    update(_store_files)
    .where(_OWNED)
    .values(chunks_done=bindparam("k_done"), chunks_total=bindparam("k_total"))
)
_STORE_STALE = (
    select(func.count())
    .select_from(_store_files)
    .where(_columns.vector_store_id == bindparam("k_store"), _STALE)
)


def _key(key: JobKey) -> dict[str, str]:
    return {"k_store": key.store_id, "k_file": key.file_id, "k_token": key.token}


def claimable(connection: Connection, model: str, now: float, limit: int) -> list[JobKey]:
    """Files to re-embed with ``model`` that no live lease holds, oldest first."""
    rows = connection.execute(_CLAIMABLE, {"k_model": model, "k_now": now, "k_limit": limit})
    return [JobKey(*row) for row in rows]


def pending(connection: Connection, model: str) -> int:
    """How many files are still to re-embed with ``model``, held by a lease or not."""
    return int(connection.execute(_PENDING, {"k_model": model}).scalar_one())


def claim(
    connection: Connection, key: JobKey, model: str, owner: str, now: float, until: float
) -> bool:
    params = {**_key(key), "k_model": model, "k_owner": owner, "k_now": now, "k_until": until}
    return connection.execute(_CLAIM, params).rowcount > 0


def renew(connection: Connection, key: JobKey, owner: str, until: float) -> bool:
    params = {**_key(key), "k_owner": owner, "k_until": until}
    return connection.execute(_RENEW, params).rowcount > 0


def record_progress(connection: Connection, key: JobKey, owner: str, done: int, total: int) -> bool:
    """Chunks embedded so far with the new model, shown as the file's ``progress``."""
    params = {**_key(key), "k_owner": owner, "k_done": done, "k_total": total}
    return connection.execute(_PROGRESS, params).rowcount > 0


def settle(connection: Connection, key: JobKey, owner: str, model: str, chunks: int | None) -> bool:
    """Record that the file's vectors are now from ``model`` (``chunks``: its chunk count, its
    final progress) and give up the lease; once no file of
    the store is left on another model, the store records ``model`` too. False if the job no
    longer owns the file (nothing written)."""
    # The store's lock first, as every writer of its files takes it (see store_files).
    store_files.lock_store(connection, key.store_id)
    values: dict[str, object] = {
        "embedding_model": model,
        "chunks_done": chunks,
        "chunks_total": chunks,
        "lease_owner": None,
        "lease_expires_at": None,
    }
    params = {**_key(key), "k_owner": owner}
    if connection.execute(update(_store_files).where(_OWNED).values(values), params).rowcount == 0:
        return False
    left = connection.execute(_STORE_STALE, {"k_store": key.store_id, "k_model": model})
    if left.scalar_one() == 0:
        connection.execute(
            update(_stores).where(_stores.c.id == key.store_id).values(embedding_model=model)
        )
    return True
