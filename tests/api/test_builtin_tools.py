"""The built-in tools in runs, with every real part: uploaded files, vector stores indexed in the
background, the server's retrieval, and code in the real sandbox. The model is the scripted
upstream; what it is told and what the client gets back are checked end to end."""

import json
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.conftest import new_project_key, sdk_client
from tests.documents import write_docx, write_pdf
from tests.files_helpers import upload, wait_until_settled
from tests.runs_helpers import wait_for_run
from tests.upstream import ScriptedUpstream, Text, ToolCalls

MODEL = "gpt-test"
MANUAL = b"# Pump manual\n\nThe Model K pump is rated for a maximum pressure of 40 bar.\n"
CSV = b"x,y\n1,10\n2,20\n3,30\n"


def _run(client: OpenAI, thread_id: str, assistant_id: str) -> Any:
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread_id, assistant_id=assistant_id, poll_interval_ms=50
    )
    assert run.status == "completed", run.last_error
    return run


def _reply(client: OpenAI, thread_id: str, run_id: str) -> Any:
    (message,) = client.beta.threads.messages.list(thread_id, run_id=run_id).data
    return message


# --- file_search ------------------------------------------------------------------------------


def test_file_search_answers_with_citations_from_a_store(
    client: OpenAI, upstream: ScriptedUpstream
) -> None:
    file_id = upload(client, "manual.md", MANUAL)
    store = wait_until_settled(client, client.vector_stores.create(file_ids=[file_id]).id)
    assert store.file_counts.completed == 1
    assistant = client.beta.assistants.create(
        model=MODEL,
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
    )
    answer = "At most 40 bar【0:0†manual.md】."
    upstream.script(
        ToolCalls([("file_search", '{"queries": ["maximum pressure Model K pump"]}')]),
        Text([answer]),
    )
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "How much?"}])
    run = _run(client, thread.id, assistant.id)

    read_back = upstream.requests[1]["messages"][-1]["content"]
    assert read_back.startswith("【0:0†manual.md】") and "40 bar" in read_back
    text = _reply(client, thread.id, run.id).content[0].text
    (citation,) = text.annotations
    assert citation.file_citation.file_id == file_id
    assert text.value[citation.start_index : citation.end_index] == "【0:0†manual.md】"
    step = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data[0]
    (result,) = step.step_details.tool_calls[0].file_search.results
    assert (result.file_id, result.file_name) == (file_id, "manual.md")


