"""Built-in tools on the Responses API, with every real part (files indexed with the embedded
model, the server's retrieval, code in the real sandbox) and the scripted upstream as the
model: file_search with the tool's own stores, filters and options, code_interpreter in an
``auto`` container, ``max_tool_calls``, and ``reasoning.effort`` passed on."""

import json
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.files_helpers import upload, wait_until_settled
from tests.upstream import ScriptedUpstream, Text, ToolCalls

MODEL = "gpt-test"
MANUAL = b"# Pump manual\n\nThe Model K pump is rated for a maximum pressure of 40 bar.\n"
NOTES = b"# Notes\n\nThe Model K pump pressure was checked daily; 55 bar seen once.\n"
RESULTS = "file_search_call.results"


@pytest.fixture
def store(client: OpenAI) -> tuple[str, str, str]:
    """A store holding the manual (``kind: manual``) and the notes (``kind: notes``)."""
    manual, notes = upload(client, "manual.md", MANUAL), upload(client, "notes.md", NOTES)
    store_id = client.vector_stores.create().id
    client.vector_stores.files.create(store_id, file_id=manual, attributes={"kind": "manual"})
    client.vector_stores.files.create(store_id, file_id=notes, attributes={"kind": "notes"})
    assert wait_until_settled(client, store_id).file_counts.completed == 2
    return store_id, manual, notes


def _search_tool(store_id: str, **options: Any) -> dict[str, Any]:
    return {"type": "file_search", "vector_store_ids": [store_id], **options}


def test_file_search_with_the_tools_stores_filters_and_citations(
    client: OpenAI, upstream: ScriptedUpstream, store: tuple[str, str, str]
) -> None:
    store_id, manual, _ = store
    answer = "At most 40 bar【0:0†manual.md】."
    upstream.script(
        ToolCalls([("file_search", '{"queries": ["Model K pump pressure"]}')]), Text([answer])
    )
    tool = _search_tool(
        store_id,
        filters={"type": "eq", "key": "kind", "value": "manual"},
        max_num_results=3,
        ranking_options={"score_threshold": 0.0},
    )
    response = client.responses.create(
        model=MODEL, input="How much pressure?", tools=[tool], include=[RESULTS]
    )
    assert response.status == "completed"
    search, message = response.output
    assert search.type == "file_search_call" and search.status == "completed"
    assert search.queries == ["Model K pump pressure"]
    assert [r.file_id for r in search.results] == [manual]
    assert search.results[0].filename == "manual.md" and "40 bar" in search.results[0].text

    read_back = upstream.requests[1]["messages"][-1]["content"]
    assert "40 bar" in read_back and "55 bar" not in read_back  # the filter kept the notes out
    assert response.output_text == answer
    (citation,) = message.content[0].annotations
    assert citation.type == "file_citation" and citation.file_id == manual
    assert citation.filename == "manual.md"

    again = client.responses.retrieve(response.id)
    assert again.output[0].queries == ["Model K pump pressure"]
    assert again.output[0].results is None  # passages only when included
    included = client.responses.retrieve(response.id, include=[RESULTS])
    assert [r.file_id for r in included.output[0].results] == [manual]


