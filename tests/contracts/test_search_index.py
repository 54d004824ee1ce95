"""The search index contract, run against every implementation: SQLite (FTS5 + in-memory vectors)
and PostgreSQL (pgvector HNSW + full-text search)."""

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest

from tests.databases import sqlite_database
from threadline.providers.vector_index.base import FileEntry, FileVectors, SearchIndex
from threadline.storage.database import Database
from threadline.storage.migrate import upgrade_to_head
from threadline.storage.search_index_postgres import PostgresSearchIndex
from threadline.storage.search_index_sqlite import SqliteSearchIndex

MODEL = "test-model"
DIMS = 8


@pytest.fixture(scope="session")
def index_url(database_url: str) -> str:
    upgrade_to_head(database_url)
    return database_url


def run(url: str, body: Callable[[SearchIndex], Awaitable[None]]) -> None:
    async def main() -> None:
        database = Database(url)
        index = SqliteSearchIndex(database) if database.is_sqlite else PostgresSearchIndex(database)
        try:
            await body(index)
        finally:
            await index.close()
            await database.dispose()

    asyncio.run(main())


def axis(*weights: float) -> np.ndarray:
    """A unit vector from a few leading weights (the rest zero)."""
    vector = np.zeros(DIMS, dtype=np.float32)
    vector[: len(weights)] = weights
    return vector / np.linalg.norm(vector)


def entry(
    store: str,
    file_id: str,
    chunks: list[str],
    vectors: list[np.ndarray],
    spans: list[tuple[int, int]] | None = None,
    **attributes: Any,
) -> FileEntry:
    return FileEntry(
        store_id=store,
        file_id=file_id,
        embedding_model=MODEL,
        chunks=chunks,
        vectors=np.stack(vectors),
        passage_chunks=spans or [(i, i) for i in range(len(vectors))],
        attributes=attributes,
    )


def new_store() -> str:
    return f"vs_{secrets.token_hex(8)}"


def keys(candidates) -> list[tuple[str, int]]:
    return [(c.file_id, c.chunk_index) for c in candidates]


def test_vector_search_ranks_by_best_passage_and_expands_spans(index_url):
    store = new_store()

    async def body(index: SearchIndex) -> None:
        await index.replace_file(
            entry(
                store,
                "file-a",
                ["chunk zero", "chunk one", "chunk two"],
                [axis(1, 0), axis(0.6, 0.8), axis(0, 1)],
                spans=[(0, 0), (0, 1), (2, 2)],  # the middle passage lies in chunks 0 and 1
            )
        )
        found = await index.vector_search([store], axis(0.5, 0.9), model=MODEL, limit=10)
        assert keys(found)[:3] == [("file-a", 0), ("file-a", 1), ("file-a", 2)] or keys(found)[
            :3
        ] == [("file-a", 1), ("file-a", 0), ("file-a", 2)]
        assert found[0].score == pytest.approx(found[1].score)  # both hold the best passage
        assert found[0].score == pytest.approx(float(axis(0.5, 0.9) @ axis(0.6, 0.8)), abs=1e-4)
        assert await index.vector_search([store], axis(1), model="other", limit=5) == []
        assert len(await index.vector_search([store], axis(1), model=MODEL, limit=1)) == 1

    run(index_url, body)


def test_keyword_search_ranks_by_relevance_with_stemming(index_url):
    store = new_store()

    async def body(index: SearchIndex) -> None:
        texts = [
            "The harbour master records every ship.",
            "Indexing documents makes searching fast; an index of indexes.",
            "Nothing relevant here at all.",
        ]
        await index.replace_file(entry(store, "file-k", texts, [axis(1)] * 3))
        found = await index.keyword_search([store], ["indexes", "searches"], limit=10)
        assert keys(found) == [("file-k", 1)]
        assert found[0].score > 0
        assert await index.keyword_search([store], ["zzzz"], limit=10) == []
        assert await index.keyword_search([store], [], limit=10) == []
        odd = await index.keyword_search([store], ['"ship"', "ship*", "OR", "(master)"], limit=5)
        assert keys(odd) == [("file-k", 0)]

    run(index_url, body)


