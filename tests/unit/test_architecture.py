"""The layer rules (docs/architecture.md), checked on the source: which package may import what.

HTTP frameworks stay in ``api/`` (plus the composition root and the CLI that starts uvicorn),
SQLAlchemy and the database drivers stay in ``storage/``, the SDK's types stay in ``schemas/`` (and
the vendor clients in ``providers/``), no lower layer reaches up into a higher one, and no module
imports itself through others (a cycle, lazy imports inside functions included)."""

import ast
from collections.abc import Iterator
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
    # ``threadline ingest`` is a client of the server's public API, through the official SDK.
    "openai": ("schemas/", "providers/", "cli/ingest.py"),
    "aiohttp": ("providers/",),
    "httpx": ("providers/",),
    "redis": ("gateway/",),
    "prometheus_client": ("gateway/",),
    "jsonschema_rs": ("schemas/",),
    # Imported lazily, only when tracing is on (telemetry/otel.py).
    "opentelemetry": ("telemetry/",),
}

# The composition root: only api/ (which serves it) and the CLI may import it.
ROOT = ("app", "app_state", "app_parts")
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
        *ROOT,
        "cli",
        "errors",
        "settings",
    ),
    # The tracing seam every layer may call; it knows nothing of them.
    "telemetry": (
        "api",
        "services",
        "engine",
        "gateway",
        "storage",
        "schemas",
        "providers",
        "records",
        *ROOT,
        "cli",
        "errors",
        "settings",
    ),
    "storage": ("api", "services", "engine", "gateway", *ROOT, "cli"),
    "schemas": ("api", "services", "engine", "gateway", "storage", *ROOT, "cli"),
    "providers": ("api", "services", "engine", "gateway", *ROOT, "cli"),
    "gateway": ("api", "services", "engine", *ROOT, "cli"),
    # The run path flows one way, api -> services -> engine -> storage: the services hand runs
    # to the engine through engine.scheduling, and nothing below calls back up.
    "engine": ("api", "services", *ROOT, "cli"),
    "services": ("api", *ROOT, "cli"),
    "api": ("cli",),
}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def _imports(path: Path) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement of a module, wherever it is (inside functions too), except under
    ``if TYPE_CHECKING:``, which is never run."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in skipped:
            yield node


def _imported_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in _imports(path):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif node.module and node.level == 0:
            names.add(node.module)
    return names


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Module -> the threadline modules it imports (``from a import b`` counts as importing
    ``a.b`` when that is a module, else ``a``; relative imports resolved)."""
    modules = {_module_name(path): path for path in _modules()}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        targets: set[str] = set()
        for node in _imports(path):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
                continue
            base = node.module or ""
            if node.level:
                kept = package[: len(package) - node.level + 1]
                base = ".".join([*kept, base] if base else kept)
            for alias in node.names:
                child = f"{base}.{alias.name}"
                targets.add(child if child in modules else base)
        graph[name] = {target for target in targets if target in modules and target != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


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


def test_no_module_imports_itself_through_others() -> None:
    assert _cycles(_import_graph()) == []


def test_the_cycle_check_sees_lazy_imports_and_skips_type_checking(tmp_path: Path) -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    module = tmp_path / "m.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import hidden\n"
        "def f():\n    import lazy\n"
    )
    assert {n.names[0].name for n in _imports(module)} == {"TYPE_CHECKING", "lazy"}