def test_file_search_streams_its_call(
    client: OpenAI, upstream: ScriptedUpstream, store: tuple[str, str, str]
) -> None:
    store_id, _, _ = store
    upstream.script(
        ToolCalls([("file_search", '{"queries": ["pump pressure"]}')]),
        Text(["40 bar【0:0†manual.md】."]),
    )
    with client.responses.stream(
        model=MODEL, input="Pressure?", tools=[_search_tool(store_id, max_num_results=1)]
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    searching = [k for k in kinds if k.startswith("response.file_search_call.")]
    assert searching == [
        "response.file_search_call.in_progress",
        "response.file_search_call.searching",
        "response.file_search_call.completed",
    ]
    assert kinds.index("response.file_search_call.completed") < kinds.index(
        "response.output_text.delta"
    )
    assert final.output[0].queries == ["pump pressure"]
    assert final.output_text.startswith("40 bar")


def test_max_tool_calls_leaves_later_calls_unexecuted(
    client: OpenAI, upstream: ScriptedUpstream, store: tuple[str, str, str]
) -> None:
    store_id, _, _ = store
    calls = [
        ("file_search", '{"queries": ["pump pressure"]}'),
        ("file_search", '{"queries": ["daily checks"]}'),
    ]
    upstream.script(ToolCalls(calls), Text(["Done."]))
    response = client.responses.create(
        model=MODEL, input="Pressure?", tools=[_search_tool(store_id)], max_tool_calls=1
    )
    assert response.status == "completed" and response.max_tool_calls == 1
    answers = [m for m in upstream.requests[1]["messages"] if m["role"] == "tool"]
    assert "40 bar" in answers[0]["content"]
    assert answers[1]["content"].startswith("Tool call limit reached")


# --- code_interpreter -------------------------------------------------------------------------


def _code(code: str) -> ToolCalls:
    return ToolCalls([("code_interpreter", json.dumps({"code": code}))])


CODE_TOOL = {"type": "code_interpreter", "container": {"type": "auto"}}


def _coding(client: OpenAI, **kwargs: Any) -> Any:
    try:
        return client.responses.create(model=MODEL, tools=[CODE_TOOL], **kwargs)
    except openai.BadRequestError as refused:  # pragma: no cover - machines without namespaces
        pytest.skip(f"no working sandbox here: {refused.body}")


def test_code_interpreter_call_with_its_outputs(client: OpenAI, upstream: ScriptedUpstream) -> None:
    code = "import matplotlib.pyplot as plt\nprint(6 * 7)\nplt.plot([1, 2], [1, 4])\nplt.show()"
    upstream.script(_code(code), Text(["It is 42."]))
    response = _coding(client, input="Compute.", include=["code_interpreter_call.outputs"])
    assert response.status == "completed"
    call, _ = response.output
    assert call.type == "code_interpreter_call" and call.status == "completed"
    assert call.code == code
    assert call.container_id.startswith("cntr_")
    logs = [o for o in call.outputs if o.type == "logs"]
    assert logs[0].logs.strip() == "42"
    assert any(o.type == "image" for o in call.outputs)
    assert response.output_text == "It is 42."
    assert upstream.requests[1]["messages"][-1]["content"].strip().startswith("42")
    plain = client.responses.retrieve(response.id)
    assert plain.output[0].outputs is None and plain.output[0].code == code


def test_code_interpreter_streams_its_code(client: OpenAI, upstream: ScriptedUpstream) -> None:
    code = "print(6 * 7)"
    upstream.script(_code(code), Text(["42."]))
    try:
        with client.responses.stream(model=MODEL, input="Go.", tools=[CODE_TOOL]) as stream:
            events = list(stream)
            final = stream.get_final_response()
    except openai.BadRequestError as refused:  # pragma: no cover - machines without namespaces
        pytest.skip(f"no working sandbox here: {refused.body}")
    kinds = [e.type for e in events if "code_interpreter" in e.type]
    assert kinds[0] == "response.code_interpreter_call.in_progress"
    assert "response.code_interpreter_call_code.delta" in kinds
    assert kinds[-2:] == [
        "response.code_interpreter_call.interpreting",
        "response.code_interpreter_call.completed",
    ]
    (done,) = [e for e in events if e.type == "response.code_interpreter_call_code.done"]
    assert done.code == code
    streamed = "".join(
        e.delta for e in events if e.type == "response.code_interpreter_call_code.delta"
    )
    assert streamed == code
    assert final.output[0].code == code


# --- reasoning --------------------------------------------------------------------------------


def test_reasoning_effort_reaches_the_model(client: OpenAI, upstream: ScriptedUpstream) -> None:
    upstream.script(Text(["Thought it through."]))
    response = client.responses.create(model=MODEL, input="Think.", reasoning={"effort": "low"})
    assert response.reasoning is not None and response.reasoning.effort == "low"
    assert upstream.requests[-1]["reasoning_effort"] == "low"
