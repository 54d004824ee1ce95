"""The official Node SDKs' scripts in ``tests/node``, run by the ``tests/api/test_node_*.py``
suites: each script prints a JSON report as its last line."""

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

NODE_DIR = Path(__file__).resolve().parent / "node"
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed (Node SDK tests)")


@dataclass
class NodeRun:
    returncode: int
    report: dict[str, Any]
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and bool(self.report.get("ok"))


def run_script(script: str, env: Mapping[str, str], *args: str, package: str = "openai") -> NodeRun:
    """Runs ``tests/node/<script>`` with ``env`` added to this process's environment."""
    assert NODE is not None
    assert (NODE_DIR / "node_modules" / package / "package.json").exists(), (
        f"the Node SDK {package} is not installed: run `make install` (npm ci --prefix tests/node)"
    )
    done = subprocess.run(
        [NODE, str(NODE_DIR / script), *args],
        cwd=NODE_DIR,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    assert lines, f"node printed nothing (exit {done.returncode}); stderr:\n{done.stderr}"
    return NodeRun(done.returncode, json.loads(lines[-1]), done.stderr)
