"""The seam for built-in tools the server runs itself (engine.tools.base), driven through a
stand-in tool: the model's call is executed by the server, shown in the tool_calls step in the
tool's own shape (streamed as it is written, then with its outputs), answered back to the model
in its next turn without asking the client, mixed with function calls that do ask the client,
and turned into annotations on the reply. file_search and code_interpreter plug in the same way."""

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openai import OpenAI

from tests.conftest import sdk_client
from tests.runs_helpers import WEATHER, names, stream_run, wait_for_run
from tests.tool_servers import project_key, server_with_tools
from tests.upstream import ScriptedUpstream, Text, ToolCalls
from threadline.engine.tools.base import MessageExtras, ServerCall, ToolContext, ToolOutcome

MARKER = "[see output]"


class _EchoStream:
    def __init__(self, call_id: str, index: int) -> None:
        self.call_id, self.index = call_id, index

    def opening(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "id": self.call_id,
            "type": "code_interpreter",
            "code_interpreter": {"input": "", "outputs": []},
        }

    def feed(self, fragment: str) -> dict[str, Any] | None:
        return {
            "index": self.index,
            "type": "code_interpreter",
            "code_interpreter": {"input": fragment},
        }

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.call_id,
            "type": "code_interpreter",
            "code_interpreter": {"input": "", "outputs": []},
        }


class EchoTool:
    """Stands in for code_interpreter: "runs" the code by echoing it."""

    type = "code_interpreter"
    function_name = "python"

    def definition(self, tool: dict[str, Any]) -> dict[str, Any]:
        parameters = {"type": "object", "properties": {"code": {"type": "string"}}}
        return {"type": "function", "function": {"name": "python", "parameters": parameters}}

    def start_call(self, call_id: str, index: int, tool: dict[str, Any]) -> _EchoStream:
        return _EchoStream(call_id, index)

    async def execute(self, call: ServerCall, context: ToolContext) -> ToolOutcome:
        code = json.loads(call.arguments)["code"]
        logs = f"ran: {code} (call {len(context.earlier_calls) + 1} of run {context.run['id']})"
        outputs = [{"index": 0, "type": "logs", "logs": logs}]
        context.publish_delta(
            {
                "index": call.index,
                "type": "code_interpreter",
                "code_interpreter": {"outputs": outputs},
            }
        )
        details = {
            "id": call.id,
            "type": "code_interpreter",
            "code_interpreter": {"input": code, "outputs": [{"type": "logs", "logs": logs}]},
        }
        return ToolOutcome(details=details, output=logs)

    def annotate(self, text: str, calls: list[dict[str, Any]]) -> MessageExtras:
        start = text.find(MARKER)
        if start < 0:
            return MessageExtras()
        annotation = {
            "type": "file_path",
            "text": MARKER,
            "start_index": start,
            "end_index": start + len(MARKER),
            "file_path": {"file_id": f"file-{len(calls)}"},
        }
        return MessageExtras(annotations=[annotation])


CODE_TOOL = {"type": "code_interpreter"}


@pytest.fixture(scope="module")
def tools_server(
    upstream_server: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("tools-data")
    with server_with_tools(upstream_server, data_dir, [EchoTool()]) as url:
        yield url


@pytest.fixture
def key(tools_server: str) -> str:
    return project_key(tools_server)


@pytest.fixture
def sdk(tools_server: str, key: str) -> Iterator[OpenAI]:
    with sdk_client(tools_server, key) as client:
        yield client


@pytest.fixture
def raw(tools_server: str, key: str) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {key}", "OpenAI-Beta": "assistants=v2"}
    with httpx.Client(base_url=f"{tools_server}/v1", headers=headers, timeout=30) as client:
        yield client


def _thread_and_assistant(sdk: OpenAI, tools: list[Any]) -> tuple[Any, Any]:
    assistant = sdk.beta.assistants.create(model="gpt-test", tools=tools)
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "Compute it."}])
    return assistant, thread