def test_citations_from_a_pdf_a_docx_and_a_markdown_file(
    client: OpenAI, upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    write_pdf(tmp_path / "pump.pdf", "The Model K pump is rated for a maximum of 40 bar.")
    write_docx(tmp_path / "valve.docx", "The relief valve opens at 42 bar of pressure.")
    files = {
        upload(client, "pump.pdf", (tmp_path / "pump.pdf").read_bytes()),
        upload(client, "valve.docx", (tmp_path / "valve.docx").read_bytes()),
        upload(client, "hose.md", b"# Hoses\n\nThe hose bursts at 120 bar of pressure.\n"),
    }
    store = wait_until_settled(client, client.vector_stores.create(file_ids=sorted(files)).id)
    assert store.file_counts.completed == 3
    assistant = client.beta.assistants.create(
        model=MODEL,
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
    )
    queries = ["pump maximum pressure", "relief valve opening pressure", "hose burst pressure"]
    answer = "Pump 40 bar【0:0†a】, valve 42 bar【0:1†b】, hose 120 bar【0:2†c】."
    upstream.script(ToolCalls([("file_search", json.dumps({"queries": queries}))]), Text([answer]))
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Pressures?"}])
    run = _run(client, thread.id, assistant.id)

    read_back = upstream.requests[1]["messages"][-1]["content"]
    for fact in ("40 bar", "42 bar", "120 bar"):
        assert fact in read_back
    text = _reply(client, thread.id, run.id).content[0].text
    assert {a.file_citation.file_id for a in text.annotations} == files
    for annotation in text.annotations:
        assert text.value[annotation.start_index : annotation.end_index] == annotation.text


def test_file_search_finds_files_attached_to_the_thread(
    client: OpenAI, upstream: ScriptedUpstream
) -> None:
    file_id = upload(client, "manual.md", MANUAL)
    assistant = client.beta.assistants.create(model=MODEL, tools=[{"type": "file_search"}])
    upstream.script(
        ToolCalls([("file_search", '{"queries": ["pump pressure"]}')]), Text(["40 bar."])
    )
    thread = client.beta.threads.create(
        messages=[
            {
                "role": "user",
                "content": "How much pressure?",
                "attachments": [{"file_id": file_id, "tools": [{"type": "file_search"}]}],
            }
        ]
    )
    # No wait for ingestion here: the search waits for the thread's files itself.
    run = _run(client, thread.id, assistant.id)
    assert "40 bar" in upstream.requests[1]["messages"][-1]["content"]
    step = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data[0]
    assert step.step_details.tool_calls[0].file_search.results[0].file_id == file_id


def test_file_search_without_stores_tells_the_model(
    client: OpenAI, upstream: ScriptedUpstream
) -> None:
    assistant = client.beta.assistants.create(model=MODEL, tools=[{"type": "file_search"}])
    upstream.script(ToolCalls([("file_search", '{"queries": ["anything"]}')]), Text(["None."]))
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Search."}])
    _run(client, thread.id, assistant.id)
    assert upstream.requests[1]["messages"][-1]["content"] == "No files are available to search."


# --- code_interpreter ---------------------------------------------------------------------------


@pytest.fixture
def coder(client: OpenAI) -> Any:
    csv_id = upload(client, "data.csv", CSV)
    try:
        return client.beta.assistants.create(
            model=MODEL,
            tools=[{"type": "code_interpreter"}],
            tool_resources={"code_interpreter": {"file_ids": [csv_id]}},
        )
    except openai.BadRequestError as refused:  # pragma: no cover - machines without namespaces
        pytest.skip(f"no working sandbox here: {refused.body['message']}")


def _code(code: str) -> ToolCalls:
    return ToolCalls([("code_interpreter", json.dumps({"code": code}))])


def _logs(client: OpenAI, thread_id: str, run_id: str) -> list[Any]:
    step = client.beta.threads.runs.steps.list(run_id, thread_id=thread_id, order="asc").data[0]
    return step.step_details.tool_calls[0].code_interpreter.outputs


def test_code_reads_the_files_and_keeps_its_variables_across_runs(
    client: OpenAI, upstream: ScriptedUpstream, coder: Any
) -> None:
    code = (
        "import pandas as pd\ndf = pd.read_csv('/mnt/data/data.csv')\n"
        "total = int(df.y.sum())\nprint(total)"
    )
    upstream.script(_code(code), Text(["The total is 60."]))
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Sum y."}])
    run = _run(client, thread.id, coder.id)
    (logs,) = _logs(client, thread.id, run.id)
    assert logs.logs.strip() == "60"
    assert upstream.requests[1]["messages"][-1]["content"].strip() == "60"

    upstream.script(_code("print(total * 2)"), Text(["120."]))
    client.beta.threads.messages.create(thread.id, role="user", content="Double it.")
    second = _run(client, thread.id, coder.id)
    (logs,) = _logs(client, thread.id, second.id)
    assert logs.logs.strip() == "120"


def test_a_plot_and_a_written_file_come_back_as_files(
    client: OpenAI, upstream: ScriptedUpstream, coder: Any
) -> None:
    code = (
        "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.show()\n"
        "open('/mnt/data/squares.csv', 'w').write('n,sq\\n3,9\\n')"
    )
    reply = "Here is the table: sandbox:/mnt/data/squares.csv"
    upstream.script(_code(code), Text([reply]))
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Plot."}])
    run = _run(client, thread.id, coder.id)

    image = next(o for o in _logs(client, thread.id, run.id) if o.type == "image")
    png = client.files.content(image.image.file_id).read()
    assert png.startswith(b"\x89PNG")
    assert client.files.retrieve(image.image.file_id).purpose == "assistants_output"

    message = _reply(client, thread.id, run.id)
    text = message.content[0].text
    (link,) = text.annotations
    assert text.value[link.start_index : link.end_index] == "sandbox:/mnt/data/squares.csv"
    assert client.files.content(link.file_path.file_id).read() == b"n,sq\n3,9\n"
    assert client.files.retrieve(link.file_path.file_id).filename == "squares.csv"
    assert [part.type for part in message.content] == ["text", "image_file"]
    assert message.content[1].image_file.file_id == image.image.file_id


@pytest.mark.parametrize(
    "code",
    [
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
        "plt.plot([1, 4, 9])\nplt.show()",
        "import matplotlib.pyplot as plt\nplt.switch_backend('agg')\nplt.bar(['a'], [3]);",
    ],
    ids=["agg-show", "agg-left-open"],
)
def test_a_figure_on_the_agg_backend_is_one_image_output(
    client: OpenAI, upstream: ScriptedUpstream, coder: Any, code: str
) -> None:
    """Code that picks Agg itself (as models write) still shows its figure: once, whether it
    called plt.show() or left the figure open."""
    upstream.script(_code(code), Text(["Plotted."]))
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Plot."}])
    run = _run(client, thread.id, coder.id)
    images = [o for o in _logs(client, thread.id, run.id) if o.type == "image"]
    assert len(images) == 1
    assert client.files.content(images[0].image.file_id).read().startswith(b"\x89PNG")


def test_cancel_stops_running_code(client: OpenAI, upstream: ScriptedUpstream, coder: Any) -> None:
    upstream.script(_code("while True:\n    pass"))
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Spin."}])
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=coder.id)
    deadline = time.monotonic() + 20
    while not client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data:
        assert time.monotonic() < deadline, "the code never started"
        time.sleep(0.05)
    time.sleep(0.3)  # the code is running now
    started = time.monotonic()
    client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    ended = wait_for_run(client, thread.id, run.id, timeout=10)
    assert ended.status == "cancelled"
    assert time.monotonic() - started < 5
    # The thread's session was replaced: the next run's code works.
    upstream.script(_code("print('alive')"), Text(["ok"]))
    client.beta.threads.messages.create(thread.id, role="user", content="Again.")
    again = _run(client, thread.id, coder.id)
    assert "alive" in _logs(client, thread.id, again.id)[0].logs


