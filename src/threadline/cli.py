"""``threadline serve | migrate | keys create|list|revoke``."""

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

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


def _with_keys(action: Callable[[Any], Awaitable[int]]) -> int:
    from threadline.gateway.api_keys import KeyService
    from threadline.storage.database import Database
    from threadline.storage.migrate import upgrade_to_head

    settings = _settings()
    upgrade_to_head(settings.resolved_database_url)

    async def run() -> int:
        database = Database(settings.resolved_database_url)
        try:
            return await action(KeyService(database))
        finally:
            await database.dispose()

    return asyncio.run(run())


def _keys_create(args: argparse.Namespace) -> int:
    from threadline.errors import InvalidRequest

    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None

    async def create(keys: Any) -> int:
        try:
            created = await keys.create(
                args.project, name=args.name, rpm=args.rpm, tpm=args.tpm, models=models
            )
        except InvalidRequest as error:
            print(error.message, file=sys.stderr)
            return 2
        print(f"Created key {created.id} for project '{created.project}'. It is shown only once:")
        print(created.secret)
        return 0

    return _with_keys(create)


def _keys_list(args: argparse.Namespace) -> int:
    async def show(keys: Any) -> int:
        rows = await keys.list(args.project)
        print(f"{'id':34} {'project':16} {'name':16} {'hint':18} {'rpm':>6} {'tpm':>8} status")
        for row in rows:
            status = "revoked" if row["revoked_at"] else "active"
            print(
                f"{row['id']:34} {row['project'][:16]:16} {(row['name'] or '')[:16]:16} "
                f"{row['hint']:18} {row['rpm'] or '-':>6} {row['tpm'] or '-':>8} {status}"
            )
        return 0

    return _with_keys(show)


def _keys_revoke(args: argparse.Namespace) -> int:
    from threadline.errors import NotFound

    async def revoke(keys: Any) -> int:
        try:
            await keys.revoke(args.key_id)
        except NotFound:
            print(f"No key with id {args.key_id}", file=sys.stderr)
            return 1
        print(f"Revoked {args.key_id}")
        return 0

    return _with_keys(revoke)


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

    keys = commands.add_parser("keys", help="manage API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="create a key (printed as the last line)")
    create.add_argument("--project", required=True)
    create.add_argument("--name")
    create.add_argument("--rpm", type=int)
    create.add_argument("--tpm", type=int)
    create.add_argument("--models", help="comma-separated model names this key may use")
    create.set_defaults(handler=_keys_create)
    listing = key_commands.add_parser("list", help="list keys (never the secrets)")
    listing.add_argument("--project")
    listing.set_defaults(handler=_keys_list)
    revoke = key_commands.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")
    revoke.set_defaults(handler=_keys_revoke)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
