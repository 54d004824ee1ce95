"""The ``Retrieval`` implementation: parse (sandboxed), chunk by tokens, embed passages, index;
search by vector similarity and keywords, fused.

Built once per process (``AppState``) from an ``Embedder`` and a ``SearchIndex``. At most
``max_parallel_parses`` parser processes run at once; embedding runs on the embedder's own
worker, in batches, so a search's query embedding waits for one batch at most, never a file."""

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from threadline.engine.retrieval.base import (
    ChunkingStrategy,
    FileRejected,
    Indexed,
    IndexProgress,
    SearchHit,
    SearchMode,
)
from threadline.engine.retrieval.chunking import (
    Passage,
    chunk_text,
    join_overlapping,
    passages_of_chunks,
)
from threadline.engine.retrieval.fusion import FusionOptions, fuse, keyword_terms
from threadline.providers.documents.errors import DocumentRejected
from threadline.providers.documents.isolation import ParseLimits, parse_isolated
from threadline.providers.embeddings.base import Embedder
from threadline.providers.vector_index.base import (
    Candidate,
    FileEntry,
    FileVectors,
    SearchIndex,
    Vectors,
)
from threadline.records.files import AttributeFilter, Attributes

# OpenAI's file_search limit per file.
MAX_FILE_TOKENS = 5_000_000
EMBED_BATCH = 64  # passages per embedder call
# Each kind of search contributes this many candidates (at least) to the fusion.
_MIN_CANDIDATES = 50
# Query vectors kept, by text: a model rephrasing or repeating a search (runs do, and so do
# clients paging through results) skips the embedding, the costliest part of a search with the
# embedded model (docs/benchmarks.md#file-search-speed). 2,000 384-dimension vectors are 3 MB.
_QUERY_VECTORS_KEPT = 2_000


