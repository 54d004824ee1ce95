"""Everything a running server holds: settings, the database, the engine, the services."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from threadline.engine.context import warm_tokenizer
from threadline.engine.event_bus import EventBus
from threadline.engine.execution import EngineContext
from threadline.engine.tools.base import ServerTool
from threadline.engine.worker import Worker
from threadline.gateway.api_keys import KeyService
from threadline.gateway.catalog import ModelCatalog
from threadline.gateway.counters import Counters, MemoryCounters
from threadline.gateway.pricing import Charges, PriceTable, TokenPrice
from threadline.gateway.projects import ProjectService
from threadline.gateway.redaction import BodyRedactor
from threadline.gateway.reports import Reports
from threadline.gateway.service import Gateway
from threadline.providers.llm.base import Usage
from threadline.providers.llm.openai_compatible import UpstreamOptions
from threadline.providers.llm.passthrough import PassthroughClient
from threadline.providers.llm.registry import ModelRegistry
from threadline.providers.sandbox import SandboxConfig, SandboxSessions
from threadline.services.assistants import AssistantService
from threadline.services.messages import MessageService
from threadline.services.run_steps import StepService
from threadline.services.runs import RunService
from threadline.services.threads import ThreadService
from threadline.services.tool_gate import ToolGate
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
    projects: ProjectService
    gateway: Gateway
    reports: Reports
    passthrough: PassthroughClient
    catalog: ModelCatalog
    body_redactor: BodyRedactor
    sandbox: SandboxSessions  # code_interpreter's Python sessions (probed in start())

    @classmethod
    def build(cls, settings: Settings, server_tools: Sequence[ServerTool] = ()) -> "AppState":
        """Everything, from ``settings``; ``server_tools`` adds built-in tools (tests use it to
        plug in tools of their own)."""
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

        async def record_usage(run: dict[str, Any], usage: Usage) -> None:
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

        engine = EngineContext(
            db=database,
            bus=bus,
            route=models.route,
            owner=Worker.new_owner_id(),
            record_usage=record_usage,
            server_tools={tool.type: tool for tool in server_tools},
        )
        passthrough = PassthroughClient()
        worker = Worker(
            engine,
            lease_seconds=settings.run_lease_seconds,
            shutdown_grace_seconds=settings.shutdown_grace_seconds,
        )
        sandbox = SandboxSessions(SandboxConfig.from_settings(settings))
        tools = ToolGate(lambda: None if sandbox.availability.ok else sandbox.availability.reason)
        return cls(
            settings=settings,
            database=database,
            models=models,
            bus=bus,
            worker=worker,
            keys=keys,
            assistants=AssistantService(database, tools),
            threads=ThreadService(database),
            messages=MessageService(database),
            runs=RunService(database, worker, tools, expiry_seconds=settings.run_expiry_seconds),
            steps=StepService(database),
            projects=projects,
            gateway=gateway,
            reports=Reports(database, gateway.recorder),
            passthrough=passthrough,
            catalog=ModelCatalog(models, passthrough),
            body_redactor=BodyRedactor(_secrets(settings, models)),
            sandbox=sandbox,
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

    async def close(self) -> None:
        await self.worker.stop()
        await self.gateway.close()
        await self.passthrough.aclose()
        await self.sandbox.aclose()
        await self.models.aclose()
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
    found = [s.get_secret_value() for s in (settings.master_key, settings.upstream_api_key) if s]
    found += models.api_keys()
    return found
