"""The PostgreSQL search index: pgvector HNSW for passage vectors; for keywords, in-memory
postings per replica, kept current through the stores' versions (``search_postings.py``), with
full-text search (a generated ``tsvector`` with a GIN index, ``ts_rank``) answering while a store's
postings load. Any number of replicas share the database.

The ``embedding`` column is an untyped ``vector`` so that stores embedded by different models (of
different sizes) can coexist; HNSW needs a fixed size, so there is one partial expression index
per size (``embedding::vector(N) WHERE dims = N``), made when vectors of that size first arrive.
Filtered searches use pgvector's iterative index scans, so a filter that keeps few rows still
fills the result."""

import contextlib
from collections.abc import Sequence
from io import StringIO
from typing import Any

import numpy as np
from sqlalchemy import Connection, exc, text

from threadline.providers.vector_index.base import Candidate, FileEntry, FileVectors, Vectors
from threadline.records.files import AttributeFilter
from threadline.storage.search_index import DELETE_FILE, DELETE_STORE, SqlSearchIndexBase
from threadline.storage.search_postings import DEFAULT_MEMORY_BUDGET, KeywordPostings

_INSERT_PASSAGE = text(
    "INSERT INTO search_passages (store_id, file_id, model, dims, first_chunk, last_chunk, "
    "embedding) VALUES (:store_id, :file_id, :model, :dims, :first, :last, CAST(:embedding AS "
    "vector))"
)
_VECTOR = (
    "SELECT store_id, file_id, first_chunk, last_chunk, "
    "1 - (embedding::vector({dims}) <=> CAST(:query AS vector({dims}))) AS similarity "
    "FROM search_passages WHERE dims = {dims} AND model = :model AND store_id = ANY(:stores) "
    "{pairs} ORDER BY embedding::vector({dims}) <=> CAST(:query AS vector({dims})) LIMIT :take"
)
_KEYWORD = (
    "SELECT store_id, file_id, chunk_index, ts_rank(tsv, query, 1) AS score "
    "FROM search_chunks, to_tsquery('english', :query) AS query "
    "WHERE store_id = ANY(:stores) AND tsv @@ query {pairs} ORDER BY score DESC LIMIT :limit"
)
_IN_PAIRS = "AND store_id || ' ' || file_id = ANY(:pairs)"


