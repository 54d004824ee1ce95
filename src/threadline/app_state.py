"""Everything a running server holds: settings, the database, the engine, the services."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from threadline.engine.context import warm_tokenizer
from threadline.engine.event_bus import EventBus
from threadline.engine.execution import EngineContext
from threadline.engine.ingestion import Ingestion
from threadline.engine.retrieval.factory import build_retrieval
from threadline.engine.retrieval.hybrid import HybridRetrieval
from threadline.engine.tools.base import ServerTool
from threadline.engine.tools.code_interpreter import CodeInterpreterTool
from threadline.engine.tools.file_search import FileSearchTool
from threadline.engine.tools.sandbox_runner import SandboxRunner
from threadline.engine.worker import Worker
from threadline.gateway.api_keys import KeyService
from threadline.gateway.catalog import ModelCatalog
from threadline.gateway.counters import Counters, MemoryCounters
from threadline.gateway.pricing import (
    CODE_INTERPRETER_SESSIONS,
    Charges,
    PriceTable,
    TokenPrice,
)
from threadline.gateway.projects import ProjectService
from threadline.gateway.redaction import BodyRedactor
from threadline.gateway.reports import Reports
from threadline.gateway.service import Gateway
from threadline.providers.blobs.base import BlobStore
from threadline.providers.blobs.local import LocalBlobStore
from threadline.providers.llm.base import Usage
from threadline.providers.llm.openai_compatible import UpstreamOptions
from threadline.providers.llm.passthrough import PassthroughClient
from threadline.providers.llm.registry import ModelRegistry
from threadline.providers.sandbox import SandboxConfig, SandboxSessions
from threadline.records.runs import RunScope
from threadline.services.assistants import AssistantService
from threadline.services.code_files import CodeFiles
from threadline.services.file_batches import FileBatchService
from threadline.services.file_search import FileSearch
from threadline.services.files import FileService
from threadline.services.idempotency import IdempotencyKeys
from threadline.services.messages import MessageService
from threadline.services.removals import Removals
from threadline.services.run_steps import StepService
from threadline.services.runs import RunService
from threadline.services.storage_meter import StorageMeter
from threadline.services.sweeper import Sweeper
from threadline.services.threads import ThreadService
from threadline.services.tool_gate import ToolGate
from threadline.services.vector_store_files import StoreFileService
from threadline.services.vector_stores import VectorStoreService
from threadline.settings import Settings
from threadline.storage.blob_parts import DatabaseBlobStore
from threadline.storage.database import Database


@dataclass
class AppState:
    settings: Settings
    database: Database
    models: ModelRegistry
    bus: EventBus
    worker: Worker
    keys: KeyService
    assistants: AssistantService
    threads: ThreadService
    messages: MessageService
    runs: RunService
    steps: StepService
    projects: ProjectService
    gateway: Gateway
    reports: Reports
    passthrough: PassthroughClient
    catalog: ModelCatalog
    body_redactor: BodyRedactor
    sandbox: SandboxSessions  # code_interpreter's Python sessions (probed in start())
    blobs: BlobStore
    retrieval: HybridRetrieval
    ingestion: Ingestion
    file_search: FileSearch
    files: FileService
    vector_stores: VectorStoreService
    store_files: StoreFileService
    file_batches: FileBatchService
    idempotency: IdempotencyKeys
    sweeper: Sweeper
    storage_meter: StorageMeter

    @classmethod
    def build(cls, settings: Settings, server_tools: Sequence[ServerTool] = ()) -> "AppState":
        """Everything, from ``settings``; ``server_tools`` replaces built-in tools of the same
        type (tests plug in stand-ins)."""
        database = Database(settings.resolved_database_url, pool_size=settings.database_pool_size)
        models = ModelRegistry.from_settings(
            settings,
            options=UpstreamOptions(
                connect_timeout=settings.upstream_connect_timeout,
                read_timeout=settings.upstream_read_timeout,
                max_retries=settings.upstream_max_retries,
                max_retry_wait=settings.upstream_max_retry_wait,
            ),
        )
        bus = EventBus()
        keys = KeyService(database, cache_seconds=settings.key_cache_seconds)
        projects = ProjectService(database, keys, models.provider_names())
        gateway = Gateway(
            database,
            keys,
            projects,
            _price_table(models),
            counters=_counters(settings),
            fail_open=settings.redis_fail_open,
            flush_seconds=settings.request_log_flush_seconds,
            retention_days=settings.request_log_retention_days,
            log_requests=settings.request_log,
        )

        async def record_usage(run: RunScope, usage: Usage) -> None:
            try:
                await gateway.record_run_usage(
                    run["project_id"],
                    run.get("api_key_id"),
                    run["model"],
                    usage.prompt_tokens,
                    usage.completion_tokens,
                )
            except Exception:  # metering must never fail a run
                logging.getLogger("threadline.gateway").exception("could not meter a run turn")

        async def code_session(run: RunScope) -> None:
            try:
                await gateway.charge(
                    run["project_id"], run.get("api_key_id"), CODE_INTERPRETER_SESSIONS, 1
                )
            except Exception:  # metering must never fail a run
                logging.getLogger("threadline.gateway").exception("could not bill a session")

        owner = Worker.new_owner_id()
        passthrough = PassthroughClient()
        sandbox = SandboxSessions(SandboxConfig.from_settings(settings))
        tools = ToolGate(lambda: None if sandbox.availability.ok else sandbox.availability.reason)
        blobs: BlobStore = (
            DatabaseBlobStore(database, settings.data_dir / "scratch")
            if settings.blob_store == "database"
            else LocalBlobStore(settings.data_dir / "files")
        )
        # The retrieval machinery behind the seam (parsing, chunking, embeddings, the index).
        retrieval = build_retrieval(settings, database)
        ingestion = Ingestion(
            database,
            retrieval,
            blobs,
            owner=owner,
            concurrency=settings.ingestion_concurrency,
            lease_seconds=settings.ingestion_lease_seconds,
            release_leases_at_start=settings.is_sqlite,
        )
        removals = Removals(database, retrieval, blobs)
        file_search = FileSearch(database, retrieval)
        files = FileService(
            database,
            blobs,
            removals,
            project_storage_limit=settings.project_storage_limit_bytes or None,
        )
        vector_stores = VectorStoreService(database, ingestion, removals, file_search)
        code_files = CodeFiles(database, blobs)
        idempotency = IdempotencyKeys(database)
        builtin: list[ServerTool] = [
            FileSearchTool(file_search),
            CodeInterpreterTool(
                SandboxRunner(sandbox),
                code_files.files_of,
                code_files.save_output,
                code_files.save_image,
                code_session,
            ),
        ]
        engine = EngineContext(
            db=database,
            bus=bus,
            route=models.route,
            owner=owner,
            record_usage=record_usage,
            server_tools={tool.type: tool for tool in [*builtin, *server_tools]},
            end_retry_seconds=settings.run_end_retry_seconds,
        )
        worker = Worker(
            engine,
            lease_seconds=settings.run_lease_seconds,
            shutdown_grace_seconds=settings.shutdown_grace_seconds,
        )
        return cls(
            settings=settings,
            database=database,
            models=models,
            bus=bus,
            worker=worker,
            keys=keys,
            assistants=AssistantService(database, tools, ingestion),
            threads=ThreadService(database, ingestion),
            messages=MessageService(database, ingestion),
            runs=RunService(
                database,
                worker,
                tools,
                expiry_seconds=settings.run_expiry_seconds,
                ingestion=ingestion,
            ),
            steps=StepService(database),
            projects=projects,
            gateway=gateway,
            reports=Reports(database, gateway.recorder),
            passthrough=passthrough,
            catalog=ModelCatalog(models, passthrough),
            body_redactor=BodyRedactor(_secrets(settings, models)),
            sandbox=sandbox,
            blobs=blobs,
            retrieval=retrieval,
            ingestion=ingestion,
            file_search=file_search,
            files=files,
            vector_stores=vector_stores,
            store_files=StoreFileService(database, retrieval, ingestion, removals),
            file_batches=FileBatchService(database, ingestion),
            idempotency=idempotency,
            sweeper=Sweeper(
                files,
                vector_stores,
                removals,
                blobs,
                idempotency,
                interval_seconds=settings.sweep_interval_seconds,
            ),
            storage_meter=StorageMeter(database, gateway.charge, gateway.prices.billable_gb_days),
        )

    async def start(self) -> None:
        warm_tokenizer()
        await self.sandbox.start()
        self.worker.start()
        self.gateway.start()
        self.gateway.metrics.track(
            active_runs=self.worker.active_count,
            queue_depth=lambda: self.gateway.recorder.pending,
            dropped=lambda: self.gateway.recorder.dropped,
        )
        await self.ingestion.start()
        self.sweeper.start()
        self.storage_meter.start()

    async def close(self) -> None:
        await self.storage_meter.stop()
        await self.sweeper.stop()
        await self.ingestion.stop()
        await self.worker.stop()
        await self.gateway.close()
        await self.passthrough.aclose()
        await self.sandbox.aclose()
        await self.models.aclose()
        await self.retrieval.aclose()
        await self.database.dispose()


def _counters(settings: Settings) -> Counters:
    if settings.redis_url is None:
        return MemoryCounters()
    from threadline.gateway.redis_counters import RedisCounters

    return RedisCounters(
        settings.redis_url.get_secret_value(),
        slot_ms=int(settings.parallel_slot_seconds * 1000),
    )


def _price_table(models: ModelRegistry) -> PriceTable:
    configured = {
        name: TokenPrice(model.prices.input_per_million, model.prices.output_per_million)
        for name, model in models.config.models.items()
        if model.prices is not None
    }
    charges = Charges(**models.config.charges.model_dump())
    return PriceTable(configured, upstream_ids=models.upstream_id, charges=charges)


def _secrets(settings: Settings, models: ModelRegistry) -> list[str]:
    """What the request log's body redaction must never let through."""
    keys = (settings.master_key, settings.upstream_api_key, settings.embeddings_api_key)
    found = [key.get_secret_value() for key in keys if key]
    found += models.api_keys()
    return found