def test_server_call_is_executed_and_answered_to_the_model(
    sdk: OpenAI, raw: httpx.Client, upstream: ScriptedUpstream
) -> None:
    upstream.script(ToolCalls([("python", '{"code": "print(6*7)"}')]), Text(["It is 42 ", MARKER]))
    assistant, thread = _thread_and_assistant(sdk, [CODE_TOOL])
    run = sdk.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=20
    )
    assert run.status == "completed", run.last_error
    assert upstream.requests[0]["tools"][0]["function"]["name"] == "python"

    # The model read the tool's answer in its next turn, as a normal tool exchange.
    second = upstream.requests[1]["messages"]
    call_id = second[-2]["tool_calls"][0]["id"]
    assert second[-2]["tool_calls"][0]["function"] == {
        "name": "python",
        "arguments": '{"code": "print(6*7)"}',
    }
    assert second[-1] == {
        "role": "tool",
        "tool_call_id": call_id,
        "content": f"ran: print(6*7) (call 1 of run {run.id})",
    }

    steps = sdk.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    assert all(s.status == "completed" for s in steps)
    (call,) = steps[0].step_details.tool_calls
    assert call.type == "code_interpreter" and call.id == call_id
    assert call.code_interpreter.input == "print(6*7)"
    assert call.code_interpreter.outputs[0].logs.startswith("ran: print(6*7)")
    # The engine's private keys never reach a client.
    raw_steps = raw.get(f"/threads/{thread.id}/runs/{run.id}/steps").json()
    assert '"_call"' not in json.dumps(raw_steps)
    assert '"_output"' not in json.dumps(raw_steps)

    (message,) = sdk.beta.threads.messages.list(thread.id, run_id=run.id).data
    text = message.content[0].text
    assert text.value == f"It is 42 {MARKER}"
    (annotation,) = text.annotations
    assert annotation.type == "file_path" and annotation.file_path.file_id == "file-1"
    assert text.value[annotation.start_index : annotation.end_index] == MARKER


def test_server_call_streams_in_its_own_shape(
    raw: httpx.Client, sdk: OpenAI, upstream: ScriptedUpstream
) -> None:
    upstream.script(ToolCalls([("python", '{"code": "1+1"}')], split=2), Text(["Two."]))
    assistant, thread = _thread_and_assistant(sdk, [CODE_TOOL])
    events = stream_run(raw, thread.id, {"assistant_id": assistant.id, "stream": True})
    sequence = names(events)
    assert sequence[-2:] == ["thread.run.completed", "done"]
    deltas = [
        e.json()["delta"]["step_details"]["tool_calls"][0]
        for e in events
        if e.name == "thread.run.step.delta"
    ]
    assert deltas[0]["type"] == "code_interpreter" and deltas[0]["code_interpreter"]["input"] == ""
    assert "".join(d["code_interpreter"].get("input", "") for d in deltas) == '{"code": "1+1"}'
    assert deltas[-1]["code_interpreter"]["outputs"][0]["logs"].startswith("ran: 1+1")
    # The tool step completes before the reply message starts.
    assert sequence.index("thread.run.step.completed") < sequence.index("thread.message.created")


def test_server_and_function_calls_in_one_turn(sdk: OpenAI, upstream: ScriptedUpstream) -> None:
    upstream.script(
        ToolCalls([("python", '{"code": "x = 1"}'), ("get_weather", '{"city": "Paris"}')]),
        Text(["Done."]),
    )
    assistant, thread = _thread_and_assistant(sdk, [CODE_TOOL, WEATHER])
    run = sdk.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=20
    )
    assert run.status == "requires_action"
    (waiting,) = run.required_action.submit_tool_outputs.tool_calls
    assert waiting.function.name == "get_weather"
    (step,) = sdk.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert step.status == "in_progress"
    assert [c.type for c in step.step_details.tool_calls] == ["code_interpreter", "function"]
    assert step.step_details.tool_calls[0].code_interpreter.outputs[0].logs.startswith("ran: x = 1")

    run = sdk.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=thread.id,
        tool_outputs=[{"tool_call_id": waiting.id, "output": "sunny"}],
        poll_interval_ms=20,
    )
    assert run.status == "completed"
    answers = [m for m in upstream.requests[1]["messages"] if m["role"] == "tool"]
    assert [a["content"] for a in answers] == [f"ran: x = 1 (call 1 of run {run.id})", "sunny"]
    wait_for_run(sdk, thread.id, run.id)


def test_tool_choice_names_the_server_tool(sdk: OpenAI, upstream: ScriptedUpstream) -> None:
    upstream.script(Text(["No need."]))
    assistant, thread = _thread_and_assistant(sdk, [CODE_TOOL])
    run = sdk.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant.id,
        tool_choice={"type": "code_interpreter"},
        poll_interval_ms=20,
    )
    assert run.status == "completed"
    assert upstream.requests[0]["tool_choice"] == {
        "type": "function",
        "function": {"name": "python"},
    }