class PostgresSearchIndex(SqlSearchIndexBase):
    def __init__(self, database: Any, postings_budget_bytes: int = DEFAULT_MEMORY_BUDGET) -> None:
        super().__init__(database)
        self._indexed_sizes: set[int] = set()
        self._postings = KeywordPostings(database, postings_budget_bytes)

    async def replace_file(self, entry: FileEntry) -> None:
        if len(entry.vectors):
            await self._ensure_hnsw(int(entry.vectors.shape[1]))
        await self.database.write(self._replace, entry)

    def _replace(self, connection: Connection, entry: FileEntry) -> None:
        self._replace_rows(connection, entry)
        rows = _passage_rows(entry)
        if rows:
            connection.execute(_INSERT_PASSAGE, rows)

    async def replace_vectors(self, entry: FileVectors, version: int) -> bool:
        if len(entry.vectors):
            await self._ensure_hnsw(int(entry.vectors.shape[1]))
        rows = _passage_rows(entry)
        swapped: bool = await self.database.write(
            self._swap_vectors, entry, version, _INSERT_PASSAGE, rows
        )
        return swapped

    async def _ensure_hnsw(self, dims: int) -> None:
        if dims in self._indexed_sizes:
            return
        statement = (
            f"CREATE INDEX IF NOT EXISTS ix_search_passages_hnsw_{dims} ON search_passages "
            f"USING hnsw ((embedding::vector({dims})) vector_cosine_ops) WHERE dims = {dims}"
        )
        # Another replica may create it at the same moment: then it exists, which is the point.
        with contextlib.suppress(exc.IntegrityError, exc.ProgrammingError):
            await self.database.write(_execute, statement)
        self._indexed_sizes.add(dims)

    async def remove_file(self, store_id: str, file_id: str) -> None:
        await self._delete(DELETE_FILE, store_id=store_id, file_id=file_id)

    async def remove_store(self, store_id: str) -> None:
        await self._delete(DELETE_STORE, store_id=store_id)
        self._postings.forget(store_id)

    async def vector_search(
        self,
        store_ids: Sequence[str],
        vector: Vectors,
        *,
        model: str,
        limit: int,
        filters: AttributeFilter | None = None,
    ) -> list[Candidate]:
        allowed = await self.allowed_files(store_ids, filters)
        if allowed is not None and not allowed:
            return []
        dims = int(np.asarray(vector).shape[-1])
        statement = text(_VECTOR.format(dims=dims, pairs=_IN_PAIRS if allowed else ""))
        params: dict[str, object] = {
            "query": _vector_literals(np.asarray(vector).reshape(1, -1))[0],
            "model": model,
            "stores": list(store_ids),
            "take": limit * 4,  # passages; several may fall in one chunk
        }
        if allowed:
            params["pairs"] = [f"{s} {f}" for s, f in allowed]
        rows = await self.database.read(_vector_rows, statement, params, limit * 4)
        best: dict[tuple[str, str, int], float] = {}
        for store_id, file_id, first, last, similarity in sorted(rows, key=lambda r: -r[4]):
            for chunk in range(first, last + 1):
                best.setdefault((store_id, file_id, chunk), float(similarity))
        ranked = sorted(best.items(), key=lambda item: -item[1])[:limit]
        return [Candidate(s, f, c, score) for (s, f, c), score in ranked]

    async def keyword_search(
        self,
        store_ids: Sequence[str],
        terms: Sequence[str],
        *,
        limit: int,
        filters: AttributeFilter | None = None,
    ) -> list[Candidate]:
        words = [w for w in ("".join(ch for ch in t if ch.isalnum()) for t in terms) if w]
        if not words or not store_ids:
            return []
        allowed = await self.allowed_files(store_ids, filters)
        if allowed is not None and not allowed:
            return []
        found = await self._postings.search(store_ids, terms, limit, allowed)
        if found is not None:
            return found
        statement = text(_KEYWORD.format(pairs=_IN_PAIRS if allowed else ""))
        params: dict[str, object] = {
            "query": " | ".join(words),
            "stores": list(store_ids),
            "limit": limit,
        }
        if allowed:
            params["pairs"] = [f"{s} {f}" for s, f in allowed]
        rows = await self.database.read(_rows, statement, params)
        return [Candidate(r[0], r[1], r[2], float(r[3])) for r in rows]

    async def preload(self, store_id: str) -> None:
        """Load the store's keyword postings now, however long it takes (warming up)."""
        await self._postings.preload(store_id)

    async def close(self) -> None:
        self._indexed_sizes.clear()
        self._postings.close()


def _execute(connection: Connection, statement: str) -> None:
    connection.execute(text(statement))


def _rows(connection: Connection, statement: Any, params: dict[str, object]) -> list[Any]:
    return [tuple(r) for r in connection.execute(statement, params)]


def _vector_rows(
    connection: Connection, statement: Any, params: dict[str, object], ef_search: int
) -> list[Any]:
    # relaxed_order: keep scanning the HNSW graph until enough rows pass the WHERE clause
    # (results then come slightly out of order: the caller re-sorts them).
    connection.execute(text("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)"))
    connection.execute(
        text("SELECT set_config('hnsw.ef_search', :value, true)"),
        {"value": str(max(40, ef_search))},
    )
    return _rows(connection, statement, params)


def _passage_rows(entry: FileEntry | FileVectors) -> list[dict[str, object]]:
    store_id, file_id, model = entry.store_id, entry.file_id, entry.embedding_model
    vectors, passage_chunks = entry.vectors, entry.passage_chunks
    if not len(vectors):
        return []
    return [
        {
            "store_id": store_id,
            "file_id": file_id,
            "model": model,
            "dims": vectors.shape[1],
            "first": first,
            "last": last,
            "embedding": literal,
        }
        for literal, (first, last) in zip(_vector_literals(vectors), passage_chunks, strict=True)
    ]


def _vector_literals(vectors: Vectors) -> list[str]:
    # pgvector's text form, '[x,y,...]', written by numpy in one call rather than per float.
    buffer = StringIO()
    np.savetxt(buffer, np.asarray(vectors, dtype=np.float32), fmt="%.7g", delimiter=",")
    return [f"[{line}]" for line in buffer.getvalue().splitlines()]
