"""The official Node SDK's (npm ``openai``) Assistants helpers against Threadline: ``runs.stream``
(``textDelta``, ``finalRun()``, ``finalMessages()``), ``runs.createAndPoll``,
``runs.submitToolOutputsStream`` and ``threads.createAndRunStream``.

Each test sets the scene with the Python SDK, scripts the upstream model, and runs one scenario of
``tests/node/runs.mjs`` in a ``node`` process, which prints what the helpers observed as one JSON
line. ``make install`` installs the pinned SDK into ``tests/node/node_modules``; the tests skip
only when ``node`` itself is missing."""

import json
from typing import Any

import pytest

from tests.node_scripts import needs_node, run_script
from tests.upstream import Text, ToolCalls

pytestmark = needs_node

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": f"{name} (a test function)",
            "parameters": {"type": "object", "properties": {key: {"type": "string"}}},
        },
    }
    for name, key in (("get_weather", "city"), ("get_time", "zone"))
]

# Event names as the SDK's 'event' listener sees them (no `done`); a run of deltas is one "+" entry.
RUN_START = ["thread.run.created", "thread.run.queued", "thread.run.in_progress"]
MESSAGE_STEP = [
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.message.created",
    "thread.message.in_progress",
    "thread.message.delta+",
    "thread.message.completed",
    "thread.run.step.completed",
]
TEXT_RUN = [*RUN_START, *MESSAGE_STEP, "thread.run.completed"]
TOOL_CALLS_RUN = [
    *RUN_START,
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.run.step.delta+",
    "thread.run.requires_action",
]
AFTER_OUTPUTS = [
    "thread.run.step.completed",
    "thread.run.queued",
    "thread.run.in_progress",
    *MESSAGE_STEP,
    "thread.run.completed",
]


def collapsed(events: list[str]) -> list[str]:
    """The event names with each run of consecutive deltas collapsed into one "<name>+"."""
    out: list[str] = []
    for name in events:
        if name.endswith(".delta"):
            name += "+"
            if out and out[-1] == name:
                continue
        out.append(name)
    return out


def run_node(scenario: str, server_url: str, api_key: str, **env: str) -> dict[str, Any]:
    """Run one scenario; return its JSON report, failing with the Node error if it raised."""
    environment = {"BASE_URL": f"{server_url}/v1", "API_KEY": api_key, "WATCHDOG_MS": "30000"}
    run = run_script("runs.mjs", {**environment, **env}, scenario)
    report = run.report
    assert run.ok, (
        f"Node SDK {scenario} failed (exit {run.returncode}): {report.get('error')}\n"
        f"{report.get('stack')}\nevents: {[s['events'] for s in report['streams']]}\n"
        f"requests: {report['requests']}\nstderr: {run.stderr}"
    )
    return report


@pytest.fixture
def assistant_id(client) -> str:
    return client.beta.assistants.create(model="gpt-test", instructions="Be brief.", tools=TOOLS).id


@pytest.fixture
def thread_id(client) -> str:
    return client.beta.threads.create(
        messages=[{"role": "user", "content": "What's the weather in Paris?"}]
    ).id


def assert_one_message(stream: dict[str, Any]) -> None:
    """Every thread.message.* event of the stream is about one message, the one it completed."""
    ids = {i for n, i in zip(stream["events"], stream["ids"], strict=True) if "message." in n}
    assert ids == {stream["messages_done"][0]["id"]}, ids


def assert_text_stream(
    stream: dict[str, Any], chunks: list[str], run_id: str | None = None
) -> None:
    text = "".join(chunks)
    assert stream["text"] == text
    assert stream["text_done"] == [text]
    assert [m["text"] for m in stream["messages_done"]] == [text]
    assert [m["text"] for m in stream["final_messages"]] == [text]
    assert stream["final_messages"][0]["role"] == "assistant"
    assert stream["final_run"]["status"] == "completed"
    assert stream["final_run"]["object"] == "thread.run"
    assert stream["final_run"]["required_action"] is None
    if run_id is not None:
        assert stream["final_run"]["id"] == run_id
    assert_one_message(stream)


