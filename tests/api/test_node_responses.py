"""The official Node SDK's ``responses.stream`` (text deltas, the event order, the final
response) and a ``previous_response_id`` continuation against Threadline, run by
``tests/node/responses.mjs`` in a ``node`` process; skipped only when ``node`` is missing."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.upstream import Text

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed (Node SDK tests)")


def test_node_streams_a_response_and_continues_it(server_url: str, api_key: str, upstream):
    assert (NODE_DIR / "node_modules" / "openai" / "package.json").exists(), (
        "the Node SDK is not installed: run `make install` (npm ci --prefix tests/node)"
    )
    upstream.script(Text(["Hel", "lo", "!"]), Text(["Then", " more."]))
    done = subprocess.run(
        [NODE, str(NODE_DIR / "responses.mjs")],
        cwd=NODE_DIR,
        env={**os.environ, "BASE_URL": f"{server_url}/v1", "API_KEY": api_key, "MODEL": "gpt-test"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    assert lines, f"node printed nothing (exit {done.returncode}); stderr:\n{done.stderr}"
    report = json.loads(lines[-1])
    assert done.returncode == 0 and report["ok"], report

    assert report["deltas"] == ["Hel", "lo", "!"]
    assert report["types"] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = report["final"]
    assert (final["status"], final["output_text"], final["total_tokens"]) == (
        "completed",
        "Hello!",
        15,
    )
    assert final["id"].startswith("resp_")
    assert report["next"] == {
        "status": "completed",
        "output_text": "Then more.",
        "previous_response_id": final["id"],
    }
    # The continuation carried the first turn to the model.
    sent = upstream.requests[-1]["messages"]
    assert [m["content"] for m in sent] == ["Hi", "Hello!", "And then?"]
