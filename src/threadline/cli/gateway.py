"""The gateway's admin commands: ``threadline keys create|list|revoke|rotate``, ``projects set``
and ``usage``. Each opens the database (migrated first), does one thing, prints, exits."""

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from threadline.records.gateway import ProjectColumns
from threadline.settings import Settings


def _with_database(action: Callable[[Any], Awaitable[int]]) -> int:
    from threadline.storage.database import Database
    from threadline.storage.migrate import upgrade_to_head

    settings = Settings()
    upgrade_to_head(settings.resolved_database_url)

    async def run() -> int:
        database = Database(settings.resolved_database_url)
        try:
            return await action(database)
        finally:
            await database.dispose()

    return asyncio.run(run())


def _with_keys(action: Callable[[Any], Awaitable[int]]) -> int:
    from threadline.gateway.api_keys import KeyService

    return _with_database(lambda database: action(KeyService(database)))


def _split(value: str | None) -> list[str] | None:
    return [part.strip() for part in value.split(",") if part.strip()] if value else None


def _allowlist(value: str | None, option: str) -> list[str] | None:
    """A comma-separated allowlist option: absent is None (no restriction); given, it must name
    something (``''`` or ``,`` would otherwise read as "no restriction")."""
    if value is None:
        return None
    names = [part.strip() for part in value.split(",") if part.strip()]
    if not names:
        raise ValueError(
            f"{option} names nothing; give at least one, or leave {option} out for no restriction"
        )
    return names


def _key_options(args: argparse.Namespace) -> Any:
    from threadline.gateway.api_keys import KeyOptions
    from threadline.gateway.pricing import usd_to_nanos

    metadata = dict(item.split("=", 1) for item in args.metadata or [])
    expires_at = args.expires_at
    if args.expires_in_days is not None:
        expires_at = int(time.time() + args.expires_in_days * 86_400)
    return KeyOptions(
        name=args.name,
        rpm=args.rpm,
        tpm=args.tpm,
        models=_allowlist(args.models, "--models"),
        max_parallel=args.max_parallel,
        budget_nanos=usd_to_nanos(args.budget_usd) if args.budget_usd is not None else None,
        budget_period=args.budget_period,
        expires_at=expires_at,
        ip_allowlist=_allowlist(args.ips, "--ips"),
        metadata=metadata or None,
        cache_ttl=args.cache_ttl,
    )


def _keys_create(args: argparse.Namespace) -> int:
    from threadline.errors import InvalidRequest

    try:
        options = _key_options(args)
    except ValueError as error:
        print(f"Invalid option: {error}", file=sys.stderr)
        return 2

    async def create(keys: Any) -> int:
        try:
            created = await keys.create(args.project, options=options)
        except InvalidRequest as error:
            print(error.message, file=sys.stderr)
            return 2
        print(f"Created key {created.id} for project '{created.project}'. It is shown only once:")
        print(created.secret)
        return 0

    return _with_keys(create)


def _keys_rotate(args: argparse.Namespace) -> int:
    from threadline.errors import NotFound

    async def rotate(keys: Any) -> int:
        try:
            created = await keys.rotate(args.key_id)
        except NotFound:
            print(f"No live key with id {args.key_id}", file=sys.stderr)
            return 1
        print(f"Rotated {created.id}: the old secret no longer works. The new one, shown once:")
        print(created.secret)
        return 0

    return _with_keys(rotate)