def test_runs_stream_text(server_url, api_key, upstream, client, assistant_id, thread_id):
    chunks = ["It is ", "sunny", " in Paris", "."]
    upstream.script(Text(chunks))

    report = run_node(
        "stream-text", server_url, api_key, ASSISTANT_ID=assistant_id, THREAD_ID=thread_id
    )

    [stream] = report["streams"]
    assert collapsed(stream["events"]) == TEXT_RUN
    assert_text_stream(stream, chunks)
    assert [s["type"] for s in stream["final_run_steps"]] == ["message_creation"]
    assert stream["final_run_steps"][0]["status"] == "completed"
    [request] = report["requests"]
    assert request["method"] == "POST"
    assert request["path"] == f"/v1/threads/{thread_id}/runs"
    assert request["content_type"].startswith("text/event-stream")
    # What the SDK saw is what the server kept.
    run = client.beta.threads.runs.retrieve(stream["final_run"]["id"], thread_id=thread_id)
    assert run.status == "completed"
    messages = list(client.beta.threads.messages.list(thread_id, order="asc"))
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[1].id == stream["final_messages"][0]["id"]
    assert messages[1].content[0].text.value == "".join(chunks)


def test_runs_create_and_poll(server_url, api_key, upstream, assistant_id, thread_id):
    chunks = ["Cloudy", ", 14 degrees."]
    upstream.script(Text(chunks))

    report = run_node(
        "create-and-poll", server_url, api_key, ASSISTANT_ID=assistant_id, THREAD_ID=thread_id
    )

    assert report["final_run"]["status"] == "completed"
    assert [r["status"] for r in report["polled"]] == ["completed"]
    assert [(m["role"], m["text"]) for m in report["messages"]] == [
        ("user", "What's the weather in Paris?"),
        ("assistant", "".join(chunks)),
    ]
    create, *polls, listing = report["requests"]
    assert (create["method"], create["path"], create["status"]) == (
        "POST",
        f"/v1/threads/{thread_id}/runs",
        200,
    )
    assert polls and all(p["method"] == "GET" and p["status"] == 200 for p in polls)
    # Paced by openai-poll-after-ms on every non-terminal answer, not by the SDK's 5 s default.
    assert all(p["poll_after_ms"] for p in polls[:-1]), polls
    assert report["elapsed_ms"] < 4000, polls
    assert listing["path"] == f"/v1/threads/{thread_id}/messages"


