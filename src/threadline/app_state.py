"""Everything a running server holds: settings, the database, the engine, the services."""

from dataclasses import dataclass

from threadline.engine.context import warm_tokenizer
from threadline.engine.event_bus import EventBus
from threadline.engine.execution import EngineContext
from threadline.engine.ingestion import Ingestion
from threadline.engine.retrieval.base import Retrieval
from threadline.engine.retrieval.simple import SimpleRetrieval
from threadline.engine.worker import Worker
from threadline.gateway.api_keys import KeyService
from threadline.providers.blobs.base import BlobStore
from threadline.providers.blobs.local import LocalBlobStore
from threadline.providers.llm.openai_compatible import UpstreamOptions
from threadline.providers.llm.registry import ModelRegistry
from threadline.services.assistants import AssistantService
from threadline.services.file_batches import FileBatchService
from threadline.services.file_search import FileSearch
from threadline.services.files import FileService
from threadline.services.messages import MessageService
from threadline.services.removals import Removals
from threadline.services.run_steps import StepService
from threadline.services.runs import RunService
from threadline.services.sweeper import Sweeper
from threadline.services.threads import ThreadService
from threadline.services.vector_store_files import StoreFileService
from threadline.services.vector_stores import VectorStoreService
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
    blobs: BlobStore
    retrieval: Retrieval
    ingestion: Ingestion
    file_search: FileSearch
    files: FileService
    vector_stores: VectorStoreService
    store_files: StoreFileService
    file_batches: FileBatchService
    sweeper: Sweeper

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
        blobs = LocalBlobStore(settings.data_dir / "files")
        # The retrieval machinery behind the seam (parsing, chunking, embeddings, the index).
        retrieval: Retrieval = SimpleRetrieval(settings.data_dir / "simple-index")
        ingestion = Ingestion(
            database,
            retrieval,
            blobs,
            owner=engine.owner,
            concurrency=settings.ingestion_concurrency,
            lease_seconds=settings.ingestion_lease_seconds,
            release_leases_at_start=settings.is_sqlite,
        )
        removals = Removals(database, retrieval, blobs)
        file_search = FileSearch(database, retrieval)
        files = FileService(database, blobs, removals)
        vector_stores = VectorStoreService(database, ingestion, removals, file_search)
        return cls(
            settings=settings,
            database=database,
            models=models,
            bus=bus,
            worker=worker,
            keys=KeyService(database, cache_seconds=settings.key_cache_seconds),
            assistants=AssistantService(database, ingestion),
            threads=ThreadService(database, ingestion),
            messages=MessageService(database, ingestion),
            runs=RunService(
                database, worker, expiry_seconds=settings.run_expiry_seconds, ingestion=ingestion
            ),
            steps=StepService(database),
            blobs=blobs,
            retrieval=retrieval,
            ingestion=ingestion,
            file_search=file_search,
            files=files,
            vector_stores=vector_stores,
            store_files=StoreFileService(database, retrieval, ingestion, removals),
            file_batches=FileBatchService(database, ingestion),
            sweeper=Sweeper(
                files,
                vector_stores,
                removals,
                blobs,
                interval_seconds=settings.sweep_interval_seconds,
            ),
        )

    async def start(self) -> None:
        warm_tokenizer()
        self.worker.start()
        await self.ingestion.start()
        self.sweeper.start()

    async def close(self) -> None:
        await self.sweeper.stop()
        await self.ingestion.stop()
        await self.worker.stop()
        await self.models.aclose()
        await self.database.dispose()
