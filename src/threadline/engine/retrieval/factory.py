"""Builds the process's ``Retrieval`` from settings: which embedder, which index."""

from threadline.engine.retrieval.hybrid import HybridRetrieval
from threadline.engine.retrieval.tokens import split_by_tokens
from threadline.providers.documents.isolation import ParseLimits
from threadline.providers.embeddings.base import Embedder
from threadline.providers.embeddings.local import PRESETS, LocalEmbedder
from threadline.providers.embeddings.openai_compatible import OpenAICompatibleEmbedder
from threadline.providers.embeddings.static import StaticEmbedder
from threadline.providers.vector_index.base import SearchIndex
from threadline.settings import Settings
from threadline.storage.database import Database
from threadline.storage.search_index_postgres import PostgresSearchIndex
from threadline.storage.search_index_sqlite import SqliteSearchIndex


def build_embedder(settings: Settings) -> Embedder:
    if settings.embeddings_base_url:
        key = settings.embeddings_api_key
        return OpenAICompatibleEmbedder(
            base_url=settings.embeddings_base_url,
            api_key=key.get_secret_value() if key else None,
            model=settings.embeddings_model or "text-embedding-3-small",
            split=split_by_tokens,
            max_input_tokens=settings.embeddings_max_input_tokens,
            batch_size=settings.embeddings_batch_size,
        )
    if settings.embedding_preset == "static":
        return StaticEmbedder(threads=settings.embeddings_threads)
    return LocalEmbedder(
        threads=settings.embeddings_threads,
        runtime=PRESETS[settings.embedding_preset],
        cache_dir=settings.data_dir / "cache" / "embeddings",
    )


def build_index(settings: Settings, database: Database) -> SearchIndex:
    budget = settings.search_postings_memory_mb * 1024 * 1024
    if database.is_sqlite:
        return SqliteSearchIndex(database, postings_budget_bytes=budget)
    return PostgresSearchIndex(database, postings_budget_bytes=budget)


def parse_limits(settings: Settings) -> ParseLimits:
    """The limits of the document parser's child (file_search's files, input files)."""
    return ParseLimits(
        memory_bytes=settings.parse_memory_mb * 1024 * 1024,
        cpu_seconds=max(1, int(settings.parse_timeout_seconds)),
        wall_seconds=settings.parse_timeout_seconds,
    )


def build_retrieval(settings: Settings, database: Database) -> HybridRetrieval:
    return HybridRetrieval(
        embedder=build_embedder(settings),
        index=build_index(settings, database),
        parse_limits=parse_limits(settings),
        max_parallel_parses=settings.parse_concurrency,
    )
