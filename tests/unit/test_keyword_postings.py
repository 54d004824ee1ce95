"""The in-memory keyword postings: BM25 as FTS5 computes it, kept right across changes."""

import random
import sqlite3

import pytest

from threadline.providers.vector_index import postings as postings_module
from threadline.providers.vector_index.postings import StorePostings, Tokenizer

WORDS = [
    "index",
    "indexes",
    "indexing",
    "search",
    "searching",
    "query",
    "queries",
    "vector",
    "store",
    "file",
    "chunk",
    "token",
    "python",
    "json",
    "parse",
    "parser",
    "serialize",
    "decimal",
    "float",
    "heap",
    "queue",
    "sort",
    "bisect",
    "hash",
    "secret",
]


def corpus(files: int, chunks: int, seed: int) -> dict[str, list[str]]:
    rng = random.Random(seed)
    return {
        f"file-{f}": [" ".join(rng.choices(WORDS, k=rng.randint(5, 60))) for _ in range(chunks)]
        for f in range(files)
    }


def store_of(files: dict[str, list[str]]) -> StorePostings:
    store = StorePostings(Tokenizer())
    for file_id, chunks in files.items():
        store.put(file_id, chunks)
    return store


def keys(found) -> list[tuple[str, int]]:
    return [(c.file_id, c.chunk_index) for c in found]


def fts5_scores(files: dict[str, list[str]], words: list[str]) -> dict[tuple[str, int], float]:
    database = sqlite3.connect(":memory:")
    database.execute(
        "CREATE VIRTUAL TABLE t USING fts5(file_id UNINDEXED, chunk UNINDEXED, text, "
        "tokenize='porter unicode61 remove_diacritics 2')"
    )
    database.executemany(
        "INSERT INTO t VALUES (?, ?, ?)",
        [(f, i, text) for f, chunks in files.items() for i, text in enumerate(chunks)],
    )
    match = " OR ".join(f'"{w}"' for w in words)
    rows = database.execute(
        "SELECT file_id, chunk, -bm25(t) FROM t WHERE t MATCH ? ORDER BY rank", (match,)
    )
    return {(f, int(c)): score for f, c, score in rows}


@pytest.mark.parametrize(
    "words", [["indexes"], ["searching", "python"], ["json", "decimal", "heap"], ["zzz", "sort"]]
)
def test_scores_are_fts5_bm25(words):
    files = corpus(files=4, chunks=50, seed=1)
    expected = fts5_scores(files, words)
    found = store_of(files).search("vs", words, limit=1000)
    assert {k: pytest.approx(v, rel=1e-4) for k, v in expected.items()} == {
        (c.file_id, c.chunk_index): c.score for c in found
    }
    scores = [c.score for c in found]
    assert scores == sorted(scores, reverse=True)


def test_words_are_cut_folded_and_stemmed_like_fts5():
    store = store_of({"f": ["Café_au_lait déjà-vu", "The INDEXED runs", "nothing"]})
    assert keys(store.search("vs", ["cafe"], 10)) == [("f", 0)]
    assert keys(store.search("vs", ["lait", "deja"], 10)) == [("f", 0)]
    assert keys(store.search("vs", ["indexes", "running"], 10)) == [("f", 1)]
    assert store.search("vs", ["", "!!"], 10) == []
    assert store.search("vs", ["unknown"], 10) == []


def test_limit_keeps_the_best():
    files = corpus(files=3, chunks=40, seed=2)
    store = store_of(files)
    everything = store.search("vs", ["vector", "bisect"], limit=1000)
    assert keys(store.search("vs", ["vector", "bisect"], limit=7)) == keys(everything)[:7]
    assert store.search("vs", ["vector"], limit=0) == []


def test_changes_apply_at_the_next_search():
    files = corpus(files=5, chunks=30, seed=3)
    store = store_of(files)
    store.search("vs", ["heap"], 10)  # packed
    files["file-2"] = ["a walrus and a heap"] * 3  # replaced
    store.put("file-2", files["file-2"])
    del files["file-0"]
    store.remove("file-0")
    files["file-9"] = ["walrus alone"]
    store.put("file-9", files["file-9"])
    for words in (["walrus"], ["heap", "walrus"], ["python", "queue"]):
        expected = fts5_scores(files, words)
        found = {(c.file_id, c.chunk_index): c.score for c in store.search("vs", words, 1000)}
        assert found == {k: pytest.approx(v, rel=1e-4) for k, v in expected.items()}
    store.remove("file-9")
    store.remove("file-2")
    assert store.search("vs", ["walrus"], 10) == []
    for file_id in list(files):
        store.remove(file_id)
    assert store.search("vs", ["heap"], 10) == []
    store.put("file-0", ["heap again"])
    assert keys(store.search("vs", ["heap"], 10)) == [("file-0", 0)]


def test_allowed_files_only():
    files = corpus(files=4, chunks=20, seed=4)
    store = store_of(files)
    found = store.search("vs", ["token"], 1000, allowed={"file-1", "file-3"}.__contains__)
    assert found and {c.file_id for c in found} == {"file-1", "file-3"}
    assert store.search("vs", ["token"], 1000, allowed=lambda _: False) == []


def test_common_terms_rule_on_large_stores(monkeypatch):
    monkeypatch.setattr(postings_module, "COMMON_TERMS_FROM", 0)
    texts = [f"the kettle whistles loudly, chapter {i}" for i in range(30)]
    texts[7] += " a rare albatross appears"
    texts[9] += " kettles and teapots"
    store = store_of({"f": texts})
    assert keys(store.search("vs", ["kettle", "albatross"], 50)) == [("f", 7)]
    assert keys(store.search("vs", ["kettle", "teapots"], 50)) == [("f", 9)]
    assert len(store.search("vs", ["kettle", "loudly"], 50)) == 30
    assert store.search("vs", ["kettle", "harpsichord"], 50) == []
    assert len(store.search("vs", ["kettle"], 50)) == 30  # one word: no rule


def test_memory_is_reported():
    store = store_of(corpus(files=2, chunks=10, seed=5))
    store.search("vs", ["heap"], 5)
    assert store.memory_bytes() > 0
