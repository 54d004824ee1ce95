"""``threadline serve | migrate | keys create|list|revoke|rotate | projects | usage``."""

import argparse
from typing import Any

from threadline.cli.gateway import add_gateway_commands
from threadline.settings import Settings


def _settings() -> Settings:
    return Settings()


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from threadline.app import create_app

    settings = _settings()
    app = create_app(settings)

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: Any = None) -> None:
            # Uvicorn waits for open connections before the app's own shutdown, and a stream
            # stays open as long as its run goes. So the worker stops first: runs finish within
            # the grace period or end as failed, every stream gets its last events and closes.
            state = getattr(app.state, "threadline", None)
            if state is not None:
                await state.worker.stop()
            await super().shutdown(sockets)

    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=settings.log_requests,
        # Client addresses are not taken from X-Forwarded-For: nothing here trusts a proxy yet.
        proxy_headers=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) + 10,
    )
    print(f"Threadline serving http://{args.host}:{args.port}/v1", flush=True)
    Server(config).run()
    return 0


def _migrate(_args: argparse.Namespace) -> int:
    from threadline.storage.database import redacted_url
    from threadline.storage.migrate import upgrade_to_head

    settings = _settings()
    upgrade_to_head(settings.resolved_database_url)
    print(f"Database is at the latest schema: {redacted_url(settings.resolved_database_url)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="threadline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(handler=_serve)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(handler=_migrate)

    add_gateway_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))
