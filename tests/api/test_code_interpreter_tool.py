"""code_interpreter inside runs, over a stand-in runner (the sandbox has suites of its own): the
code streamed decoded as the model writes it, the step's input and outputs (logs, images), what
the model reads back, the run's files handed to the session, figures and written files becoming
File ids shown as image_file parts and file_path annotations."""

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import AssistantEventHandler, OpenAI
from typing_extensions import override

from tests.conftest import sdk_client
from tests.runs_helpers import stream_run
from tests.tool_servers import project_key, server_with_tools
from tests.upstream import ScriptedUpstream, Text, ToolCalls
from threadline.engine.tools.code_interpreter import CodeInterpreterTool, CodeResult, InputFile

PNG = b"\x89PNG\r\n\x1a\nstand-in"


class StandInRunner:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.calls: list[tuple[str, str, list[str]]] = []

    async def run(self, session_key: str, code: str, files: Sequence[InputFile]) -> CodeResult:
        self.calls.append((session_key, code, [f.filename for f in files]))
        written = self.tmp / "out.csv"
        written.write_text("a,b\n1,2\n")
        return CodeResult(logs="42\n", images=[PNG], files=[("out.csv", written)], reset=True)


class Saved:
    def __init__(self) -> None:
        self.outputs: list[tuple[str, str, bytes]] = []

    async def output(self, project_id: str, name: str, path: Path) -> str:
        self.outputs.append((project_id, name, path.read_bytes()))
        return f"file-out{len(self.outputs)}"

    async def image(self, project_id: str, png: bytes) -> str:
        self.outputs.append((project_id, "image.png", png))
        return f"file-img{len(self.outputs)}"


async def files_of(run: dict[str, Any]) -> list[InputFile]:
    return [InputFile("file-data", "data.csv", Path("/nonexistent/data.csv"))]


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> tuple[StandInRunner, Saved]:
    return StandInRunner(tmp_path_factory.mktemp("runner")), Saved()


@pytest.fixture(scope="module")
def code_server(
    upstream_server: ScriptedUpstream,
    tmp_path_factory: pytest.TempPathFactory,
    parts: tuple[StandInRunner, Saved],
) -> Iterator[str]:
    runner, saved = parts
    tool = CodeInterpreterTool(runner, files_of, saved.output, saved.image)
    with server_with_tools(upstream_server, tmp_path_factory.mktemp("ci-data"), [tool]) as url:
        yield url


@pytest.fixture
def key(code_server: str) -> str:
    return project_key(code_server)


@pytest.fixture
def sdk(code_server: str, key: str) -> Iterator[OpenAI]:
    with sdk_client(code_server, key) as client:
        yield client


@pytest.fixture
def raw(code_server: str, key: str) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {key}", "OpenAI-Beta": "assistants=v2"}
    with httpx.Client(base_url=f"{code_server}/v1", headers=headers, timeout=30) as client:
        yield client


CODE = 'import pandas as pd\nprint("\\u00e9", 6 * 7)'
REPLY = "The answer is 42; the table is at sandbox:/mnt/data/out.csv."


def test_code_runs_in_the_threads_session_and_its_products_reach_the_reply(
    sdk: OpenAI, upstream: ScriptedUpstream, parts: tuple[StandInRunner, Saved]
) -> None:
    runner, saved = parts
    upstream.script(ToolCalls([("code_interpreter", json.dumps({"code": CODE}))]), Text([REPLY]))
    assistant = sdk.beta.assistants.create(model="gpt-test", tools=[{"type": "code_interpreter"}])
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "Compute."}])
    run = sdk.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=20
    )
    assert run.status == "completed", run.last_error
    session_key, code, files = runner.calls[-1]
    assert session_key.endswith(f":{thread.id}") and (code, files) == (CODE, ["data.csv"])
    assert [name for _, name, _ in saved.outputs[-2:]] == ["image.png", "out.csv"]

    read_back = upstream.requests[1]["messages"][-1]["content"]
    assert "variables from before are gone" in read_back and "42" in read_back
    assert "[File saved: sandbox:/mnt/data/out.csv]" in read_back

    step = sdk.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data[0]
    (call,) = step.step_details.tool_calls
    assert call.code_interpreter.input == CODE
    logs, image = call.code_interpreter.outputs
    assert logs.logs == "42\n" and image.image.file_id.startswith("file-img")

    (message,) = sdk.beta.threads.messages.list(thread.id, run_id=run.id).data
    text, picture = message.content
    assert text.text.value == REPLY
    (link,) = text.text.annotations
    assert link.type == "file_path" and link.file_path.file_id.startswith("file-out")
    assert REPLY[link.start_index : link.end_index] == "sandbox:/mnt/data/out.csv"
    assert picture.type == "image_file" and picture.image_file.file_id == image.image.file_id


def test_code_streams_decoded_then_its_outputs(
    raw: httpx.Client, sdk: OpenAI, upstream: ScriptedUpstream
) -> None:
    upstream.script(
        ToolCalls([("code_interpreter", json.dumps({"code": CODE}))], split=7), Text(["Done."])
    )
    assistant = sdk.beta.assistants.create(model="gpt-test", tools=[{"type": "code_interpreter"}])
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "Compute."}])
    events = stream_run(raw, thread.id, {"assistant_id": assistant.id, "stream": True})
    deltas = [
        e.json()["delta"]["step_details"]["tool_calls"][0]["code_interpreter"]
        for e in events
        if e.name == "thread.run.step.delta"
    ]
    assert "".join(d.get("input", "") for d in deltas) == CODE
    assert [o["type"] for o in deltas[-1]["outputs"]] == ["logs", "image"]
    assert events[-2].name == "thread.run.completed"


def test_figures_and_links_reach_the_sdk_stream_helpers(
    sdk: OpenAI, upstream: ScriptedUpstream
) -> None:
    upstream.script(ToolCalls([("code_interpreter", json.dumps({"code": CODE}))]), Text([REPLY]))
    assistant = sdk.beta.assistants.create(model="gpt-test", tools=[{"type": "code_interpreter"}])
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "Plot."}])
    seen: dict[str, list[Any]] = {"images": [], "inputs": []}

    class Handler(AssistantEventHandler):
        @override
        def on_image_file_done(self, image_file: Any) -> None:
            seen["images"].append(image_file.file_id)

        @override
        def on_tool_call_delta(self, delta: Any, snapshot: Any) -> None:
            if delta.code_interpreter and delta.code_interpreter.input:
                seen["inputs"].append(delta.code_interpreter.input)

    with sdk.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=Handler()
    ) as stream:
        stream.until_done()
        (message,) = stream.get_final_messages()
    assert stream.get_final_run().status == "completed"
    assert "".join(seen["inputs"]) == CODE
    text, picture = message.content
    assert text.text.annotations[0].type == "file_path"
    assert seen["images"] == [picture.image_file.file_id]