def _keys_list(args: argparse.Namespace) -> int:
    async def show(keys: Any) -> int:
        rows = await keys.list(args.project)
        print(
            f"{'id':34} {'project':16} {'name':16} {'hint':18} {'rpm':>6} {'tpm':>8} "
            f"{'budget':>10} status"
        )
        now = time.time()
        for row in rows:
            status = "revoked" if row["revoked_at"] else "active"
            if status == "active" and row["expires_at"] and row["expires_at"] <= now:
                status = "expired"
            budget = f"${row['budget_usd']}/{row['budget_period']}" if row["budget_usd"] else "-"
            print(
                f"{row['id']:34} {row['project'][:16]:16} {(row['name'] or '')[:16]:16} "
                f"{row['hint']:18} {row['rpm'] or '-':>6} {row['tpm'] or '-':>8} "
                f"{budget:>10} {status}"
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


def _project_changes(args: argparse.Namespace) -> ProjectColumns:
    from threadline.gateway.pricing import usd_to_nanos

    changes: ProjectColumns = {}
    if args.rpm is not None:
        changes["rpm"] = args.rpm
    if args.tpm is not None:
        changes["tpm"] = args.tpm
    if args.max_parallel is not None:
        changes["max_parallel"] = args.max_parallel
    if args.budget_period is not None:
        changes["budget_period"] = args.budget_period
    if args.models is not None:
        changes["models"] = _allowlist(args.models, "--models")
    elif args.any_model:
        changes["models"] = None
    if args.budget_usd is not None:
        changes["budget_nanos"] = usd_to_nanos(args.budget_usd)
    if args.assistants_passthrough is not None:
        changes["assistants_passthrough"] = args.assistants_passthrough or None
    if args.cache_ttl is not None:
        changes["cache_ttl"] = args.cache_ttl or None
    return changes


def _projects_set(args: argparse.Namespace) -> int:
    from threadline.errors import InvalidRequest
    from threadline.gateway.api_keys import KeyService
    from threadline.gateway.projects import ProjectService, ProjectSettings
    from threadline.providers.llm.config import load_config

    try:
        changes = _project_changes(args)
    except ValueError as error:
        print(f"Invalid option: {error}", file=sys.stderr)
        return 2
    config = Settings().config
    providers = set(load_config(config).providers) if config else set()

    async def update(database: Any) -> int:
        service = ProjectService(database, KeyService(database), providers)
        try:
            view = await service.update(args.project, ProjectSettings(**changes))
        except InvalidRequest as error:
            print(error.message, file=sys.stderr)
            return 2
        for name, value in view.items():
            print(f"{name:24} {value}")
        return 0

    return _with_database(update)


def _usage(args: argparse.Namespace) -> int:
    from threadline.errors import APIError
    from threadline.gateway.recorder import Recorder
    from threadline.gateway.reports import Reports, UsageQuery

    query = UsageQuery(
        project=args.project,
        key=args.key,
        model=args.model,
        since=args.since,
        until=args.until,
        group_by=tuple(_split(args.by) or ()),
    )

    async def report(database: Any) -> int:
        try:
            result = await Reports(database, Recorder(database)).usage(query)
        except APIError as error:
            print(error.message, file=sys.stderr)
            return 2
        columns = [
            c
            for c in ("project", "key_id", "model", "day", "meter")
            if c in (result["data"][0] if result["data"] else {})
        ]
        print(
            " ".join(f"{c:20}" for c in columns),
            f"{'requests':>9} {'input':>10} {'output':>10} {'cost_usd':>14}",
        )
        for row in result["data"]:
            print(
                " ".join(f"{str(row[c] or '-')[:20]:20}" for c in columns),
                f"{row['requests']:>9} {row['input_tokens']:>10} {row['output_tokens']:>10} "
                f"{row['cost_usd']:>14}",
            )
        print(
            f"total: {result['requests']} requests, {result['input_tokens']} input and "
            f"{result['output_tokens']} output tokens, ${result['cost_usd']}"
        )
        return 0

    return _with_database(report)


def _add_key_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name")
    parser.add_argument("--rpm", type=int, help="requests per minute")
    parser.add_argument("--tpm", type=int, help="tokens per minute")
    parser.add_argument("--models", help="comma-separated model names this key may use")
    parser.add_argument("--max-parallel", type=int, help="requests in flight at once")
    parser.add_argument("--budget-usd", help="spending limit in US dollars per period")
    parser.add_argument("--budget-period", choices=("day", "month"))
    parser.add_argument("--expires-at", type=int, help="Unix time when the key stops working")
    parser.add_argument("--expires-in-days", type=float)
    parser.add_argument("--ips", help="comma-separated CIDRs the key may be used from")
    parser.add_argument("--metadata", action="append", metavar="KEY=VALUE")
    parser.add_argument(
        "--cache-ttl",
        type=int,
        metavar="SECONDS",
        help="keep this key's model answers in the response cache this long (0: never, "
        "whatever its project says; default: the project's setting)",
    )


def add_gateway_commands(commands: Any) -> None:
    """Adds ``keys``, ``projects`` and ``usage`` to the ``threadline`` command's subparsers."""
    keys = commands.add_parser("keys", help="manage API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="create a key (printed as the last line)")
    create.add_argument("--project", required=True)
    _add_key_options(create)
    create.set_defaults(handler=_keys_create)
    listing = key_commands.add_parser("list", help="list keys (never the secrets)")
    listing.add_argument("--project")
    listing.set_defaults(handler=_keys_list)
    revoke = key_commands.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")
    revoke.set_defaults(handler=_keys_revoke)
    rotate = key_commands.add_parser("rotate", help="new secret for a key (printed last)")
    rotate.add_argument("key_id")
    rotate.set_defaults(handler=_keys_rotate)

    projects = commands.add_parser("projects", help="project-wide limits and budgets")
    project_commands = projects.add_subparsers(dest="projects_command", required=True)
    settings = project_commands.add_parser("set", help="set a project's limits (creates it)")
    settings.add_argument("project")
    settings.add_argument("--rpm", type=int)
    settings.add_argument("--tpm", type=int)
    settings.add_argument("--max-parallel", type=int)
    settings.add_argument("--budget-usd")
    settings.add_argument("--budget-period", choices=("day", "month"))
    allowed = settings.add_mutually_exclusive_group()
    allowed.add_argument("--models", help="comma-separated model names the project may use")
    allowed.add_argument(
        "--any-model", action="store_true", help="lift the project's model restriction"
    )
    settings.add_argument(
        "--assistants-passthrough",
        metavar="PROVIDER",
        help="serve the project's Assistants API from this THREADLINE_CONFIG provider "
        "('' turns it off)",
    )
    settings.add_argument(
        "--cache-ttl",
        type=int,
        metavar="SECONDS",
        help="keep the project's model answers in the response cache this long (0 turns it off)",
    )
    settings.set_defaults(handler=_projects_set)

    usage = commands.add_parser("usage", help="tokens and cost by project, key, model, day")
    usage.add_argument("--project")
    usage.add_argument("--key")
    usage.add_argument("--model")
    usage.add_argument("--since", help="first day, YYYY-MM-DD")
    usage.add_argument("--until", help="last day, YYYY-MM-DD")
    usage.add_argument("--by", default="project,key,model,day", help="grouping columns")
    usage.set_defaults(handler=_usage)
