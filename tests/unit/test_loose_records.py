"""Records that cross a layer are typed (docs/architecture.md, "Layers"): a loose
``dict[str, Any]`` stays only at the JSON edges, and never in the signatures of the engine or the
services. Checked on the source, so that a new one is a decision, not a drift."""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "threadline"
LOOSE = "dict[str, Any]"
LOOSE_PATTERN = re.compile(r"dict\[str,\s*Any\]")
# JSON Schema documents (schemas/json_checks.py and neighbours) are arbitrary JSON; everything
# else has a record type. 26 today; the rule (issue 12) allows 60, this keeps the headroom small.
MOST_LOOSE = 30


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_loose_dicts_stay_few() -> None:
    places = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in _sources()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if LOOSE in line
    ]
    assert len(places) <= MOST_LOOSE, "\n".join(places)


def _loose_signatures(path: Path) -> list[str]:
    source = path.read_text()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
        annotations = [a.annotation for a in arguments] + [node.returns]
        for annotation in annotations:
            text = ast.get_source_segment(source, annotation) if annotation else None
            if text and LOOSE_PATTERN.search(text):
                found.append(f"{path.parent.name}/{path.name}:{node.lineno} {node.name}: {text}")
    return found


@pytest.mark.parametrize("layer", ["engine", "services"])
def test_engine_and_services_take_and_return_typed_records(layer: str) -> None:
    found = [
        place
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for place in _loose_signatures(path)
    ]
    assert found == []


def test_the_signature_check_sees_arguments_and_returns(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "def f(a: dict[str, Any], *, b: int) -> None: ...\n"
        "async def g() -> list[dict[str,Any]]: ...\n"
        "def h(a: dict[str, object]) -> None: ...\n"
    )
    assert [place.split(" ")[1] for place in _loose_signatures(module)] == ["f:", "g:"]
