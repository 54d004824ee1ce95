"""What the SQLite and PostgreSQL search indexes share: the file and chunk tables, attribute
filters, and fetching chunk texts. Vector storage and the two kinds of search differ per backend
(``search_index_sqlite.py``, ``search_index_postgres.py``).

Attribute filters are evaluated in Python on the per-file attributes (``providers/vector_index/
filters.py``) so that they mean exactly the same on both backends; the search then runs over the
files that pass."""

from collections.abc import Sequence
from typing import cast

import orjson
from sqlalchemy import Connection, TextClause, bindparam, text

from threadline.providers.vector_index.base import (
    ChunkKey,
    ChunkText,
    FileEntry,
    FileVectors,
    StoredFile,
)
from threadline.providers.vector_index.filters import matches
from threadline.records.files import AttributeFilter, Attributes
from threadline.storage.database import Database

# Every change to a store's files raises its version (see migration 0008): in-memory postings
# compare it with theirs. Stores are never re-created under an old id, so the row of a removed
# store stays (raised once more), and versions only grow.
BUMP_VERSION = (
    "INSERT INTO search_store_versions (store_id, version) VALUES (:store_id, 1) "
    "ON CONFLICT (store_id) DO UPDATE SET version = search_store_versions.version + 1 "
    "RETURNING version"
)
DELETE_FILE = (
    BUMP_VERSION,
    "DELETE FROM search_chunks WHERE store_id = :store_id AND file_id = :file_id",
    "DELETE FROM search_passages WHERE store_id = :store_id AND file_id = :file_id",
    "DELETE FROM search_files WHERE store_id = :store_id AND file_id = :file_id",
)
DELETE_STORE = (
    BUMP_VERSION,
    "DELETE FROM search_chunks WHERE store_id = :store_id",
    "DELETE FROM search_passages WHERE store_id = :store_id",
    "DELETE FROM search_files WHERE store_id = :store_id",
)
_INSERT_FILE = text(
    "INSERT INTO search_files (store_id, file_id, embedding_model, attributes, chunk_count, "
    "version) VALUES (:store_id, :file_id, :embedding_model, :attributes, :chunk_count, :version)"
)
_INSERT_CHUNK = text(
    "INSERT INTO search_chunks (store_id, file_id, chunk_index, text) "
    "VALUES (:store_id, :file_id, :chunk_index, :text)"
)
_FILE_ATTRIBUTES = text(
    "SELECT store_id, file_id, attributes FROM search_files WHERE store_id IN :store_ids"
).bindparams(bindparam("store_ids", expanding=True))
_CHUNK_TEXTS = text(
    "SELECT c.store_id, c.file_id, c.chunk_index, c.text, f.attributes FROM search_chunks c "
    "JOIN search_files f ON f.store_id = c.store_id AND f.file_id = c.file_id "
    "WHERE c.store_id = :store_id AND c.file_id = :file_id AND c.chunk_index IN :indexes"
).bindparams(bindparam("indexes", expanding=True))


# Re-embedding swaps a file's passages only if nobody wrote the file since its chunks were read
# (its version) and no other server swapped them already (its model). It first takes the store
# version's row lock, as every other write of a store's files does first (``BUMP_VERSION``), so
# on PostgreSQL it waits for a removal under way rather than leave passages of a removed file;
# the version itself is left alone (keyword postings do not change).
_LOCK_STORE_VERSION = text(
    "UPDATE search_store_versions SET version = version WHERE store_id = :store_id"
)
_TAKE_FILE_VECTORS = text(
    "UPDATE search_files SET embedding_model = :model WHERE store_id = :store_id "
    "AND file_id = :file_id AND version = :version AND embedding_model <> :model"
)
_DELETE_PASSAGES = text(
    "DELETE FROM search_passages WHERE store_id = :store_id AND file_id = :file_id"
)
_STORED_FILE = text(
    "SELECT embedding_model, version FROM search_files "
    "WHERE store_id = :store_id AND file_id = :file_id"
)
_STORE_VERSIONS = text(
    "SELECT store_id, version FROM search_store_versions WHERE store_id IN :store_ids"
).bindparams(bindparam("store_ids", expanding=True))
_FILE_VERSIONS = text("SELECT file_id, version FROM search_files WHERE store_id = :store_id")
_FILE_CHUNKS = text(
    "SELECT text FROM search_chunks WHERE store_id = :store_id AND file_id = :file_id "
    "ORDER BY chunk_index"
)