def test_replacing_a_file_replaces_its_chunks(index_url):
    store = new_store()

    async def body(index: SearchIndex) -> None:
        await index.replace_file(entry(store, "file-r", ["old walrus text"], [axis(1)]))
        await index.vector_search([store], axis(1), model=MODEL, limit=5)  # loads any cache
        await index.replace_file(entry(store, "file-r", ["new narwhal text"], [axis(0, 1)]))
        assert await index.keyword_search([store], ["walrus"], limit=5) == []
        assert keys(await index.keyword_search([store], ["narwhal"], limit=5)) == [("file-r", 0)]
        found = await index.vector_search([store], axis(0, 1), model=MODEL, limit=5)
        assert keys(found) == [("file-r", 0)] and found[0].score == pytest.approx(1, abs=1e-4)
        texts = await index.chunk_texts([(store, "file-r", 0)])
        assert texts[(store, "file-r", 0)].text == "new narwhal text"

    run(index_url, body)


def test_re_embedding_swaps_a_files_vectors_only_while_it_is_unchanged(index_url):
    store = new_store()

    async def body(index: SearchIndex) -> None:
        await index.replace_file(
            entry(store, "file-v", ["kelp forest", "sea otter"], [axis(1), axis(0, 1)], tag="x")
        )
        await index.vector_search([store], axis(1), model=MODEL, limit=5)  # loads any cache
        stored = await index.stored_file(store, "file-v")
        assert stored is not None
        assert (stored.chunks, stored.embedding_model) == (["kelp forest", "sea otter"], MODEL)
        assert await index.stored_file(store, "missing") is None

        # Written again since it was read: the new vectors are dropped.
        newer = entry(store, "file-v", ["kelp forest", "sea urchin"], [axis(1), axis(0, 1)])
        await index.replace_file(newer)
        one = FileVectors(store, "file-v", "model-b", np.stack([axis(0, 0, 1)]), [(0, 1)])
        assert not await index.replace_vectors(one, stored.version)

        current = await index.stored_file(store, "file-v")
        assert current is not None and current.version != stored.version
        assert await index.replace_vectors(one, current.version)
        assert not await index.replace_vectors(one, current.version)  # on that model already
        found = await index.vector_search([store], axis(0, 0, 1), model="model-b", limit=5)
        assert keys(found) == [("file-v", 0), ("file-v", 1)]  # one passage in both chunks
        assert await index.vector_search([store], axis(1), model=MODEL, limit=5) == []
        # Chunks, keywords and attributes are the file's as they were.
        swapped = await index.stored_file(store, "file-v")
        assert swapped is not None and swapped.chunks == ["kelp forest", "sea urchin"]
        assert swapped.embedding_model == "model-b"
        assert keys(await index.keyword_search([store], ["urchin"], limit=5)) == [("file-v", 1)]

        await index.remove_file(store, "file-v")
        gone = FileVectors(store, "file-v", "model-c", np.stack([axis(1)]), [(0, 0)])
        assert not await index.replace_vectors(gone, swapped.version)
        assert await index.vector_search([store], axis(1), model="model-c", limit=5) == []

    run(index_url, body)


def test_removing_files_and_stores(index_url):
    store, other = new_store(), new_store()

    async def body(index: SearchIndex) -> None:
        for store_id in (store, other):
            await index.replace_file(entry(store_id, "file-1", ["penguin colony"], [axis(1)]))
            await index.replace_file(entry(store_id, "file-2", ["penguin diet"], [axis(1, 1)]))
        await index.vector_search([store], axis(1), model=MODEL, limit=5)
        await index.remove_file(store, "file-1")
        assert keys(await index.keyword_search([store], ["penguin"], limit=5)) == [("file-2", 0)]
        vector_hits = await index.vector_search([store], axis(1), model=MODEL, limit=5)
        assert keys(vector_hits) == [("file-2", 0)]
        await index.remove_store(store)
        assert await index.keyword_search([store], ["penguin"], limit=5) == []
        assert await index.vector_search([store], axis(1), model=MODEL, limit=5) == []
        assert await index.chunk_texts([(store, "file-2", 0)]) == {}
        # The other store kept everything.
        assert len(await index.keyword_search([other], ["penguin"], limit=5)) == 2

    run(index_url, body)


