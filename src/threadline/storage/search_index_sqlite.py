"""The SQLite search index: chunks (with FTS5) and passage vectors (float32 blobs) in the server's
one database file; both kinds of search run in memory.

- Vectors: a store's are loaded at its first vector search (about 1.5 KB per passage for a
  384-dimension model) into a ``StoreMatrix`` (``providers/vector_index/matrix.py``), kept in
  step with every change made through this index. SQLite is the one-process deployment, so no
  other process changes them behind its back.
- Keywords: in-memory postings (``search_postings.py``); FTS5 answers while a store's postings
  load (the common-terms rule past ``COMMON_TERMS_FROM`` chunks, as in the postings).
"""

import asyncio
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
from sqlalchemy import Connection, bindparam, text

from threadline.providers.vector_index.base import Candidate, FileEntry, FileVectors, Vectors
from threadline.providers.vector_index.matrix import StoreMatrix, segment_of
from threadline.records.files import AttributeFilter
from threadline.storage.search_index import DELETE_FILE, DELETE_STORE, SqlSearchIndexBase
from threadline.storage.search_postings import DEFAULT_MEMORY_BUDGET, KeywordPostings

_INSERT_PASSAGE = text(
    "INSERT INTO search_passages (store_id, file_id, model, dims, first_chunk, last_chunk, "
    "embedding) VALUES (:store_id, :file_id, :model, :dims, :first, :last, :embedding)"
)
_LOAD_PASSAGES = text(
    "SELECT file_id, model, first_chunk, last_chunk, embedding FROM search_passages "
    "WHERE store_id = :store_id ORDER BY file_id, id"
)
# FTS5, while a store's postings load. bm25() weights per column: store_id 0 (it only narrows),
# text 1. FTS5 sorts by rank itself.
_KEYWORD = (
    "SELECT c.store_id, c.file_id, c.chunk_index, -m.rank FROM ("
    "SELECT rowid, rank FROM search_chunks_fts WHERE search_chunks_fts MATCH :match "
    "AND rank MATCH 'bm25(0.0, 1.0)' ORDER BY rank {limit}) AS m "
    "JOIN search_chunks c ON c.id = m.rowid {where} ORDER BY m.rank LIMIT :limit"
)
_KEYWORD_ALL = text(_KEYWORD.format(limit="LIMIT :limit", where=""))
_KEYWORD_IN_FILES = text(
    _KEYWORD.format(
        limit="",
        where="WHERE c.store_id || ' ' || c.file_id IN (SELECT value FROM json_each(:pairs))",
    )
)
_BAREWORD = re.compile(r"[^\w]+", re.UNICODE)
COMMON_TERMS_FROM = 20_000
COMMON_SHARE = 0.25  # chosen on the dev split: 0.1 cost keyword recall, 0.25 none
_QUERY_TERMS = (
    # Per connection: the query's words go through the index's own tokenizer (porter stemming),
    # so that their document counts can be read from the index's vocabulary.
    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.search_query_terms USING fts5("
    "term, tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.search_query_vocab USING fts5vocab("
    "temp, search_query_terms, instance)",
)


class SqliteSearchIndex(SqlSearchIndexBase):
    def __init__(self, database: Any, postings_budget_bytes: int = DEFAULT_MEMORY_BUDGET) -> None:
        super().__init__(database)
        self._stores: dict[str, StoreMatrix] = {}
        self._loading: dict[str, asyncio.Lock] = {}
        self._postings = KeywordPostings(database, postings_budget_bytes)

    async def replace_file(self, entry: FileEntry) -> None:
        async with self._store_lock(entry.store_id):
            await self.database.run_off_loop(True, self._replace, entry)
            matrix = self._stores.get(entry.store_id)
            if matrix is not None:
                segment = segment_of(entry.embedding_model, entry.vectors, entry.passage_chunks)
                matrix.put(entry.file_id, segment)

    def _replace(self, connection: Connection, entry: FileEntry) -> None:
        self._replace_rows(connection, entry)
        rows = _passage_rows(entry)
        if rows:
            connection.execute(_INSERT_PASSAGE, rows)

    async def replace_vectors(self, entry: FileVectors, version: int) -> bool:
        rows = _passage_rows(entry)
        async with self._store_lock(entry.store_id):
            swapped: bool = await self.database.run_off_loop(
                True, self._swap_vectors, entry, version, _INSERT_PASSAGE, rows
            )
            matrix = self._stores.get(entry.store_id)
            if swapped and matrix is not None:
                segment = segment_of(entry.embedding_model, entry.vectors, entry.passage_chunks)
                matrix.put(entry.file_id, segment)
            return swapped

    async def remove_file(self, store_id: str, file_id: str) -> None:
        async with self._store_lock(store_id):
            await self._delete(DELETE_FILE, store_id=store_id, file_id=file_id)
            if store_id in self._stores:
                self._stores[store_id].remove(file_id)

    async def remove_store(self, store_id: str) -> None:
        async with self._store_lock(store_id):
            await self._delete(DELETE_STORE, store_id=store_id)
            self._stores.pop(store_id, None)
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
        found: list[Candidate] = []
        for store_id in dict.fromkeys(store_ids):
            matrix = await self._matrix(store_id)
            keep = None
            if allowed is not None:
                files = {f for s, f in allowed if s == store_id}
                keep = files.__contains__
            query = np.asarray(vector, dtype=np.float32)
            found.extend(
                await asyncio.to_thread(matrix.search, store_id, query, model, limit, keep)
            )
        return sorted(found, key=lambda c: -c.score)[:limit]

    async def keyword_search(
        self,
        store_ids: Sequence[str],
        terms: Sequence[str],
        *,
        limit: int,
        filters: AttributeFilter | None = None,
    ) -> list[Candidate]:
        words = [w for w in (_BAREWORD.sub(" ", t).strip() for t in terms) if w]
        if not words or not store_ids:
            return []
        allowed = await self.allowed_files(store_ids, filters)
        if allowed is not None and not allowed:
            return []
        found = await self._postings.search(store_ids, terms, limit, allowed)
        if found is not None:
            return found
        stores = " OR ".join(_quoted(s) for s in dict.fromkeys(store_ids))
        # On a reader thread, not inline: BM25 over a large store takes milliseconds to tens of
        # them, and SQLite releases the GIL while it works, so the event loop keeps serving.
        return await self.database.run_off_loop(
            False, _keyword, f"store_id : ({stores})", words, limit, allowed
        )

    async def _matrix(self, store_id: str) -> StoreMatrix:
        matrix = self._stores.get(store_id)
        if matrix is not None:
            return matrix
        async with self._store_lock(store_id):
            matrix = self._stores.get(store_id)
            if matrix is None:
                matrix = await self.database.run_off_loop(False, _load_store, store_id)
                self._stores[store_id] = matrix
            return matrix

    async def preload(self, store_id: str) -> None:
        """Load the store's vectors and keyword postings now, waiting for both (a server
        warming up, the benchmark)."""
        await self._matrix(store_id)
        await self._postings.preload(store_id)

    def memory_bytes(self, store_id: str) -> dict[str, int]:
        """What a loaded store holds in memory: its vectors and its keyword postings."""
        matrix = self._stores.get(store_id)
        return {
            "vectors": matrix.memory_bytes() if matrix is not None else 0,
            "postings": self._postings.memory_bytes(store_id),
        }

    def _store_lock(self, store_id: str) -> asyncio.Lock:
        return self._loading.setdefault(store_id, asyncio.Lock())

    async def close(self) -> None:
        self._stores.clear()
        self._postings.close()


def _passage_rows(entry: FileEntry | FileVectors) -> list[dict[str, object]]:
    store_id, file_id, model = entry.store_id, entry.file_id, entry.embedding_model
    vectors, passage_chunks = entry.vectors, entry.passage_chunks
    packed = np.ascontiguousarray(vectors, dtype="<f4")
    return [
        {
            "store_id": store_id,
            "file_id": file_id,
            "model": model,
            "dims": packed.shape[1],
            "first": first,
            "last": last,
            "embedding": vector.tobytes(),
        }
        for vector, (first, last) in zip(packed, passage_chunks, strict=True)
    ]


def _quoted(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def _keyword(
    connection: Connection,
    stores: str,
    words: list[str],
    limit: int,
    allowed: list[tuple[str, str]] | None,
) -> list[Candidate]:
    match = f"{stores} AND {_words_clause(connection, words)}"
    if allowed is None:
        rows = connection.execute(_KEYWORD_ALL, {"match": match, "limit": limit})
    else:
        pairs = orjson.dumps([f"{s} {f}" for s, f in allowed]).decode()
        rows = connection.execute(
            _KEYWORD_IN_FILES, {"match": match, "limit": limit, "pairs": pairs}
        )
    return [Candidate(r[0], r[1], r[2], float(r[3])) for r in rows]


def _words_clause(connection: Connection, words: list[str]) -> str:
    any_word = f"text : ({' OR '.join(_quoted(w) for w in words)})"
    total = connection.execute(text("SELECT max(id) FROM search_chunks")).scalar() or 0
    if total < COMMON_TERMS_FROM or len(words) < 2:
        return any_word
    counts = _document_counts(connection, words)
    rare = [w for w in words if counts.get(w, 0) <= COMMON_SHARE * total]
    if not rare:
        return f"text : ({' AND '.join(_quoted(w) for w in words)})"
    if len(rare) == len(words):
        return any_word
    # Chunks holding a rare word, scored on every word (rare words count twice: they are the
    # ones that tell chunks apart).
    return f"text : ({' OR '.join(_quoted(w) for w in rare)}) AND {any_word}"


def _document_counts(connection: Connection, words: list[str]) -> dict[str, int]:
    for statement in _QUERY_TERMS:
        connection.exec_driver_sql(statement)
    connection.exec_driver_sql("DELETE FROM temp.search_query_terms")
    connection.execute(
        text("INSERT INTO temp.search_query_terms (rowid, term) VALUES (:rowid, :term)"),
        [{"rowid": i, "term": w} for i, w in enumerate(words)],
    )
    stems = dict(connection.execute(text("SELECT doc, term FROM temp.search_query_vocab")).all())
    found = connection.execute(
        text("SELECT term, doc FROM search_chunks_vocab WHERE term IN :stems").bindparams(
            bindparam("stems", expanding=True)
        ),
        {"stems": list(set(stems.values())) or [""]},
    )
    counts = dict(found.all())
    return {words[i]: counts.get(stem, 0) for i, stem in stems.items()}


def _load_store(connection: Connection, store_id: str) -> StoreMatrix:
    matrix = StoreMatrix()
    rows = connection.execute(_LOAD_PASSAGES, {"store_id": store_id}).all()
    start = 0
    while start < len(rows):
        file_id, model = rows[start][0], rows[start][1]
        end = start
        while end < len(rows) and rows[end][0] == file_id:
            end += 1
        block = rows[start:end]
        vectors = np.frombuffer(b"".join(r[4] for r in block), dtype="<f4")
        vectors = vectors.reshape(len(block), -1).astype(np.float32)
        matrix.put(file_id, segment_of(model, vectors, [(r[2], r[3]) for r in block]))
        start = end
    return matrix
