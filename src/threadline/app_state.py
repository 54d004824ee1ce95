"""Everything a running server holds: settings, the database, the engine, the services."""

from dataclasses import dataclass

from threadline.engine.context import warm_tokenizer
from threadline.engine.event_bus import EventBus
from threadline.engine.execution import EngineContext
from threadline.engine.retrieval.factory import build_retrieval
from threadline.engine.retrieval.hybrid import HybridRetrieval
from threadline.engine.worker import Worker
from threadline.gateway.api_keys import KeyService
from threadline.providers.llm.openai_compatible import UpstreamOptions
from threadline.providers.llm.registry import ModelRegistry
from threadline.services.assistants import AssistantService
from threadline.services.messages import MessageService
from threadline.services.run_steps import StepService
from threadline.services.runs import RunService
from threadline.services.threads import ThreadService
from threadline.settings import Settings
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
    retrieval: HybridRetrieval

    @classmethod
    def build(cls, settings: Settings) -> "AppState":
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
        engine = EngineContext(
            db=database, bus=bus, route=models.route, owner=Worker.new_owner_id()
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
            keys=KeyService(database, cache_seconds=settings.key_cache_seconds),
            assistants=AssistantService(database),
            threads=ThreadService(database),
            messages=MessageService(database),
            runs=RunService(database, worker, expiry_seconds=settings.run_expiry_seconds),
            steps=StepService(database),
            retrieval=build_retrieval(settings, database),
        )

    async def start(self) -> None:
        warm_tokenizer()
        self.worker.start()

    async def close(self) -> None:
        await self.worker.stop()
        await self.models.aclose()
        await self.retrieval.aclose()
        await self.database.dispose()