def test_code_sessions_are_billed_once_per_thread_and_hour(
    server_url: str, admin: httpx.Client, upstream: ScriptedUpstream
) -> None:
    project = f"billed-{secrets.token_hex(5)}"
    with sdk_client(server_url, new_project_key(admin, project)) as client:
        try:
            coder = client.beta.assistants.create(model=MODEL, tools=[{"type": "code_interpreter"}])
        except openai.BadRequestError as refused:  # pragma: no cover
            pytest.skip(f"no working sandbox here: {refused.body['message']}")
        first = client.beta.threads.create(messages=[{"role": "user", "content": "1"}])
        second = client.beta.threads.create(messages=[{"role": "user", "content": "2"}])
        for thread in (first, first, second):
            upstream.script(_code("print(1)"), Text(["ok"]))
            _run(client, thread.id, coder.id)
    report = admin.get("/admin/usage", params={"project": project, "group_by": "meter"}).json()
    rows = {row["meter"]: row for row in report["data"]}
    assert rows["code_interpreter.sessions"]["quantity"] == 2
    assert float(rows["code_interpreter.sessions"]["cost_usd"]) == pytest.approx(0.06)


def test_code_in_a_run_cannot_reach_the_server_its_secrets_or_its_data(
    client: OpenAI, upstream: ScriptedUpstream, coder: Any, server_url: str
) -> None:
    """The escape suite runs against the sandbox itself (tests/sandbox); this is the same
    boundary seen through a real run: the server's database, environment and port, and the
    upstream the run itself talks to, are all out of reach, and the server is fine after."""
    port = int(server_url.rsplit(":", 1)[1])
    upstream_port = int(upstream.base_url.split(":")[2].split("/")[0])
    code = f"""
import os, socket
found = []
try:
    open("/etc/shadow", "rb").read(); found.append("read /etc/shadow")
except OSError:
    pass
for environ in os.listdir("/proc"):
    if environ.isdigit():
        try:
            seen = open(f"/proc/{{environ}}/environ", "rb").read()
        except OSError:
            continue
        if b"THREADLINE" in seen or b"sk-" in seen:
            found.append(f"secrets in /proc/{{environ}}/environ")
for top, dirs, names in os.walk("/"):
    dirs[:] = [d for d in dirs if top != "/" or d not in ("proc", "sys", "dev")]
    found += [os.path.join(top, n) for n in names if n.startswith("threadline.db")]
found += [k for k in os.environ if "THREADLINE" in k or "OPENAI" in k or "KEY" in k]
for target in ({port}, {upstream_port}):
    s = socket.socket()
    s.settimeout(1)
    try:
        s.connect(("127.0.0.1", target)); found.append(f"connected {{target}}")
    except OSError:
        pass
print("LEAKS:", found)
"""
    upstream.script(_code(code), Text(["checked"]))
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Look around."}])
    run = _run(client, thread.id, coder.id)
    told = upstream.requests[1]["messages"][-1]["content"]
    assert told.strip() == "LEAKS: []", told
    (logs,) = _logs(client, thread.id, run.id)
    assert logs.logs.strip() == "LEAKS: []"
    assert httpx.get(f"{server_url}/healthz").status_code == 200
    assert len(upstream.requests) == 2  # the model's two turns, nothing from the sandbox
