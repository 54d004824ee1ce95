"""The builders of ``AppState``'s parts (``AppState.build`` puts them together)."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from threadline.engine.event_bus import EventBus
from threadline.engine.ingestion import Ingestion
from threadline.engine.peers import NO_PEERS, Peers
from threadline.engine.retrieval.factory import build_retrieval
from threadline.engine.retrieval.hybrid import HybridRetrieval
from threadline.engine.run_attempt import EngineContext
from threadline.engine.tools.base import ServerTool
from threadline.engine.tools.code_interpreter import CodeInterpreterTool
from threadline.engine.tools.file_search import FileSearchTool
from threadline.engine.tools.sandbox_runner import SandboxRunner
from threadline.engine.worker import Worker
from threadline.gateway.api_keys import KeyService
from threadline.gateway.counters import Counters, MemoryCounters
from threadline.gateway.hub_counters import HubCounters
from threadline.gateway.pricing import (
    CODE_INTERPRETER_SESSIONS,
    RESPONSES,
    RUNS,
    Charges,
    PriceTable,
    TokenPrice,
)
from threadline.gateway.projects import ProjectService
from threadline.gateway.response_cache import CacheStore
from threadline.gateway.service import Gateway
from threadline.providers.blobs.base import BlobStore
from threadline.providers.blobs.local import LocalBlobStore
from threadline.providers.cluster.link import HubLink
from threadline.providers.llm.base import Usage
from threadline.providers.llm.openai_compatible import UpstreamOptions
from threadline.providers.llm.registry import ModelRegistry
from threadline.providers.sandbox import SandboxSessions
from threadline.records.runs import RunRecord, RunScope
from threadline.services.code_files import CodeFiles
from threadline.services.file_search import FileSearch
from threadline.services.files import FileService
from threadline.services.idempotency import IdempotencyKeys
from threadline.services.removals import Removals
from threadline.services.vector_stores import VectorStoreService
from threadline.settings import Settings
from threadline.storage.blob_parts import DatabaseBlobStore
from threadline.storage.database import Database
from threadline.telemetry import Tracer

_gateway_log = logging.getLogger("threadline.gateway")


@dataclass(frozen=True, slots=True)
class FileParts:
    """Files, vector stores and the retrieval machinery behind them (parsing, chunking,
    embeddings, the index), which the services and the engine's file_search share."""

    blobs: BlobStore
    retrieval: HybridRetrieval
    ingestion: Ingestion
    removals: Removals
    file_search: FileSearch
    files: FileService
    vector_stores: VectorStoreService
    code_files: CodeFiles
    idempotency: IdempotencyKeys

    @classmethod
    def build(
        cls, settings: Settings, database: Database, owner: str, *, shared: bool = False
    ) -> "FileParts":
        """``shared``: other worker processes serve the same database (leases left in it may
        be theirs, alive)."""
        blobs: BlobStore = (
            DatabaseBlobStore(database, settings.data_dir / "scratch")
            if settings.blob_store == "database"
            else LocalBlobStore(settings.data_dir / "files")
        )
        retrieval = build_retrieval(settings, database)
        ingestion = Ingestion(
            database,
            retrieval,
            blobs,
            owner=owner,
            concurrency=settings.ingestion_concurrency,
            lease_seconds=settings.ingestion_lease_seconds,
            # One server per SQLite database: its earlier process's leases are stale. With
            # several workers, the supervisor releases them once, before they start.
            release_leases_at_start=settings.is_sqlite and not shared,
        )
        removals = Removals(database, retrieval, blobs)
        file_search = FileSearch(database, retrieval)
        files = FileService(
            database,
            blobs,
            removals,
            project_storage_limit=settings.project_storage_limit_bytes or None,
        )
        return cls(
            blobs=blobs,
            retrieval=retrieval,
            ingestion=ingestion,
            removals=removals,
            file_search=file_search,
            files=files,
            vector_stores=VectorStoreService(database, ingestion, removals, file_search),
            code_files=CodeFiles(database, blobs),
            idempotency=IdempotencyKeys(database),
        )


def build_models(settings: Settings, tracer: Tracer) -> ModelRegistry:
    return ModelRegistry.from_settings(
        settings,
        options=UpstreamOptions(
            connect_timeout=settings.upstream_connect_timeout,
            read_timeout=settings.upstream_read_timeout,
            max_retries=settings.upstream_max_retries,
            max_retry_wait=settings.upstream_max_retry_wait,
        ),
        tracer=tracer,
    )


