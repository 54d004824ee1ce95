"""The in-memory vector matrix: exact search for small stores, sign-code prefilter with exact
rescoring for large ones — which must return what exact search returns."""

import numpy as np
import pytest

from threadline.providers.vector_index import matrix as matrix_module
from threadline.providers.vector_index.matrix import StoreMatrix, segment_of

DIMS = 384


def clustered(rows: int, seed: int) -> np.ndarray:
    # Like real embeddings: points around topics, not uniform noise.
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((200, DIMS)).astype(np.float32)
    points = centers[rng.integers(0, 200, rows)] + rng.standard_normal((rows, DIMS)) * 0.8
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def store_of(vectors: np.ndarray, files: int = 10) -> StoreMatrix:
    store = StoreMatrix()
    for index, part in enumerate(np.array_split(vectors, files)):
        store.put(f"file-{index}", segment_of("m", part, [(i, i) for i in range(len(part))]))
    return store


def test_the_prefilter_keeps_the_exact_top_results(monkeypatch):
    vectors = clustered(30_000, seed=1)
    large = store_of(vectors)
    # Queries near the data (a question is about something the store holds).
    rng = np.random.default_rng(2)
    queries = vectors[rng.integers(0, len(vectors), 40)] + rng.standard_normal((40, DIMS)) * 0.06
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    monkeypatch.setattr(matrix_module, "EXACT_ROWS", 10**9)
    exact = [
        large_copy.search("vs", q, "m", 10) for large_copy in [store_of(vectors)] for q in queries
    ]
    monkeypatch.setattr(matrix_module, "EXACT_ROWS", 20_000)
    approximate = [large.search("vs", q, "m", 10) for q in queries]
    agreement = [
        len({(c.file_id, c.chunk_index) for c in a} & {(c.file_id, c.chunk_index) for c in e}) / 10
        for a, e in zip(approximate, exact, strict=True)
    ]
    assert np.mean(agreement) >= 0.98
    for a, e in zip(approximate, exact, strict=True):
        assert a[0].score == pytest.approx(e[0].score)  # scores are exact, not estimated


def test_filters_and_models_apply_on_both_paths():
    vectors = clustered(25_000, seed=3)
    store = store_of(vectors, files=5)
    store.put("file-other-model", segment_of("other", vectors[:10], [(0, 0)] * 10))
    query = vectors[42]
    only = store.search("vs", query, "m", 5, allowed=lambda f: f == "file-3")
    assert only and {c.file_id for c in only} == {"file-3"}
    assert all(c.file_id != "file-other-model" for c in store.search("vs", query, "m", 50))
    assert store.search("vs", query, "m", 5, allowed=lambda f: False) == []
    best = store.search("vs", query, "m", 1)[0]
    assert (best.file_id, best.chunk_index, round(best.score, 4)) == ("file-0", 42, 1.0)


def test_passages_score_every_chunk_they_lie_in_and_removal_repacks():
    store = StoreMatrix()
    vectors = np.eye(4, DIMS, dtype=np.float32)
    store.put("file-a", segment_of("m", vectors, [(0, 0), (0, 1), (1, 2), (2, 2)]))
    found = store.search("vs", vectors[1], "m", 3)
    assert [(c.chunk_index, round(c.score, 3)) for c in found[:2]] == [(0, 1.0), (1, 1.0)]
    store.remove("file-a")
    assert store.search("vs", vectors[1], "m", 3) == []
