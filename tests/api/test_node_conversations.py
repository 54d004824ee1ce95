"""The official Node SDK's ``conversations.items.list`` (auto-pagination with ``after``, both
orders) against Threadline, run by ``tests/node/conversations.mjs`` in a ``node`` process;
skipped only when ``node`` is missing."""

from openai import OpenAI

from tests.node_scripts import needs_node, run_script

pytestmark = needs_node


def test_node_lists_conversation_items_page_by_page(client: OpenAI, server_url: str, api_key: str):
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "from a thread"}])
    client.conversations.items.create(
        thread.id,
        items=[
            {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "ok"},
            {"type": "message", "role": "assistant", "content": "done"},
            {"type": "message", "role": "developer", "content": "note"},
        ],
    )
    expected = [item.id for item in client.conversations.items.list(thread.id, order="asc")]

    run = run_script(
        "conversations.mjs",
        {
            "BASE_URL": f"{server_url}/v1",
            "API_KEY": api_key,
            "CONVERSATION_ID": thread.id,
        },
    )
    report = run.report
    assert run.ok, report

    assert [item["id"] for item in report["ascending"]] == expected
    assert [(item["type"], item["role"]) for item in report["ascending"]] == [
        ("message", "user"),
        ("function_call", None),
        ("function_call_output", None),
        ("message", "assistant"),
        ("message", "developer"),
    ]
    assert report["newest"] == expected[::-1][:2]
    assert report["has_more"] is True
    lists = [r for r in report["requests"] if r["path"].endswith("/items")]
    # Three pages of two, the later ones asked for after the previous page's last id.
    assert [r["status"] for r in lists] == [200] * 4
    assert f"after={expected[1]}" in lists[1]["query"]
    assert f"after={expected[3]}" in lists[2]["query"]