def build_gateway(
    settings: Settings,
    database: Database,
    keys: KeyService,
    projects: ProjectService,
    models: ModelRegistry,
    hub: HubLink | None = None,
) -> Gateway:
    return Gateway(
        database,
        keys,
        projects,
        _price_table(models),
        counters=_counters(settings, hub),
        cache_store=_cache_store(settings),
        fail_open=settings.redis_fail_open,
        flush_seconds=settings.request_log_flush_seconds,
        retention_days=settings.request_log_retention_days,
        log_requests=settings.request_log,
    )


def build_worker(
    settings: Settings,
    database: Database,
    bus: EventBus,
    models: ModelRegistry,
    gateway: Gateway,
    sandbox: SandboxSessions,
    parts: FileParts,
    owner: str,
    server_tools: Sequence[ServerTool],
    tracer: Tracer,
    *,
    peers: Peers = NO_PEERS,
) -> Worker:
    """The run engine, with its built-in tools (``server_tools`` replaces those of a type)."""
    meter = _RunMeter(gateway)
    code_files = parts.code_files
    builtin: list[ServerTool] = [
        FileSearchTool(parts.file_search),
        CodeInterpreterTool(
            SandboxRunner(sandbox),
            code_files.files_of,
            code_files.save_output,
            code_files.save_image,
            meter.code_session,
        ),
    ]
    engine = EngineContext(
        db=database,
        bus=bus,
        route=models.route,
        owner=owner,
        record_usage=meter.record_usage,
        server_tools={tool.type: tool for tool in [*builtin, *server_tools]},
        end_retry_seconds=settings.run_end_retry_seconds,
        tracer=tracer,
    )
    return Worker(
        engine,
        lease_seconds=settings.run_lease_seconds,
        shutdown_grace_seconds=settings.shutdown_grace_seconds,
        peers=peers,
    )


class _RunMeter:
    """What a run's model turns and code sessions cost, billed through the gateway. Metering
    must never fail a run: a failure is logged and the run goes on."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    async def record_usage(self, run: RunRecord, usage: Usage) -> None:
        try:
            await self._gateway.record_run_usage(
                run["project_id"],
                run.get("api_key_id"),
                run["model"],
                usage.prompt_tokens,
                usage.completion_tokens,
                meter=RESPONSES if run.get("kind") == "response" else RUNS,
            )
        except Exception:
            _gateway_log.exception("could not meter a run turn")

    async def code_session(self, run: RunScope) -> None:
        try:
            await self._gateway.charge(
                run["project_id"], run.get("api_key_id"), CODE_INTERPRETER_SESSIONS, 1
            )
        except Exception:
            _gateway_log.exception("could not bill a session")


def _counters(settings: Settings, hub: HubLink | None) -> Counters:
    """Redis when configured (shared by every replica); else, with several worker processes,
    the supervisor's (shared by them); else this process's own."""
    if settings.redis_url is None:
        return MemoryCounters() if hub is None else HubCounters(hub)
    from threadline.gateway.redis_counters import RedisCounters

    return RedisCounters(
        settings.redis_url.get_secret_value(),
        slot_ms=int(settings.parallel_slot_seconds * 1000),
    )


def _cache_store(settings: Settings) -> CacheStore | None:
    """The response cache's store: Redis when configured, else (None) the database."""
    if settings.redis_url is None:
        return None
    from threadline.gateway.cache_store_redis import RedisCacheStore

    return RedisCacheStore(settings.redis_url.get_secret_value())


def _price_table(models: ModelRegistry) -> PriceTable:
    configured = {
        name: TokenPrice(model.prices.input_per_million, model.prices.output_per_million)
        for name, model in models.config.models.items()
        if model.prices is not None
    }
    charges = Charges(**models.config.charges.model_dump())
    return PriceTable(configured, upstream_ids=models.upstream_id, charges=charges)


def secrets_of(settings: Settings, models: ModelRegistry) -> list[str]:
    """What the request log's body redaction must never let through."""
    keys = (settings.master_key, settings.upstream_api_key, settings.embeddings_api_key)
    found = [key.get_secret_value() for key in keys if key]
    found += models.api_keys()
    return found
