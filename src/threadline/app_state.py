"""Everything a running server holds: settings, the database, the engine, the services."""

import asyncio
import os
import signal
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from threadline.app_parts import (
    FileParts,
    build_gateway,
    build_models,
    build_worker,
    secrets_of,
)
from threadline.engine.event_bus import EventBus
from threadline.engine.ingestion import Ingestion
from threadline.engine.peers import NO_PEERS, HubPeers
from threadline.engine.retrieval.factory import parse_limits
from threadline.engine.retrieval.hybrid import HybridRetrieval
from threadline.engine.tokens import warm_tokenizer
from threadline.engine.tools.base import ServerTool
from threadline.engine.worker import Worker
from threadline.gateway.api_keys import KeyService
from threadline.gateway.catalog import ModelCatalog
from threadline.gateway.projects import ProjectService
from threadline.gateway.redaction import BodyRedactor
from threadline.gateway.reports import Reports
from threadline.gateway.service import Gateway
from threadline.providers.blobs.base import BlobStore
from threadline.providers.cluster import WorkerSeat
from threadline.providers.cluster.link import HubLink
from threadline.providers.llm.passthrough import PassthroughClient
from threadline.providers.llm.registry import ModelRegistry
from threadline.providers.sandbox import SandboxConfig, SandboxSessions
from threadline.services.assistants import AssistantService
from threadline.services.console_threads import ConsoleThreadService
from threadline.services.conversations import ConversationService
from threadline.services.file_batches import FileBatchService
from threadline.services.file_search import FileSearch
from threadline.services.files import FileService
from threadline.services.idempotency import IdempotencyKeys
from threadline.services.input_files import InputFileReader
from threadline.services.messages import MessageService
from threadline.services.response_prompt import PromptSizer
from threadline.services.responses import ResponseService
from threadline.services.run_steps import StepService
from threadline.services.runs import RunService
from threadline.services.storage_meter import StorageMeter
from threadline.services.sweeper import Sweeper
from threadline.services.threads import ThreadService
from threadline.services.tool_gate import ToolGate
from threadline.services.vector_store_files import StoreFileService
from threadline.services.vector_stores import VectorStoreService
from threadline.settings import Settings
from threadline.storage.database import Database
from threadline.telemetry import NO_TRACER, Tracer


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
    conversations: ConversationService
    console_threads: ConsoleThreadService  # the console's thread listing
    runs: RunService
    responses: ResponseService
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
    tracer: Tracer  # NO_TRACER unless tracing is on (chosen by create_app)
    # One of several worker processes (``serve --workers N``): the link to their supervisor.
    hub: HubLink | None = None

    # What ``start`` started, to be stopped in the reverse order by ``close``.
    _running: AsyncExitStack = field(default_factory=AsyncExitStack, init=False, repr=False)

    @classmethod
    def build(
        cls,
        settings: Settings,
        server_tools: Sequence[ServerTool] = (),
        tracer: Tracer = NO_TRACER,
        seat: WorkerSeat | None = None,
    ) -> "AppState":
        """Everything, from ``settings``; ``server_tools`` replaces built-in tools of the same
        type (tests plug in stand-ins); ``tracer`` is handed to whatever makes spans;
        ``seat``: this process is one of a supervisor's workers (``serve --workers N``)."""
        hub = None if seat is None else HubLink(seat.hub_path, on_lost=_stop_this_process)
        database = Database(
            settings.resolved_database_url,
            pool_size=settings.database_pool_size,
            shared_writers=seat is not None,
        )
        models = build_models(settings, tracer)
        keys = KeyService(database, cache_seconds=settings.key_cache_seconds, hub=hub)
        projects = ProjectService(database, keys, models.provider_names())
        gateway = build_gateway(settings, database, keys, projects, models, hub)
        sandbox = SandboxSessions(
            SandboxConfig.from_settings(settings, 0 if seat is None else seat.index)
        )
        tools = ToolGate(lambda: None if sandbox.availability.ok else sandbox.availability.reason)
        owner = Worker.new_owner_id()
        parts = FileParts.build(settings, database, owner, shared=hub is not None)
        bus = EventBus()
        worker = build_worker(
            settings,
            database,
            bus,
            models,
            gateway,
            sandbox,
            parts,
            owner,
            server_tools,
            tracer,
            peers=NO_PEERS if hub is None else HubPeers(hub),
        )
        if hub is not None:
            worker.listen_to(hub.on_told)
        passthrough = PassthroughClient()
        runs = RunService(
            database,
            worker,
            tools,
            expiry_seconds=settings.run_expiry_seconds,
            ingestion=parts.ingestion,
        )
        return cls(
            settings=settings,
            database=database,
            models=models,
            bus=bus,
            worker=worker,
            keys=keys,
            assistants=AssistantService(database, tools, parts.ingestion),
            threads=ThreadService(database, parts.ingestion),
            messages=MessageService(database, parts.ingestion),
            conversations=ConversationService(database),
            console_threads=ConsoleThreadService(database),
            runs=runs,
            responses=ResponseService(
                database,
                worker,
                tools,
                runs,
                PromptSizer(worker.engine.route, worker.engine.server_tools),
                expiry_seconds=settings.run_expiry_seconds,
                input_files=InputFileReader(
                    database,
                    parts.blobs,
                    parse_limits(settings),
                    max_parallel_parses=settings.parse_concurrency,
                ),
            ),
            steps=StepService(database),
            projects=projects,
            gateway=gateway,
            reports=Reports(database, gateway.recorder),
            passthrough=passthrough,
            catalog=ModelCatalog(models, passthrough),
            body_redactor=BodyRedactor(secrets_of(settings, models)),
            sandbox=sandbox,
            blobs=parts.blobs,
            retrieval=parts.retrieval,
            ingestion=parts.ingestion,
            file_search=parts.file_search,
            files=parts.files,
            vector_stores=parts.vector_stores,
            store_files=StoreFileService(
                database, parts.retrieval, parts.ingestion, parts.removals
            ),
            file_batches=FileBatchService(database, parts.ingestion),
            idempotency=parts.idempotency,
            sweeper=Sweeper(
                parts.files,
                parts.vector_stores,
                parts.removals,
                parts.blobs,
                parts.idempotency,
                interval_seconds=settings.sweep_interval_seconds,
            ),
            storage_meter=StorageMeter(database, gateway.charge, gateway.prices.billable_gb_days),
            tracer=tracer,
            hub=hub,
        )

    async def start(self) -> None:
        """Start the background work; ``close`` stops it in the reverse order, then closes the
        clients and the database. A start that fails stops again what it had started."""
        warm_tokenizer()
        async with AsyncExitStack() as running:
            # Last: it exports the spans the others end; in a thread, as an export that cannot
            # reach its collector is retried for up to its timeout.
            running.push_async_callback(asyncio.to_thread, self.tracer.shutdown)
            running.push_async_callback(self.database.dispose)
            if self.hub is not None:
                # First: admissions ask the hub from the first request on.
                await self.hub.connect()
                running.push_async_callback(self.hub.aclose)
            running.push_async_callback(self.retrieval.aclose)
            running.push_async_callback(self.models.aclose)
            running.push_async_callback(self.sandbox.aclose)
            await self.sandbox.start()
            running.push_async_callback(self.passthrough.aclose)
            # Before the worker and after it: runs record their usage through the gateway.
            self.gateway.start()
            running.push_async_callback(self.gateway.close)
            self.gateway.metrics.track(
                active_runs=self.worker.active_count,
                queue_depth=lambda: self.gateway.recorder.pending,
                dropped=lambda: self.gateway.recorder.dropped,
            )
            self.worker.start()
            running.push_async_callback(self.worker.stop)
            await self.ingestion.start()
            running.push_async_callback(self.ingestion.stop)
            self.sweeper.start()
            running.push_async_callback(self.sweeper.stop)
            self.storage_meter.start()
            running.push_async_callback(self.storage_meter.stop)
            self._running = running.pop_all()

    async def close(self) -> None:
        await self._running.aclose()


def _stop_this_process() -> None:
    """The supervisor is gone: stop as on SIGTERM (runs end or are handed back, streams close)."""
    os.kill(os.getpid(), signal.SIGTERM)
