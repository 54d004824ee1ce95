"""A change of embedding model: a server started with another model re-embeds the stores made
with the old one in the background, from the chunks it keeps, while they keep answering; their
files stay ``completed`` and show the re-embedding as their ``progress``; once every file is
done, the store records the new model and vector search finds its chunks again. Stores already
on the server's model are left alone, and so is everything on a restart with the same model.

The servers embed with the scripted upstream, which holds every embeddings request containing
``HELD_WORD``: the long file's re-embedding stops after its first batch, so the test reads the
API at a known point, never against a clock. Vector search is checked with a ``HybridRetrieval``
of the test's own on the same database, embedding queries as the upstream does."""

import asyncio
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import text

from tests.conftest import sdk_client
from tests.databases import database
from tests.files_helpers import (
    HELD_WORD,
    SMALL_CHUNKS,
    long_text,
    midway_progress,
    project_key,
    upload,
    wait_until_settled,
)
from tests.servers import threaded_server
from tests.upstream import ScriptedUpstream, bag_of_words_vector
from threadline.engine.retrieval.hybrid import HybridRetrieval
from threadline.settings import Settings
from threadline.storage.database import Database
from threadline.storage.search_index_postgres import PostgresSearchIndex
from threadline.storage.search_index_sqlite import SqliteSearchIndex

OLD_MODEL = "text-embedding-old"
NEW_MODEL = "text-embedding-new"
LONG_TEXT = long_text()
SHORT_TEXT = "A short note about lighthouses and tides, embedded in one batch."


class QueryEmbedder:
    """Embeds as the scripted upstream does, under ``model``'s name (queries only)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.passage_tokens = 8191

    async def embed(self, texts: Sequence[str], *, kind: str = "passage") -> Any:
        return np.array([bag_of_words_vector(t) for t in texts], dtype=np.float32)

    async def aclose(self) -> None:
        pass


class Deployment:
    """One database and data directory; servers started on it one after another."""

    def __init__(self, url: str, data_dir: Path, upstream: ScriptedUpstream) -> None:
        self.url = url
        self.data_dir = data_dir
        self.upstream = upstream
        self.master = "sk-master-reembed-" + secrets.token_hex(8)

    def server(self, model: str) -> Any:
        settings = Settings(
            data_dir=self.data_dir,
            database_url=self.url,
            master_key=self.master,
            embeddings_base_url=self.upstream.base_url,
            embeddings_api_key=self.upstream.api_key,
            embeddings_model=model,
        )
        return threaded_server(settings)

    def rows(self, statement: str, **params: Any) -> list[tuple[Any, ...]]:
        async def read() -> list[tuple[Any, ...]]:
            db = Database(self.url)
            try:
                found = await db.read(lambda c: c.execute(text(statement), params).all())
                return [tuple(row) for row in found]
            finally:
                await db.dispose()

        return asyncio.run(read())

    def store_model(self, store_id: str) -> str | None:
        [(model,)] = self.rows(
            "SELECT embedding_model FROM vector_stores WHERE id = :i", i=store_id
        )
        return model  # type: ignore[no-any-return]

    def passage_models(self, store_id: str) -> set[str]:
        rows = self.rows(
            "SELECT DISTINCT model FROM search_passages WHERE store_id = :i", i=store_id
        )
        return {row[0] for row in rows}

    def vector_hits(self, store_id: str, query: str) -> list[str]:
        """File ids vector search alone finds for ``query`` with the new model."""

        async def search() -> list[str]:
            db = Database(self.url)
            index = SqliteSearchIndex(db) if db.is_sqlite else PostgresSearchIndex(db)
            retrieval = HybridRetrieval(embedder=QueryEmbedder(NEW_MODEL), index=index)
            try:
                hits = await retrieval.search(
                    store_ids=[store_id], queries=[query], max_results=5, mode="vector"
                )
                return [hit.file_id for hit in hits]
            finally:
                await retrieval.index.close()
                await db.dispose()

        return asyncio.run(search())


@pytest.fixture
def deployment(backend: str, tmp_path: Path, upstream: ScriptedUpstream) -> Iterator[Deployment]:
    with database(backend) as url:
        yield Deployment(url, tmp_path, upstream)


def poll(read: Callable[[], Any], until: Callable[[Any], bool], timeout: float = 20) -> Any:
    """``read()`` again until ``until`` holds of it; the last value read."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if until(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def embedded_inputs(upstream: ScriptedUpstream, model: str) -> list[str]:
    """Every text the upstream was asked to embed with ``model`` so far."""
    found: list[str] = []
    for request in upstream.requests:
        if request.get("_path", "").endswith("/embeddings") and request.get("model") == model:
            inputs = request.get("input")
            found.extend([inputs] if isinstance(inputs, str) else inputs or [])
    return found


