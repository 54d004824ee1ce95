"""The Retrieval implementation end to end, on SQLite and PostgreSQL: real parsers in their
sandbox, o200k chunking, embeddings (the scripted upstream's, and once each the embedded model
and the static preset's), the hybrid index, and what the vector-store service relies on."""

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.documents import write_docx, write_pdf
from tests.upstream import ScriptedUpstream
from threadline.engine.retrieval.base import ChunkingStrategy, FileRejected
from threadline.engine.retrieval.factory import build_index, build_retrieval
from threadline.engine.retrieval.hybrid import HybridRetrieval
from threadline.engine.retrieval.tokens import split_by_tokens
from threadline.providers.embeddings.base import Embedder
from threadline.providers.embeddings.local import LocalEmbedder
from threadline.providers.embeddings.openai_compatible import OpenAICompatibleEmbedder
from threadline.providers.embeddings.static import StaticEmbedder
from threadline.settings import Settings
from threadline.storage.database import Database
from threadline.storage.migrate import upgrade_to_head
from threadline.storage.search_index import SqlSearchIndexBase

AUTO = ChunkingStrategy()
FERRY = "The ferry to Skerryvore leaves at dawn on Tuesdays from the west pier."
BAKERY = "Our sourdough starter is fed with rye flour every morning at six."


@pytest.fixture(scope="session")
def index_url(database_url: str) -> str:
    upgrade_to_head(database_url)
    return database_url


Body = Callable[[HybridRetrieval], Awaitable[None]]


def run(
    url: str, upstream: ScriptedUpstream, body: Body, *, embedder: Embedder | None = None
) -> None:
    """``body`` on a retrieval embedding with ``embedder`` (default: the scripted upstream)."""

    async def main() -> None:
        database = Database(url)
        embedder_used = embedder or (
            OpenAICompatibleEmbedder(
                base_url=upstream.base_url,
                api_key=upstream.api_key,
                model="text-embedding-test",
                split=split_by_tokens,
                max_retries=0,
            )
        )
        retrieval = HybridRetrieval(embedder=embedder_used, index=build_index(Settings(), database))
        try:
            await body(retrieval)
        finally:
            await retrieval.aclose()
            await database.dispose()

    asyncio.run(main())


def new_store() -> str:
    return f"vs_{secrets.token_hex(8)}"


async def index(retrieval: HybridRetrieval, store: str, path: Path, **attributes) -> int:
    indexed = await retrieval.index_file(
        project_id="proj",
        store_id=store,
        file_id=f"file-{path.stem}",
        path=path,
        filename=path.name,
        chunking=AUTO,
        attributes=attributes or None,
    )
    return indexed.chunks


def test_markdown_pdf_and_docx_are_searchable(index_url, upstream, tmp_path):
    store = new_store()
    (tmp_path / "guide.md").write_text(f"# Travel\n\n{FERRY}\n")
    write_pdf(tmp_path / "menu.pdf", f"Bakery notes\n\n{BAKERY}")
    write_docx(tmp_path / "minutes.docx", "The committee approved the new lighthouse budget.")

    async def body(retrieval: HybridRetrieval) -> None:
        for name in ("guide.md", "menu.pdf", "minutes.docx"):
            assert await index(retrieval, store, tmp_path / name) == 1
        assert retrieval.embedding_model == "text-embedding-test"
        for mode in ("hybrid", "vector", "keyword"):
            hits = await retrieval.search(
                store_ids=[store], queries=["ferry pier dawn"], max_results=3, mode=mode
            )
            assert hits[0].file_id == "file-guide", mode
            assert FERRY in hits[0].text and hits[0].chunk_index == 0
            assert all(0 <= h.score <= 1 for h in hits)
            assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        hits = await retrieval.search(
            store_ids=[store], queries=["rye flour starter", "lighthouse budget"], max_results=5
        )
        assert {h.file_id for h in hits[:2]} == {"file-menu", "file-minutes"}

    run(index_url, upstream, body)