class SqlSearchIndexBase:
    def __init__(self, database: Database) -> None:
        self.database = database

    def _dumps(self, value: Attributes) -> str:
        return orjson.dumps(value).decode()  # the attributes column holds JSON text

    # --- writes ------------------------------------------------------------------------------

    def _replace_rows(self, connection: Connection, entry: FileEntry) -> None:
        ids = {"store_id": entry.store_id, "file_id": entry.file_id}
        # The store version's row lock first, as in every write of a store's files: writers of
        # one store then never wait on each other in a cycle (PostgreSQL).
        version = connection.execute(text(BUMP_VERSION), ids).scalar_one()
        for statement in DELETE_FILE[1:]:
            connection.execute(text(statement), ids)
        connection.execute(
            _INSERT_FILE,
            {
                **ids,
                "version": version,
                "embedding_model": entry.embedding_model,
                "attributes": self._dumps(entry.attributes or {}),
                "chunk_count": len(entry.chunks),
            },
        )
        if entry.chunks:
            connection.execute(
                _INSERT_CHUNK,
                [{**ids, "chunk_index": i, "text": t} for i, t in enumerate(entry.chunks)],
            )

    def _swap_vectors(
        self,
        connection: Connection,
        entry: FileVectors,
        version: int,
        insert: TextClause,
        rows: list[dict[str, object]],
    ) -> bool:
        """Replace the file's passages with ``rows`` (``insert``: the backend's statement) if
        it is still at ``version`` and not on ``entry``'s model yet (see ``_TAKE_FILE_VECTORS``)."""
        ids = {"store_id": entry.store_id, "file_id": entry.file_id}
        connection.execute(_LOCK_STORE_VERSION, ids)
        taken = connection.execute(
            _TAKE_FILE_VECTORS, {**ids, "model": entry.embedding_model, "version": version}
        )
        if taken.rowcount == 0:
            return False
        connection.execute(_DELETE_PASSAGES, ids)
        if rows:
            connection.execute(insert, rows)
        return True

    async def set_attributes(self, store_id: str, file_id: str, attributes: Attributes) -> None:
        await self.database.write(_set_attributes, store_id, file_id, self._dumps(attributes or {}))

    async def _delete(self, statements: tuple[str, ...], **ids: str) -> None:
        await self.database.run_off_loop(True, _run_all, statements, ids)

    # --- reads -------------------------------------------------------------------------------

    async def allowed_files(
        self, store_ids: Sequence[str], filters: AttributeFilter | None
    ) -> list[tuple[str, str]] | None:
        """The (store, file) pairs whose attributes pass ``filters``; None: no filter."""
        if not filters:
            return None
        rows = await self.database.read(_file_attributes, list(store_ids))
        return [(s, f) for s, f, attributes in rows if matches(filters, attributes)]

    async def chunk_texts(self, keys: Sequence[ChunkKey]) -> dict[ChunkKey, ChunkText]:
        return await self.database.read(_chunk_texts, list(keys))

    async def file_chunks(self, store_id: str, file_id: str) -> list[str]:
        return await self.database.read(read_file_chunks, store_id, file_id)

    async def stored_file(self, store_id: str, file_id: str) -> StoredFile | None:
        return await self.database.read(_stored_file, store_id, file_id)


def read_file_chunks(connection: Connection, store_id: str, file_id: str) -> list[str]:
    params = {"store_id": store_id, "file_id": file_id}
    return [row[0] for row in connection.execute(_FILE_CHUNKS, params)]


def _stored_file(connection: Connection, store_id: str, file_id: str) -> StoredFile | None:
    params = {"store_id": store_id, "file_id": file_id}
    found = connection.execute(_STORED_FILE, params).first()
    if found is None:
        return None
    return StoredFile(read_file_chunks(connection, store_id, file_id), found[0], int(found[1]))


def store_versions(connection: Connection, store_ids: list[str]) -> dict[str, int]:
    """Each store's version; 0 for a store never written to."""
    found = dict(connection.execute(_STORE_VERSIONS, {"store_ids": store_ids}).all())
    return {s: int(found.get(s, 0)) for s in store_ids}


def file_versions(connection: Connection, store_id: str) -> tuple[int, dict[str, int]]:
    """The store's version and its files' (in one snapshot)."""
    version = store_versions(connection, [store_id])[store_id]
    files = connection.execute(_FILE_VERSIONS, {"store_id": store_id}).all()
    return version, {f: int(v) for f, v in files}


def _run_all(connection: Connection, statements: tuple[str, ...], ids: dict[str, str]) -> None:
    for statement in statements:
        connection.execute(text(statement), ids)


def _set_attributes(connection: Connection, store_id: str, file_id: str, attributes: str) -> None:
    connection.execute(
        text(
            "UPDATE search_files SET attributes = :attributes "
            "WHERE store_id = :store_id AND file_id = :file_id"
        ),
        {"store_id": store_id, "file_id": file_id, "attributes": attributes},
    )


def _file_attributes(
    connection: Connection, store_ids: list[str]
) -> list[tuple[str, str, Attributes | None]]:
    rows = connection.execute(_FILE_ATTRIBUTES, {"store_ids": store_ids}).all()
    return [(r[0], r[1], _as_dict(r[2])) for r in rows]


def _chunk_texts(connection: Connection, keys: list[ChunkKey]) -> dict[ChunkKey, ChunkText]:
    by_file: dict[tuple[str, str], list[int]] = {}
    for store_id, file_id, index in keys:
        by_file.setdefault((store_id, file_id), []).append(index)
    found: dict[ChunkKey, ChunkText] = {}
    for (store_id, file_id), indexes in by_file.items():
        rows = connection.execute(
            _CHUNK_TEXTS, {"store_id": store_id, "file_id": file_id, "indexes": indexes}
        )
        for row in rows:
            found[(row[0], row[1], row[2])] = ChunkText(row[3], _as_dict(row[4]) or {})
    return found


def _as_dict(value: str | bytes | Attributes | None) -> Attributes | None:
    """The attributes column: JSON text (SQLite) or already decoded (PostgreSQL's JSONB)."""
    if value is None or isinstance(value, dict):
        return value
    loaded = orjson.loads(value)
    return cast(Attributes, loaded) if isinstance(loaded, dict) else None
