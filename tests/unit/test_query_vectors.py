"""Search keeps recent query vectors: a repeated query is not embedded again."""

import asyncio
from collections.abc import Sequence

import numpy as np

from threadline.engine.retrieval import hybrid
from threadline.engine.retrieval.hybrid import HybridRetrieval
from threadline.providers.vector_index.base import Candidate


class CountingEmbedder:
    model = "counting"
    passage_tokens = 200

    def __init__(self) -> None:
        self.embedded: list[str] = []

    async def embed(self, texts: Sequence[str], *, kind: str = "passage") -> np.ndarray:
        self.embedded += texts
        vectors = np.array([[len(t), 1.0] for t in texts], dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    async def aclose(self) -> None:
        pass


class RecordingIndex:
    def __init__(self) -> None:
        self.vectors: list[np.ndarray] = []

    async def vector_search(self, store_ids, vector, *, model, limit, filters=None):
        self.vectors.append(vector)
        return [Candidate(store_ids[0], "file", 0, 0.5)]

    async def keyword_search(self, store_ids, terms, *, limit, filters=None):
        return []

    async def chunk_texts(self, keys):
        return {}


def test_a_repeated_query_is_embedded_once(monkeypatch):
    monkeypatch.setattr(hybrid, "_QUERY_VECTORS_KEPT", 2)
    embedder, index = CountingEmbedder(), RecordingIndex()
    retrieval = HybridRetrieval(embedder=embedder, index=index)  # type: ignore[arg-type]

    async def search(*queries: str, mode: str = "hybrid") -> None:
        await retrieval.search(store_ids=["vs"], queries=queries, max_results=5, mode=mode)

    async def main() -> None:
        await search("walrus", "otter")
        await search("otter", "walrus", "walrus")
        assert embedder.embedded == ["walrus", "otter"]
        assert len(index.vectors) == 5
        assert np.array_equal(index.vectors[0], index.vectors[3])  # walrus, both times
        await search("heron", mode="keyword")  # no vectors needed
        assert embedder.embedded == ["walrus", "otter"]
        await search("heron")  # evicts the least recent (otter: walrus came after it)
        await search("walrus")
        assert embedder.embedded == ["walrus", "otter", "heron"]
        await search("otter")
        assert embedder.embedded == ["walrus", "otter", "heron", "otter"]

    asyncio.run(main())
