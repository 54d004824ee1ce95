"""Anthropic's official Node SDK (``@anthropic-ai/sdk``) against ``/v1/messages``: create, a
streamed answer with a tool call (``messages.stream``: the event order, ``text`` and
``inputJson`` events, ``finalMessage()``) and ``countTokens``, run by ``tests/node/messages.mjs``
in a ``node`` process; skipped only when ``node`` is missing. SQLite only: the database plays no
part in the Messages API."""

import json

import pytest

from tests.node_scripts import needs_node, run_script
from tests.upstream import Text, ToolCalls

pytestmark = [
    needs_node,
    pytest.mark.parametrize("backend", ["sqlite"], indirect=True),
]


def test_node_creates_streams_and_counts(server_url: str, api_key: str, upstream):
    upstream.script(
        Text(["Bon", "jour."], usage=(11, 2)),
        ToolCalls([("get_weather", '{"city": "Paris"}')], text=["Checking."], usage=(20, 6)),
    )
    run = run_script(
        "messages.mjs",
        {"BASE_URL": server_url, "API_KEY": api_key, "MODEL": "claude-test"},
        package="@anthropic-ai/sdk",
    )
    report = run.report
    assert run.ok, report

    created = report["created"]
    assert created["id"].startswith("msg_") and created["model"] == "claude-test"
    assert (created["text"], created["stop_reason"]) == ("Bonjour.", "end_turn")
    assert (created["usage"]["input_tokens"], created["usage"]["output_tokens"]) == (11, 2)

    assert report["types"] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert report["texts"] == ["Checking."]
    assert json.loads("".join(partial for partial, _ in report["json"])) == {"city": "Paris"}
    assert report["json"][-1][1] == {"city": "Paris"}  # the SDK's parsed snapshot
    final = report["final"]
    assert final["content"] == [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
    ]
    assert final["stop_reason"] == "tool_use"
    assert (final["usage"]["input_tokens"], final["usage"]["output_tokens"]) == (20, 6)
    assert report["counted"] > 0
    assert [request["model"] for request in upstream.requests] == ["claude-test"] * 2
