"""``threadline serve | migrate | keys create|list|revoke|rotate | projects | usage | ingest``."""

import argparse
import sys

from threadline.cli.gateway import add_gateway_commands
from threadline.cli.ingest import add_ingest_command
from threadline.settings import Settings


def _settings() -> Settings:
    return Settings()


def _serve(args: argparse.Namespace) -> int:
    from threadline.cli.serving import ThreadlineServer, base_url, listen, server_config
    from threadline.cli.supervisor import default_workers, supervise

    settings = _settings()
    workers = args.workers or default_workers(settings)
    try:
        listener = listen(args.host, args.port, shared_port=workers > 1)
    except OSError as error:
        print(f"threadline: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    url = base_url(args.host, listener.getsockname()[1])
    if workers > 1:
        print(f"Threadline serving {url} with {workers} worker processes", flush=True)
        return supervise(args.host, listener, url, workers, args.log_level)
    from threadline.app import create_app  # not before: a supervisor never loads the app

    app = create_app(settings, base_url=url)
    config = server_config(app, settings, host=args.host, port=args.port, log_level=args.log_level)
    print(f"Threadline serving {url}", flush=True)
    ThreadlineServer(config).run(sockets=[listener])
    return 0


def _migrate(_args: argparse.Namespace) -> int:
    from threadline.storage.database import redacted_url
    from threadline.storage.migrate import upgrade_to_head

    settings = _settings()
    upgrade_to_head(settings.resolved_database_url)
    print(f"Database is at the latest schema: {redacted_url(settings.resolved_database_url)}")
    return 0


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="threadline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log-level", default="info")
    serve.add_argument(
        "--workers",
        type=_positive,
        help="worker processes on the one port (default: THREADLINE_WORKERS, else one a core)",
    )
    serve.set_defaults(handler=_serve)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(handler=_migrate)

    add_gateway_commands(commands)
    add_ingest_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))
