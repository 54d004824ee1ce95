"""Helpers for the files and vector-store suites."""

import asyncio
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from openai import OpenAI
from sqlalchemy import text

from tests.databases import database
from tests.servers import threaded_server
from threadline.settings import Settings
from threadline.storage.database import Database

if TYPE_CHECKING:
    from tests.upstream import ScriptedUpstream

DOCS = {
    "capybara.md": b"# Capybaras\nThe capybara is the largest living rodent, from South America.",
    "volcano.txt": b"Mount Etna is an active stratovolcano on the east coast of Sicily.",
    "tea.json": b'{"topic": "tea", "fact": "Oolong tea is partially oxidised before drying."}',
}


def upload(client: OpenAI, name: str, content: bytes, purpose: str = "assistants") -> str:
    return client.files.create(file=(name, content), purpose=purpose).id  # type: ignore[arg-type]


def wait_until_settled(client: OpenAI, store_id: str, timeout: float = 20.0) -> Any:
    """The store once no file is in progress (``status`` completed or expired)."""
    deadline = time.monotonic() + timeout
    while True:
        store = client.vector_stores.retrieve(store_id)
        if store.file_counts.in_progress == 0 or time.monotonic() > deadline:
            return store
        time.sleep(0.05)


def counts(store: Any) -> dict[str, int]:
    return store.file_counts.model_dump()  # type: ignore[no-any-return]


def sql(database_url: str, statement: str, **params: Any) -> None:
    """Run one statement against the server's database (to age an object, say)."""

    async def run() -> None:
        database = Database(database_url)
        try:
            await database.write(lambda connection: connection.execute(text(statement), params))
        finally:
            await database.dispose()

    asyncio.run(run())


# --- ingestion stopped part-way (scripted upstream's ``hold_embeddings``) ---------------------

HELD_WORD = "zebraword"
# Small chunks: a file of a few thousand words has hundreds, several batches of embeddings.
SMALL_CHUNKS = {
    "type": "static",
    "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 50},
}
_WORDS = ("river", "stone", "maple", "lantern", "harbor", "quiet", "orbit", "velvet", "canyon")


def long_text(words: int = 4000, held_from: int = 2000) -> str:
    """Prose-like text whose words from ``held_from`` on carry ``HELD_WORD``: with
    ``SMALL_CHUNKS`` its first batch of embeddings (64 passages) is answered and its second
    held (``midway_progress`` checks that)."""
    return " ".join(
        (f"{HELD_WORD} " if i >= held_from else "") + f"{_WORDS[i % len(_WORDS)]}{i % 7}"
        for i in range(words)
    )


def midway_progress(text: str) -> dict[str, int]:
    """The ``progress`` of ``text``'s store file once its first batch of passages is embedded
    and the next is held: computed with the server's own chunker."""
    from threadline.engine.retrieval.base import ChunkingStrategy
    from threadline.engine.retrieval.chunking import chunk_text
    from threadline.engine.retrieval.hybrid import EMBED_BATCH

    static = SMALL_CHUNKS["static"]
    chunked = chunk_text(text, ChunkingStrategy(**static), passage_tokens=8191)  # type: ignore[arg-type]
    passages = [p.text for p in chunked.passages]
    assert not any(HELD_WORD in p for p in passages[:EMBED_BATCH]), "held too early"
    assert any(HELD_WORD in p for p in passages[EMBED_BATCH : 2 * EMBED_BATCH]), "held too late"
    return {
        "chunks_done": chunked.passages[EMBED_BATCH].first_chunk,
        "chunks_total": len(chunked.chunks),
    }


@contextmanager
def embedding_server(
    backend: str, data_dir: Path, upstream: "ScriptedUpstream"
) -> Iterator[tuple[str, str]]:
    """A server of its own whose embeddings come from the scripted upstream (fast, and
    holdable): its base URL and master key."""
    master = "sk-master-embed-" + secrets.token_hex(8)
    with database(backend) as url:
        settings = Settings(
            data_dir=data_dir,
            database_url=url,
            master_key=master,
            embeddings_base_url=upstream.base_url,
            embeddings_api_key=upstream.api_key,
            embeddings_model="text-embedding-test",
        )
        with threaded_server(settings) as base:
            yield base, master


def project_key(base: str, master: str) -> str:
    """A key of a new project on the server at ``base``."""
    response = httpx.post(
        f"{base}/admin/keys",
        headers={"Authorization": f"Bearer {master}"},
        json={"project": f"p-{secrets.token_hex(5)}"},
    )
    response.raise_for_status()
    return str(response.json()["key"])