class HybridRetrieval:
    def __init__(
        self,
        *,
        embedder: Embedder,
        index: SearchIndex,
        parse_limits: ParseLimits | None = None,
        max_parallel_parses: int = 2,
        fusion: FusionOptions | None = None,
    ) -> None:
        self.embedder = embedder
        self.index = index
        self._parse_limits = parse_limits or ParseLimits()
        self._parse_slots = asyncio.Semaphore(max_parallel_parses)
        self._fusion = fusion or FusionOptions()
        self._query_vectors: OrderedDict[str, Vectors] = OrderedDict()

    @property
    def embedding_model(self) -> str:
        return self.embedder.model

    async def index_file(
        self,
        *,
        project_id: str,
        store_id: str,
        file_id: str,
        path: Path,
        filename: str,
        chunking: ChunkingStrategy,
        attributes: Attributes | None = None,
        progress: IndexProgress | None = None,
    ) -> Indexed:
        async with self._parse_slots:
            try:
                text = await parse_isolated(path, filename, self._parse_limits)
            except DocumentRejected as rejected:
                raise FileRejected(rejected.code, rejected.message) from rejected
        chunked = await asyncio.to_thread(chunk_text, text, chunking, self.embedder.passage_tokens)
        tokens = _token_estimate(len(chunked.chunks), chunking)
        if tokens > MAX_FILE_TOKENS:
            raise FileRejected(
                "invalid_file", f"The file has more than {MAX_FILE_TOKENS:,} tokens."
            )
        vectors = await self._embed_passages(chunked.passages, len(chunked.chunks), progress)
        await self.index.replace_file(
            FileEntry(
                store_id=store_id,
                file_id=file_id,
                embedding_model=self.embedder.model,
                chunks=[c.text for c in chunked.chunks],
                vectors=vectors,
                passage_chunks=[(p.first_chunk, p.last_chunk) for p in chunked.passages],
                attributes=attributes or {},
            )
        )
        return Indexed(chunks=len(chunked.chunks), embedding_model=self.embedder.model)

    async def reembed_file(
        self,
        *,
        store_id: str,
        file_id: str,
        chunking: ChunkingStrategy,
        progress: IndexProgress | None = None,
    ) -> Indexed | None:
        # From the chunks the index keeps: no parsing, and keyword search is left untouched.
        stored = await self.index.stored_file(store_id, file_id)
        if stored is None:
            return None
        model = self.embedder.model
        if stored.embedding_model == model:  # re-embedded already (by another server, say)
            return Indexed(chunks=len(stored.chunks), embedding_model=model)
        passages = await asyncio.to_thread(
            passages_of_chunks, stored.chunks, chunking, self.embedder.passage_tokens
        )
        vectors = await self._embed_passages(passages, len(stored.chunks), progress)
        entry = FileVectors(
            store_id=store_id,
            file_id=file_id,
            embedding_model=model,
            vectors=vectors,
            passage_chunks=[(p.first_chunk, p.last_chunk) for p in passages],
        )
        if not await self.index.replace_vectors(entry, stored.version):
            # Written again meanwhile (re-ingested with this model, or removed): nothing to do
            # unless it is still on another model, which the next attempt finds.
            again = await self.index.stored_file(store_id, file_id)
            if again is None or again.embedding_model != model:
                return None
        return Indexed(chunks=len(stored.chunks), embedding_model=model)

    async def _embed_passages(
        self, passages: list[Passage], total: int, progress: IndexProgress | None
    ) -> Vectors:
        """The passages' vectors, in batches, telling ``progress`` the chunks done of ``total``."""
        texts = [p.text for p in passages]
        if progress is not None:
            await progress(0, total)
        batches: list[Vectors] = []
        for start in range(0, len(texts), EMBED_BATCH):
            batches.append(await self.embedder.embed(texts[start : start + EMBED_BATCH]))
            if progress is not None:
                embedded = start + EMBED_BATCH
                await progress(_chunks_embedded(passages, embedded, total), total)
        return np.concatenate(batches) if batches else np.zeros((0, 0), dtype=np.float32)

    async def set_attributes(
        self, *, store_id: str, file_id: str, attributes: Attributes | None
    ) -> None:
        await self.index.set_attributes(store_id, file_id, attributes or {})

    async def remove_file(self, *, store_id: str, file_id: str) -> None:
        await self.index.remove_file(store_id, file_id)

    async def remove_store(self, *, store_id: str) -> None:
        await self.index.remove_store(store_id)

    async def file_content(self, *, store_id: str, file_id: str) -> list[str]:
        """The file's parsed text, rebuilt from its overlapping chunks (one string)."""
        chunks = await self.index.file_chunks(store_id, file_id)
        return [join_overlapping(chunks)] if chunks else []

    async def search(
        self,
        *,
        store_ids: Sequence[str],
        queries: Sequence[str],
        max_results: int,
        score_threshold: float = 0.0,
        filters: AttributeFilter | None = None,
        mode: SearchMode = "hybrid",
    ) -> list[SearchHit]:
        queries = [q for q in queries if q.strip()]
        if not queries or not store_ids:
            return []
        pool = max(_MIN_CANDIDATES, 2 * max_results)

        async def by_vector() -> list[list[Candidate]]:
            if mode not in ("hybrid", "vector"):
                return []
            vectors = await self._embed_queries(queries)
            searches = (
                self.index.vector_search(
                    store_ids, v, model=self.embedder.model, limit=pool, filters=filters
                )
                for v in vectors
            )
            return list(await asyncio.gather(*searches))

        async def by_keyword() -> list[list[Candidate]]:
            if mode not in ("hybrid", "keyword"):
                return []
            return [
                await self.index.keyword_search(
                    store_ids, keyword_terms(q), limit=pool, filters=filters
                )
                for q in queries
            ]

        # Concurrently: query embedding and vector search run on worker threads meanwhile.
        vector_lists, keyword_lists = await asyncio.gather(by_vector(), by_keyword())
        options = self._fusion
        if mode != "hybrid":
            options = FusionOptions("convex", vector_weight=1.0 if mode == "vector" else 0.0)
        scores = fuse(vector_lists, keyword_lists, options)
        return await self._hits(scores, max_results, score_threshold)

    async def _embed_queries(self, queries: Sequence[str]) -> list[Vectors]:
        kept = self._query_vectors
        found = {q: kept[q] for q in queries if q in kept}  # before any await: others evict
        missing = [q for q in dict.fromkeys(queries) if q not in found]
        if missing:
            computed = await self.embedder.embed(missing, kind="query")
            for query, vector in zip(missing, computed, strict=True):
                found[query] = np.array(vector, dtype=np.float32)  # its own copy, not a view
        for query, vector in found.items():
            kept[query] = vector
            kept.move_to_end(query)
        while len(kept) > _QUERY_VECTORS_KEPT:
            kept.popitem(last=False)
        return [found[q] for q in queries]

    async def _hits(
        self, scores: dict[tuple[str, str, int], float], max_results: int, threshold: float
    ) -> list[SearchHit]:
        # Rounded before the threshold applies, so a score shown equals a threshold it passed.
        ranked = sorted(
            ((key, round(score, 6)) for key, score in scores.items()),
            key=lambda item: (-item[1], item[0]),
        )
        chosen: list[tuple[tuple[str, str, int], float]] = []
        seen: set[tuple[str, int]] = set()  # one file in two stores: its chunk once
        for key, score in ranked:
            if score < threshold or len(chosen) == max_results:
                break
            if (key[1], key[2]) not in seen:
                seen.add((key[1], key[2]))
                chosen.append((key, score))
        texts = await self.index.chunk_texts([key for key, _ in chosen])
        return [
            SearchHit(
                file_id=key[1],
                score=score,
                text=texts[key].text,
                chunk_index=key[2],
                attributes=texts[key].attributes,
            )
            for key, score in chosen
            if key in texts  # removed between the search and this read
        ]

    async def aclose(self) -> None:
        await self.embedder.aclose()
        await self.index.close()


def _chunks_embedded(passages: list[Passage], embedded: int, total: int) -> int:
    """How many chunks have every passage embedded once the first ``embedded`` passages are:
    passages run in text order, so every chunk before the next passage's first chunk is done."""
    if embedded >= len(passages):
        return total
    return passages[embedded].first_chunk


def _token_estimate(chunks: int, chunking: ChunkingStrategy) -> int:
    step = chunking.max_chunk_size_tokens - chunking.chunk_overlap_tokens
    return chunks * step