def test_a_change_of_model_reembeds_old_stores_in_the_background(
    deployment: Deployment, upstream: ScriptedUpstream
) -> None:
    # 1. A store made with the old model.
    with deployment.server(OLD_MODEL) as base:
        key = project_key(base, deployment.master)
        with sdk_client(base, key) as client:
            store = client.vector_stores.create(name="old model")
            long_id = upload(client, "long.txt", LONG_TEXT.encode())
            short_id = upload(client, "short.txt", SHORT_TEXT.encode())
            client.vector_stores.file_batches.create(
                vector_store_id=store.id,
                file_ids=[long_id, short_id],
                chunking_strategy=SMALL_CHUNKS,  # type: ignore[arg-type]
            )
            wait_until_settled(client, store.id)
    assert deployment.store_model(store.id) == OLD_MODEL
    assert deployment.vector_hits(store.id, SHORT_TEXT) == []  # another model's vectors

    # 2. Restarted with the new model: the long file's re-embedding stops after a batch.
    hold = upstream.hold_embeddings(HELD_WORD)
    with deployment.server(NEW_MODEL) as base:
        headers = {"Authorization": f"Bearer {key}"}
        with (
            sdk_client(base, key) as client,
            httpx.Client(base_url=f"{base}/v1", headers=headers, timeout=30) as raw,
        ):
            upstream.wait_for_held_embeddings()
            expected = midway_progress(LONG_TEXT)
            path = f"/vector_stores/{store.id}/files/{long_id}"
            midway = poll(lambda: raw.get(path).json(), lambda b: b["progress"] == expected)
            # Still completed, and searchable meanwhile; the progress shows the re-embedding.
            assert midway["status"] == "completed"
            assert midway["progress"] == expected
            assert client.vector_stores.retrieve(store.id).status == "completed"
            found = client.vector_stores.search(store.id, query="lighthouses tides")
            assert [hit.file_id for hit in found.data][:1] == [short_id]
            assert deployment.store_model(store.id) == OLD_MODEL  # not every file is done

            # A store made now is on the new model at once.
            fresh = client.vector_stores.create(name="new model")
            fresh_id = upload(client, "fresh.txt", b"Notes on glaciers and fjords.")
            client.vector_stores.files.create(vector_store_id=fresh.id, file_id=fresh_id)
            wait_until_settled(client, fresh.id)

            hold.gate.set()
            total = expected["chunks_total"]
            done = poll(
                lambda: raw.get(path).json(),
                lambda b: b["progress"] == {"chunks_done": total, "chunks_total": total},
            )
            assert done["status"] == "completed"
            poll(lambda: deployment.store_model(store.id), lambda m: m == NEW_MODEL)
    assert deployment.store_model(store.id) == NEW_MODEL
    assert deployment.passage_models(store.id) == {NEW_MODEL}
    assert deployment.vector_hits(store.id, SHORT_TEXT)[:1] == [short_id]
    assert deployment.store_model(fresh.id) == NEW_MODEL
    # Re-embedded from its stored chunks: each of the old store's files' passages once.
    inputs = embedded_inputs(upstream, NEW_MODEL)
    assert sum(SHORT_TEXT in i for i in inputs) == 1
    assert sum("glaciers" in i for i in inputs) == 1  # the new store's ingestion only

    # 3. Restarted with the same model: no file is embedded again.
    before = len(embedded_inputs(upstream, NEW_MODEL))
    with deployment.server(NEW_MODEL) as base, sdk_client(base, key) as client:
        assert client.vector_stores.retrieve(store.id).status == "completed"
        found = client.vector_stores.search(fresh.id, query="glaciers")
        assert [hit.file_id for hit in found.data] == [fresh_id]
    assert embedded_inputs(upstream, NEW_MODEL)[before:] == ["glaciers"]  # the query alone
    assert deployment.passage_models(fresh.id) == {NEW_MODEL}