def test_several_stores_at_once_and_only_those(index_url):
    first, second, third = new_store(), new_store(), new_store()

    async def body(index: SearchIndex) -> None:
        await index.replace_file(entry(first, "file-x", ["otter facts"], [axis(1)]))
        await index.replace_file(entry(second, "file-y", ["otter habitat"], [axis(0.9, 0.1)]))
        await index.replace_file(entry(third, "file-z", ["otter secrets"], [axis(1)]))
        found = await index.keyword_search([first, second], ["otter"], limit=10)
        assert sorted(c.file_id for c in found) == ["file-x", "file-y"]
        vectors = await index.vector_search([first, second], axis(1), model=MODEL, limit=10)
        assert [c.file_id for c in vectors] == ["file-x", "file-y"]
        assert {c.store_id for c in vectors} == {first, second}

    run(index_url, body)


FILTER_CASES = [
    ({"type": "eq", "key": "lang", "value": "en"}, {"file-en"}),
    ({"type": "ne", "key": "lang", "value": "en"}, {"file-fr", "file-none"}),
    ({"type": "gte", "key": "year", "value": 2020}, {"file-en"}),
    ({"type": "lt", "key": "year", "value": 2020}, {"file-fr"}),
    ({"type": "in", "key": "lang", "value": ["fr", "de"]}, {"file-fr"}),
    (
        {
            "type": "or",
            "filters": [
                {"type": "eq", "key": "lang", "value": "fr"},
                {
                    "type": "and",
                    "filters": [
                        {"type": "gt", "key": "year", "value": 2000},
                        {"type": "eq", "key": "draft", "value": False},
                    ],
                },
            ],
        },
        {"file-fr", "file-en"},
    ),
    ({"type": "eq", "key": "lang", "value": "jp"}, set()),
]


@pytest.mark.parametrize(("filters", "expected"), FILTER_CASES)
def test_attribute_filters_apply_to_both_searches(index_url, filters, expected):
    store = new_store()

    async def body(index: SearchIndex) -> None:
        await index.replace_file(
            entry(store, "file-en", ["heron notes"], [axis(1)], lang="en", year=2021, draft=False)
        )
        await index.replace_file(
            entry(store, "file-fr", ["heron carnet"], [axis(1)], lang="fr", year=1999, draft=True)
        )
        await index.replace_file(entry(store, "file-none", ["heron plain"], [axis(1)]))
        words = await index.keyword_search([store], ["heron"], limit=10, filters=filters)
        vectors = await index.vector_search(
            [store], axis(1), model=MODEL, limit=10, filters=filters
        )
        assert {c.file_id for c in words} == expected
        assert {c.file_id for c in vectors} == expected

    run(index_url, body)


def test_attributes_can_change(index_url):
    store = new_store()
    wanted = {"type": "eq", "key": "status", "value": "final"}

    async def body(index: SearchIndex) -> None:
        await index.replace_file(entry(store, "file-s", ["badger"], [axis(1)], status="draft"))
        assert await index.keyword_search([store], ["badger"], limit=5, filters=wanted) == []
        await index.set_attributes(store, "file-s", {"status": "final"})
        assert len(await index.keyword_search([store], ["badger"], limit=5, filters=wanted)) == 1
        texts = await index.chunk_texts([(store, "file-s", 0)])
        assert texts[(store, "file-s", 0)].attributes == {"status": "final"}

    run(index_url, body)


def test_a_file_with_no_chunks(index_url):
    store = new_store()

    async def body(index: SearchIndex) -> None:
        empty = FileEntry(store, "file-e", MODEL, [], np.zeros((0, DIMS), np.float32), [])
        await index.replace_file(empty)
        assert await index.vector_search([store], axis(1), model=MODEL, limit=5) == []
        assert await index.keyword_search([store], ["anything"], limit=5) == []

    run(index_url, body)


def test_sqlite_common_terms_cutoff(index_url, monkeypatch):
    if not index_url.startswith("sqlite"):
        pytest.skip("the common-terms cutoff is how the SQLite index keeps large stores fast")
    from threadline.storage import search_index_sqlite

    # Word counts are the whole index's: a database of its own, not the session's (which other
    # suites fill with chunks of their own).
    with sqlite_database() as own_url:
        upgrade_to_head(own_url)
        _common_terms_cutoff(own_url, monkeypatch, search_index_sqlite)


