"""The composition root: ``create_app(settings)`` builds everything; nothing is built at import."""

import gc
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import NoReturn

from fastapi import APIRouter, FastAPI, Request
from starlette.routing import Route
from starlette.types import ASGIApp

from threadline import __version__
from threadline.api import (
    admin,
    admin_gateway,
    assistants,
    assistants_passthrough,
    console_api,
    console_pages,
    console_reports,
    console_threads,
    conversations,
    files,
    health,
    messages,
    metrics,
    models,
    response_routes,
    runs,
    threads,
    vector_store_files,
    vector_stores,
)
from threadline.api.anthropic_front.endpoint import MessagesEndpoint
from threadline.api.errors import install_error_handlers, unknown_url
from threadline.api.gateway_middleware import GatewayMiddleware
from threadline.api.gateway_routes import PASSTHROUGH_ONLY, RouteTable
from threadline.api.idempotency import IdempotencyMiddleware
from threadline.api.middleware import RejectNullBytesInUrl, RequestIdMiddleware
from threadline.api.model_passthrough import ModelPassthrough
from threadline.api.tracing import TracingMiddleware
from threadline.app_state import AppState
from threadline.engine.ingestion import release_ingestion_leases
from threadline.engine.tools.base import ServerTool
from threadline.gateway.api_keys import KeyService
from threadline.providers.cluster import WorkerSeat
from threadline.settings import Settings
from threadline.storage.database import Database
from threadline.storage.migrate import upgrade_to_head_async
from threadline.telemetry import Tracer, TracingOptions, build_tracer

logger = logging.getLogger("threadline")


async def _print_first_key(keys: KeyService, settings: Settings, base_url: str | None) -> None:
    """First start with an empty database and no master key: make a key so the server is usable."""
    if settings.master_key is not None or await keys.count() > 0:
        return
    created = await keys.create("default", name="first-run")
    address = f"'{base_url}'" if base_url else "'http://<this server>/v1'"
    console = f"{base_url.removesuffix('/v1')}/console" if base_url else "/console"
    print(
        "\nThreadline created an API key for project 'default' (shown once, stored hashed):\n\n"
        f"    {created.secret}\n\n"
        "Use it with the official SDK:\n"
        f"    client = OpenAI(base_url={address}, api_key='<the key above>')\n"
        f"or sign in with it to the web console: {console}\n",
        flush=True,
    )


async def prepare_shared_start(settings: Settings, base_url: str) -> None:
    """What one process does before several worker processes start on the same database: the
    schema, the first-run key (printed once), and on SQLite the release of ingestion leases an
    earlier server left (each worker would otherwise take the others' live ones for stale)."""
    await upgrade_to_head_async(settings.resolved_database_url)
    database = Database(settings.resolved_database_url)
    try:
        await _print_first_key(KeyService(database), settings, base_url)
        if settings.is_sqlite:
            await release_ingestion_leases(database)
    finally:
        await database.dispose()


def create_app(
    settings: Settings,
    *,
    migrate: bool = True,
    server_tools: Sequence[ServerTool] = (),
    base_url: str | None = None,
    tracer: Tracer | None = None,
    seat: WorkerSeat | None = None,
) -> FastAPI:
    """``base_url``: where the API is served (``http://host:port/v1``), when known, for the
    first-run message. ``tracer``: where spans go (tests pass one exporting to memory); by
    default, the OTLP endpoint of the ``OTEL_*`` settings, or nowhere (docs/tracing.md).
    ``seat``: the app is one of ``serve --workers N``'s processes (its supervisor ran
    ``prepare_shared_start`` first)."""
    if tracer is None:
        tracer = build_tracer(_tracing_options(settings), version=__version__)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            await upgrade_to_head_async(settings.resolved_database_url)
        state = AppState.build(settings, server_tools, tracer, seat)
        app.state.threadline = state
        metrics.answer_gathers(state)
        await _print_first_key(state.keys, settings, base_url)
        await state.start()
        # Everything built so far lives as long as the process: keep the collector from
        # re-scanning it on every full collection, and collect the young generation less often
        # (a request allocates thousands of short-lived objects): docs/benchmarks.md#design-choices.
        gc.freeze()
        gc.set_threshold(10_000, 20, 50)
        try:
            yield
        finally:
            await state.close()

    app = FastAPI(
        title="Threadline",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    install_error_handlers(app)
    # The model pass-through endpoints are raw ASGI apps, served by the gateway middleware
    # directly (the framework's layers cost more than the rest of such a request); their routes
    # are registered too, so that they are listed and matched like every other.
    passthrough: dict[str, ASGIApp] = {
        f"/v1{path}": ModelPassthrough(path) for path in ("/chat/completions", "/embeddings")
    }
    # Anthropic's Messages API, served the same way.
    passthrough["/v1/messages"] = MessagesEndpoint(counting=False)
    passthrough["/v1/messages/count_tokens"] = MessagesEndpoint(counting=True)
    for path, endpoint in passthrough.items():
        app.router.routes.append(Route(path, endpoint, methods=["POST"]))
    _include_routers(app)
    # Added last = outermost: every response, even a rejected URL, carries a request id.
    # Idempotency sits inside the gateway: it needs the authenticated project.
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(
        GatewayMiddleware,
        routes=RouteTable(app.router.routes),
        fast_routes=passthrough,
        forward_assistants=assistants_passthrough.forward,
    )
    if tracer.enabled:  # off: not even a layer that would pass requests on
        app.add_middleware(TracingMiddleware, tracer=tracer)
    app.add_middleware(RejectNullBytesInUrl)
    app.add_middleware(RequestIdMiddleware)
    return app


def _tracing_options(settings: Settings) -> TracingOptions:
    return TracingOptions(
        endpoint=settings.otel_endpoint,
        sdk_disabled=settings.otel_sdk_disabled,
        capture_content=settings.otel_capture_content,
    )


def _include_routers(app: FastAPI) -> None:
    v1 = APIRouter(prefix="/v1")
    # runs first: its POST /threads/runs must win over threads' POST /threads/{thread_id}.
    # FastAPI tries routes in order, twice a request: the busiest paths come early.
    routers = (
        runs,
        response_routes,
        messages,
        threads,
        conversations,
        assistants,
        models,
        files,
        vector_stores,
        vector_store_files,
    )
    for module in routers:
        v1.include_router(module.router)
    app.include_router(v1)
    app.include_router(admin.router)
    app.include_router(admin_gateway.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(console_api.router)
    app.include_router(console_threads.router)
    app.include_router(console_reports.router)
    app.router.routes.append(console_pages.assets_mount())
    app.include_router(console_pages.router)
    for path in PASSTHROUGH_ONLY:
        app.router.routes.append(Route(path, _not_served, methods=_EVERY_METHOD))


_EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def _not_served(request: Request) -> NoReturn:
    """The parts of the Assistants APIs only pass-through projects reach (forwarded by the
    gateway): anyone else gets the usual 404."""
    raise unknown_url(request.method, request.url.path)