def test_runs_create_and_poll_with_tool_outputs(
    server_url, api_key, upstream, assistant_id, thread_id
):
    upstream.script(ToolCalls([("get_weather", '{"city": "Paris"}')]), Text(["Rainy."]))

    report = run_node(
        "create-and-poll", server_url, api_key, ASSISTANT_ID=assistant_id, THREAD_ID=thread_id
    )

    assert [r["status"] for r in report["polled"]] == ["requires_action", "completed"]
    [[output]] = report["submitted"]
    [call] = report["polled"][0]["required_action"]["submit_tool_outputs"]["tool_calls"]
    assert call["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert output["tool_call_id"] == call["id"]
    assert report["messages"][-1]["text"] == "Rainy."
    assert_model_got_outputs(upstream, report["submitted"][0])


def assert_model_got_outputs(upstream, outputs: list[dict[str, str]]) -> None:
    """The second upstream request carries one tool message per submitted output."""
    second = upstream.requests[1]["messages"]
    tool_messages = [(m["tool_call_id"], m["content"]) for m in second if m["role"] == "tool"]
    assert tool_messages == [(o["tool_call_id"], o["output"]) for o in outputs]


def test_runs_stream_tool_round_trip(server_url, api_key, upstream, assistant_id, thread_id):
    calls = [("get_weather", '{"city": "Paris"}'), ("get_time", '{"zone": "Europe/Paris"}')]
    chunks = ["Sunny", " at noon."]
    upstream.script(ToolCalls(calls), Text(chunks))

    report = run_node(
        "tool-round-trip", server_url, api_key, ASSISTANT_ID=assistant_id, THREAD_ID=thread_id
    )

    first, second = report["streams"]
    assert collapsed(first["events"]) == TOOL_CALLS_RUN
    run = first["final_run"]
    assert run["status"] == "requires_action"
    required = run["required_action"]["submit_tool_outputs"]["tool_calls"]
    ids = [call["id"] for call in required]
    assert len(set(ids)) == len(calls)
    assert [(c["function"]["name"], c["function"]["arguments"]) for c in required] == calls
    # The streamed step deltas accumulate to exactly the required calls (ids and names sent once).
    assert first["tool_calls_created"] == ids
    done = {c["id"]: c for c in first["tool_calls_done"]}
    assert sorted(done) == sorted(ids)
    for call_id, (name, arguments) in zip(ids, calls, strict=True):
        assert done[call_id]["type"] == "function"
        assert done[call_id]["function"]["name"] == name
        assert done[call_id]["function"]["arguments"] == arguments
    [outputs] = report["submitted"]
    assert [o["tool_call_id"] for o in outputs] == ids

    assert collapsed(second["events"]) == AFTER_OUTPUTS
    assert_text_stream(second, chunks, run_id=run["id"])
    tool_step = second["run_steps_done"][0]
    assert (tool_step["type"], tool_step["status"]) == ("tool_calls", "completed")
    assert report["requests"][1]["path"].endswith(f"/runs/{run['id']}/submit_tool_outputs")
    assert_model_got_outputs(upstream, outputs)


def test_threads_create_and_run_stream(server_url, api_key, upstream, client, assistant_id):
    chunks = ["Hello", " from", " Threadline."]
    upstream.script(Text(chunks))

    report = run_node(
        "create-and-run-stream",
        server_url,
        api_key,
        ASSISTANT_ID=assistant_id,
        USER_TEXT="Say hello.",
    )

    [stream] = report["streams"]
    assert stream["events"][0] == "thread.created"
    assert collapsed(stream["events"][1:]) == TEXT_RUN
    assert_text_stream(stream, chunks)
    thread_id = report["thread_id"]
    assert thread_id.startswith("thread_")
    assert stream["final_run"]["thread_id"] == thread_id
    assert report["requests"][0]["path"] == "/v1/threads/runs"
    messages = list(client.beta.threads.messages.list(thread_id, order="asc"))
    assert [(m.role, m.content[0].text.value) for m in messages] == [
        ("user", "Say hello."),
        ("assistant", "".join(chunks)),
    ]


def test_built_in_tools_stream_through_the_node_helpers(client, server_url, api_key, upstream):
    """code_interpreter (real sandbox) then file_search (real retrieval) in one streamed run:
    the Node SDK's accumulator takes their step deltas, the citation and file-path annotations
    and the figure part without complaint."""
    document = client.files.create(file=("notes.md", b"The answer is 42."), purpose="assistants")
    store = client.vector_stores.create(file_ids=[document.id])
    while client.vector_stores.retrieve(store.id).file_counts.in_progress:
        pass
    try:
        assistant = client.beta.assistants.create(
            model="gpt-test",
            tools=[{"type": "code_interpreter"}, {"type": "file_search"}],
            tool_resources={"file_search": {"vector_store_ids": [store.id]}},
        )
    except Exception as refused:  # pragma: no cover - a machine without a working sandbox
        pytest.skip(f"code_interpreter unavailable here: {refused}")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Answer?"}])
    code = (
        "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\n"
        "open('/mnt/data/a.txt', 'w').write('42')"
    )
    upstream.script(
        ToolCalls([("code_interpreter", json.dumps({"code": code}))]),
        ToolCalls([("file_search", '{"queries": ["the answer"]}')]),
        Text(["It is 42【0:0†notes.md】, see sandbox:/mnt/data/a.txt"]),
    )
    report = run_node(
        "stream-text", server_url, api_key, THREAD_ID=thread.id, ASSISTANT_ID=assistant.id
    )
    (stream,) = report["streams"]
    assert stream["final_run"]["status"] == "completed"
    # (The SDK keeps its tool-call index across steps, so the second step's call at index 0,
    # as OpenAI numbered them too, arrives as a delta of the first: no second "created".)
    assert stream["tool_calls_done"][0]["code_input"] == code
    steps = [step["type"] for step in stream["final_run_steps"]]
    assert steps == ["tool_calls", "tool_calls", "message_creation"], stream
    (message,) = stream["final_messages"]
    assert message["annotations"] == ["file_citation", "file_path"]
    assert message["parts"] == ["text", "image_file"]