def _common_terms_cutoff(index_url: str, monkeypatch: Any, search_index_sqlite: Any) -> None:

    from threadline.providers.vector_index import postings

    # The rule holds in the in-memory postings and in FTS5 (which answers while they load).
    monkeypatch.setattr(search_index_sqlite, "COMMON_TERMS_FROM", 0)
    monkeypatch.setattr(postings, "COMMON_TERMS_FROM", 0)
    store = new_store()

    async def body(index: SearchIndex) -> None:
        texts = [f"the kettle whistles loudly, chapter {i}" for i in range(30)]
        texts[7] += " — a rare albatross appears"
        texts[9] += " — kettles and teapots"
        await index.replace_file(entry(store, "file-c", texts, [axis(1)] * 30))
        rare = await index.keyword_search([store], ["kettle", "albatross"], limit=50)
        assert keys(rare) == [("file-c", 7)]  # "kettle" is common: it only scores rare matches
        stemmed = await index.keyword_search([store], ["kettle", "teapots"], limit=50)
        assert keys(stemmed) == [("file-c", 9)]  # "teapots" is rare; "kettles" stems to kettle
        texts_common = await index.keyword_search([store], ["kettle", "loudly"], limit=50)
        assert len(texts_common) == 30  # every word common: chunks must hold them all
        none = await index.keyword_search([store], ["kettle", "harpsichord"], limit=50)
        assert none == []  # an unknown word is rare: it alone decides the matches

    run(index_url, body)


def test_keyword_postings_follow_changes_made_by_another_process(index_url):
    # Two indexes on one database: two replicas (PostgreSQL) or a restarted server (SQLite).
    store = new_store()

    async def body(index: SearchIndex) -> None:
        other_database = Database(index_url)
        other = (
            SqliteSearchIndex(other_database)
            if other_database.is_sqlite
            else PostgresSearchIndex(other_database)
        )
        try:
            await index.replace_file(entry(store, "file-1", ["lynx tracks"], [axis(1)]))
            await index.replace_file(entry(store, "file-2", ["lynx den"], [axis(1)]))
            assert len(await other.keyword_search([store], ["lynx"], limit=5)) == 2
            await index.replace_file(entry(store, "file-1", ["marten tracks"], [axis(1)]))
            await index.remove_file(store, "file-2")
            assert await other.keyword_search([store], ["lynx"], limit=5) == []
            found = await other.keyword_search([store], ["marten", "tracks"], limit=5)
            assert keys(found) == [("file-1", 0)]
            await index.remove_store(store)
            assert await other.keyword_search([store], ["marten"], limit=5) == []
        finally:
            await other.close()
            await other_database.dispose()

    run(index_url, body)


def test_the_database_answers_while_postings_load(index_url, monkeypatch):
    from threadline.storage import search_postings

    monkeypatch.setattr(search_postings, "POSTINGS_WAIT", 0)
    store = new_store()

    async def body(index: SearchIndex) -> None:
        texts = ["The harbour master records every ship.", "Indexing makes searching fast."]
        await index.replace_file(entry(store, "file-w", texts, [axis(1)] * 2))
        from_database = await index.keyword_search([store], ["indexes", "ship"], limit=5)
        await index.preload(store)  # type: ignore[attr-defined]
        from_memory = await index.keyword_search([store], ["indexes", "ship"], limit=5)
        assert (
            sorted(keys(from_database))
            == sorted(keys(from_memory))
            == [
                ("file-w", 0),
                ("file-w", 1),
            ]
        )

    run(index_url, body)


def test_postings_past_the_memory_budget_are_dropped_and_reloaded(index_url):
    first, second = new_store(), new_store()

    async def body(_: SearchIndex) -> None:
        database = Database(index_url)
        # A budget of one byte: only the store searched last stays in memory.
        index = (
            SqliteSearchIndex(database, postings_budget_bytes=1)
            if database.is_sqlite
            else PostgresSearchIndex(database, postings_budget_bytes=1)
        )
        postings = index._postings  # type: ignore[attr-defined]
        try:
            await index.replace_file(entry(first, "file-a", ["puffin colony"], [axis(1)]))
            await index.replace_file(entry(second, "file-b", ["gannet colony"], [axis(1)]))
            for store in (first, second):
                await index.preload(store)  # type: ignore[attr-defined]
            assert postings.memory_bytes(first) == 0 < postings.memory_bytes(second)
            await index.preload(first)  # type: ignore[attr-defined]
            assert keys(await index.keyword_search([first], ["puffin"], limit=5)) == [("file-a", 0)]
            assert postings.memory_bytes(second) == 0 < postings.memory_bytes(first)
        finally:
            await index.close()
            await database.dispose()

    run(index_url, body)