def test_a_broken_pdf_fails_alone(index_url, upstream, tmp_path):
    store = new_store()
    (tmp_path / "good.md").write_text(FERRY)
    write_pdf(tmp_path / "whole.pdf", BAKERY)
    (tmp_path / "broken.pdf").write_bytes((tmp_path / "whole.pdf").read_bytes()[:200])
    (tmp_path / "photo.heic").write_bytes(b"\x00\x00\x00 ftypheic")

    async def body(retrieval: HybridRetrieval) -> None:
        outcomes = await asyncio.gather(
            index(retrieval, store, tmp_path / "good.md"),
            index(retrieval, store, tmp_path / "broken.pdf"),
            index(retrieval, store, tmp_path / "photo.heic"),
            return_exceptions=True,
        )
        assert outcomes[0] == 1
        assert isinstance(outcomes[1], FileRejected) and outcomes[1].code == "invalid_file"
        assert isinstance(outcomes[2], FileRejected) and outcomes[2].code == "unsupported_file"
        hits = await retrieval.search(store_ids=[store], queries=["ferry"], max_results=5)
        assert [h.file_id for h in hits] == ["file-good"]

    run(index_url, upstream, body)


def test_max_results_threshold_and_filters(index_url, upstream, tmp_path):
    store = new_store()
    paragraphs = [f"Section {i}: the walrus ate {i} herrings near buoy {i}." for i in range(400)]
    (tmp_path / "log.txt").write_text("\n\n".join(paragraphs))
    (tmp_path / "other.txt").write_text("The walrus sleeps on the ice floe.")

    async def body(retrieval: HybridRetrieval) -> None:
        chunks = await index(retrieval, store, tmp_path / "log.txt", kind="log", year=2024)
        assert chunks > 3
        await index(retrieval, store, tmp_path / "other.txt", kind="note", year=2019)
        query = ["walrus herrings"]
        assert len(await retrieval.search(store_ids=[store], queries=query, max_results=2)) == 2
        many = await retrieval.search(store_ids=[store], queries=query, max_results=50)
        assert len(many) == chunks + 1
        threshold = many[len(many) // 2].score
        strict = await retrieval.search(
            store_ids=[store], queries=query, max_results=50, score_threshold=threshold
        )
        assert 0 < len(strict) < len(many) and all(h.score >= threshold for h in strict)
        assert strict == [h for h in many if h.score >= threshold]
        notes = await retrieval.search(
            store_ids=[store],
            queries=query,
            max_results=50,
            filters={"type": "lt", "key": "year", "value": 2020},
        )
        assert [h.file_id for h in notes] == ["file-other"]
        assert notes[0].attributes == {"kind": "note", "year": 2019}
        await retrieval.set_attributes(store_id=store, file_id="file-other", attributes=None)
        none = await retrieval.search(
            store_ids=[store],
            queries=query,
            max_results=5,
            filters={"type": "eq", "key": "kind", "value": "note"},
        )
        assert none == []

    run(index_url, upstream, body)


def test_removal_takes_chunks_out_of_search(index_url, upstream, tmp_path):
    store, kept = new_store(), new_store()
    (tmp_path / "a.md").write_text(FERRY)
    (tmp_path / "b.md").write_text(FERRY + " Bring a coat.")

    async def body(retrieval: HybridRetrieval) -> None:
        await index(retrieval, store, tmp_path / "a.md")
        await index(retrieval, store, tmp_path / "b.md")
        await index(retrieval, kept, tmp_path / "a.md")
        await retrieval.remove_file(store_id=store, file_id="file-a")
        hits = await retrieval.search(store_ids=[store], queries=["ferry"], max_results=5)
        assert [h.file_id for h in hits] == ["file-b"]
        await retrieval.remove_store(store_id=store)
        assert await retrieval.search(store_ids=[store], queries=["ferry"], max_results=5) == []
        both = await retrieval.search(store_ids=[store, kept], queries=["ferry"], max_results=5)
        assert [h.file_id for h in both] == ["file-a"]

    run(index_url, upstream, body)


def test_the_same_file_in_two_stores_is_one_hit(index_url, upstream, tmp_path):
    first, second = new_store(), new_store()
    (tmp_path / "shared.md").write_text(FERRY)

    async def body(retrieval: HybridRetrieval) -> None:
        await index(retrieval, first, tmp_path / "shared.md")
        await index(retrieval, second, tmp_path / "shared.md")
        hits = await retrieval.search(store_ids=[first, second], queries=["ferry"], max_results=5)
        assert [h.file_id for h in hits] == ["file-shared"]

    run(index_url, upstream, body)


def test_the_embedded_model_end_to_end(index_url, upstream, tmp_path):
    store = new_store()
    (tmp_path / "travel.md").write_text(FERRY)
    (tmp_path / "bread.md").write_text(BAKERY)

    async def body(retrieval: HybridRetrieval) -> None:
        assert retrieval.embedding_model == "all-MiniLM-L6-v2"
        await index(retrieval, store, tmp_path / "travel.md")
        await index(retrieval, store, tmp_path / "bread.md")
        # No shared keyword: only the vector side can answer.
        hits = await retrieval.search(
            store_ids=[store], queries=["When does the boat depart?"], max_results=2, mode="vector"
        )
        assert hits[0].file_id == "file-travel"

    run(index_url, upstream, body, embedder=LocalEmbedder())


def test_the_static_preset_end_to_end(index_url, upstream, tmp_path):
    store = new_store()
    (tmp_path / "travel.md").write_text(FERRY)
    (tmp_path / "bread.md").write_text(BAKERY)

    async def body(retrieval: HybridRetrieval) -> None:
        assert retrieval.embedding_model == "wordllama-l2-supercat-256"
        await index(retrieval, store, tmp_path / "travel.md")
        await index(retrieval, store, tmp_path / "bread.md")
        stored = await retrieval.index.stored_file(store, "file-travel")
        assert stored is not None and stored.embedding_model == "wordllama-l2-supercat-256"
        assert await passage_sizes(retrieval, store) == {256}
        # Vector search alone, on 256-dimension vectors beside the other tests' 384 and 8.
        hits = await retrieval.search(
            store_ids=[store], queries=["the ferry pier at dawn"], max_results=2, mode="vector"
        )
        assert hits[0].file_id == "file-travel"
        hits = await retrieval.search(
            store_ids=[store], queries=["sourdough rye flour"], max_results=2, mode="hybrid"
        )
        assert hits[0].file_id == "file-bread"

    run(index_url, upstream, body, embedder=StaticEmbedder())


async def passage_sizes(retrieval: HybridRetrieval, store: str) -> set[int]:
    """The vector sizes the index holds for ``store`` (its ``dims`` column)."""
    assert isinstance(retrieval.index, SqlSearchIndexBase)
    statement = text("SELECT DISTINCT dims FROM search_passages WHERE store_id = :store")
    return await retrieval.index.database.read(
        lambda c: {int(row[0]) for row in c.execute(statement, {"store": store})}
    )


def test_settings_choose_the_embedder(tmp_path):
    async def main() -> None:
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
        default = build_retrieval(Settings(data_dir=tmp_path), database)
        assert isinstance(default.embedder, LocalEmbedder)
        assert default.embedder.runtime == "onnx-int8"  # the "fast" preset
        accurate = build_retrieval(
            Settings(data_dir=tmp_path, embedding_preset="accurate"), database
        )
        assert isinstance(accurate.embedder, LocalEmbedder)
        assert accurate.embedder.runtime == "onnx"
        # Same model whichever preset: stores keep their vectors when it changes.
        assert accurate.embedding_model == default.embedding_model == "all-MiniLM-L6-v2"
        await accurate.aclose()
        # Another model: its own name, so stores made with the others are re-embedded.
        static = build_retrieval(Settings(data_dir=tmp_path, embedding_preset="static"), database)
        assert isinstance(static.embedder, StaticEmbedder)
        assert static.embedding_model == "wordllama-l2-supercat-256"
        await static.aclose()
        remote = build_retrieval(
            Settings(
                data_dir=tmp_path,
                embeddings_base_url="http://127.0.0.1:9/v1",
                embeddings_api_key="sk-emb",
                embeddings_model="nomic-embed-text",
            ),
            database,
        )
        assert isinstance(remote.embedder, OpenAICompatibleEmbedder)
        assert remote.embedding_model == "nomic-embed-text"
        await default.aclose()
        await remote.aclose()
        await database.dispose()

    asyncio.run(main())
