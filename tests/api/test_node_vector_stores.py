"""The official Node SDK's vector-store helpers (``files.uploadAndPoll``,
``fileBatches.uploadAndPoll``), which poll ``status`` where the Python SDK polls counts, run by
``tests/node/vector_stores.mjs`` in a ``node`` process; skipped only when ``node`` is missing."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed (Node SDK tests)")


def test_node_upload_and_poll_helpers(server_url: str, api_key: str):
    assert (NODE_DIR / "node_modules" / "openai" / "package.json").exists(), (
        "the Node SDK is not installed: run `make install` (npm ci --prefix tests/node)"
    )
    done = subprocess.run(
        [NODE, str(NODE_DIR / "vector_stores.mjs")],
        cwd=NODE_DIR,
        env={**os.environ, "BASE_URL": f"{server_url}/v1", "API_KEY": api_key},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    assert lines, f"node printed nothing (exit {done.returncode}); stderr:\n{done.stderr}"
    report = json.loads(lines[-1])
    assert done.returncode == 0 and report["ok"], report

    assert report["file"]["status"] == "completed"
    assert report["file"]["id"].startswith("file-")
    assert report["batch"]["status"] == "completed"
    assert report["batch"]["file_counts"] == {
        "in_progress": 0,
        "completed": 1,
        "failed": 1,
        "cancelled": 0,
        "total": 2,
    }
    assert report["store"]["file_counts"]["total"] == 3
    assert report["search"][0]["filename"] == "capybara.md"
    # A poll that found the file still in progress was told when to look again.
    polls = [r for r in report["requests"] if r["method"] == "GET" and "/files/" in r["path"]]
    assert all(r["status"] == 200 for r in polls)
