"""The layer rules (docs/architecture.md), checked on the source: which package may import what.

HTTP frameworks stay in ``api/`` (plus the composition root and the CLI that starts uvicorn),
SQLAlchemy and the database drivers stay in ``storage/``, the SDK's types stay in ``schemas/`` (and
the vendor clients in ``providers/``), and no lower layer reaches up into a higher one."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "threadline"

# third-party top-level module -> the places (package-relative prefixes) allowed to import it
THIRD_PARTY_HOMES: dict[str, tuple[str, ...]] = {
    "fastapi": ("api/", "app.py"),
    "starlette": ("api/", "app.py"),
    "uvicorn": ("cli/",),
    "sqlalchemy": ("storage/",),
    "alembic": ("storage/",),
    "asyncpg": ("storage/",),
    "aiosqlite": ("storage/",),
    "openai": ("schemas/", "providers/"),
    "aiohttp": ("providers/",),
    "redis": ("gateway/",),
    "prometheus_client": ("gateway/",),
    "jsonschema_rs": ("schemas/",),
}

# layer -> the threadline layers it must never import
FORBIDDEN_LAYERS: dict[str, tuple[str, ...]] = {
    # The typed records every layer shares: they depend on nothing of threadline.
    "records": (
        "api",
        "services",
        "engine",
        "gateway",
        "storage",
        "schemas",
        "providers",
        "app",
        "app_state",
        "cli",
        "errors",
        "settings",
    ),
    "storage": ("api", "services", "engine", "gateway", "app", "app_state", "cli"),
    "schemas": ("api", "services", "engine", "gateway", "storage", "app", "app_state", "cli"),
    "providers": ("api", "services", "engine", "gateway", "app", "app_state", "cli"),
    "gateway": ("api", "services", "engine", "app", "app_state", "cli"),
    # The run path flows one way, api -> services -> engine -> storage: the services hand runs
    # to the engine through engine.scheduling, and nothing below calls back up.
    "engine": ("api", "services", "app", "app_state", "cli"),
    "services": ("api", "app", "app_state", "cli"),
    "api": ("cli",),
}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def _imported_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _relative(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


@pytest.mark.parametrize("path", _modules(), ids=_relative)
def test_third_party_imports_stay_in_their_layer(path: Path) -> None:
    where = _relative(path)
    for name in _imported_names(path):
        top = name.split(".")[0]
        homes = THIRD_PARTY_HOMES.get(top)
        if homes is not None:
            assert where.startswith(homes), f"{where} imports {name}; only {homes} may"


@pytest.mark.parametrize("path", _modules(), ids=_relative)
def test_layers_only_import_downwards(path: Path) -> None:
    where = _relative(path)
    layer = where.split("/")[0].removesuffix(".py")
    forbidden = FORBIDDEN_LAYERS.get(layer, ())
    for name in _imported_names(path):
        parts = name.split(".")
        if parts[0] == "threadline" and len(parts) > 1:
            assert parts[1] not in forbidden, f"{where} ({layer}) imports {name}"
