"""file_search inside runs, over a stand-in retrieval (the real one has suites of its own):
what the model is offered and sent back (source markers), the step as OpenAI showed it (ranking
options; passages only with ``include[]``), the tool's options honoured, and citations turned
into ``file_citation`` annotations the SDK parses — made-up markers left alone."""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from openai import AssistantEventHandler, OpenAI
from typing_extensions import override

from tests.conftest import sdk_client
from tests.tool_servers import project_key, server_with_tools
from tests.upstream import ScriptedUpstream, Text, ToolCalls
from threadline.engine.tools.file_search import FileSearchTool
from threadline.schemas.run_objects import FILE_SEARCH_CONTENT


@dataclass(frozen=True)
class Hit:
    file_id: str
    filename: str
    score: float
    text: str


HITS = [
    Hit("file-manual", "manual.pdf", 0.91, "The pump runs at 40 bar."),
    Hit("file-notes", "notes.pdf", 0.42, "Pressure was checked daily."),
]


class StandInStores:
    """Every run searches one store, whose files are indexed after a first look."""

    def __init__(self) -> None:
        self.searches: list[dict[str, Any]] = []
        self.progress_checks = 0

    async def stores_for_run(
        self, project_id: str, run_tool_resources: dict[str, Any] | None, thread_id: str
    ) -> list[str]:
        return ["vs_default"]

    async def files_in_progress(self, project_id: str, store_ids: Sequence[str]) -> int:
        self.progress_checks += 1
        return self.progress_checks % 2  # busy, then ready

    async def search(
        self, project_id: str, store_ids: Sequence[str], queries: Sequence[str], **options: Any
    ) -> list[Hit]:
        self.searches.append({"store_ids": list(store_ids), "queries": list(queries), **options})
        hits = [h for h in HITS if h.score >= options["score_threshold"]]
        return hits[: options["max_num_results"]]


RETRIEVAL = StandInStores()


@pytest.fixture(scope="module")
def search_server(
    upstream_server: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    tool = FileSearchTool(RETRIEVAL)
    data_dir = tmp_path_factory.mktemp("search-data")
    with server_with_tools(upstream_server, data_dir, [tool]) as url:
        yield url


@pytest.fixture
def key(search_server: str) -> str:
    return project_key(search_server)


@pytest.fixture
def sdk(search_server: str, key: str) -> Iterator[OpenAI]:
    with sdk_client(search_server, key) as client:
        yield client


def _run(sdk: OpenAI, tool: dict[str, Any]) -> tuple[Any, Any]:
    assistant = sdk.beta.assistants.create(model="gpt-test", tools=[tool])
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "How hard?"}])
    run = sdk.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=20
    )
    assert run.status == "completed", run.last_error
    return thread, run


def test_search_results_reach_the_model_and_citations_the_reply(
    sdk: OpenAI, upstream: ScriptedUpstream
) -> None:
    answer = "It runs at 40 bar【0:0†manual.pdf】, checked daily【0:1†notes.pdf】 and【7:0†x】."
    upstream.script(ToolCalls([("file_search", '{"queries": ["pump pressure"]}')]), Text([answer]))
    thread, run = _run(sdk, {"type": "file_search"})

    offered = upstream.requests[0]["tools"][0]["function"]
    assert offered["name"] == "file_search" and "queries" in offered["parameters"]["properties"]
    assert RETRIEVAL.searches[-1]["queries"] == ["pump pressure"]
    assert RETRIEVAL.searches[-1]["store_ids"] == ["vs_default"]
    assert RETRIEVAL.searches[-1]["max_num_results"] == 20
    read_back = upstream.requests[1]["messages"][-1]["content"]
    assert read_back.startswith("【0:0†manual.pdf】\nThe pump runs at 40 bar.")
    assert "【0:1†notes.pdf】\nPressure was checked daily." in read_back

    (message,) = sdk.beta.threads.messages.list(thread.id, run_id=run.id).data
    text = message.content[0].text
    assert text.value == answer
    cited = [(a.text, a.file_citation.file_id) for a in text.annotations]
    assert cited == [("【0:0†manual.pdf】", "file-manual"), ("【0:1†notes.pdf】", "file-notes")]
    for annotation in text.annotations:
        assert text.value[annotation.start_index : annotation.end_index] == annotation.text


def test_step_shows_ranking_and_results_with_passages_only_when_included(
    sdk: OpenAI, upstream: ScriptedUpstream
) -> None:
    upstream.script(ToolCalls([("file_search", '{"queries": ["pump"]}')]), Text(["Done."]))
    tool = {
        "type": "file_search",
        "file_search": {"max_num_results": 1, "ranking_options": {"score_threshold": 0.5}},
    }
    thread, run = _run(sdk, tool)
    assert RETRIEVAL.searches[-1]["max_num_results"] == 1
    assert RETRIEVAL.searches[-1]["score_threshold"] == 0.5

    step = sdk.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data[0]
    (call,) = step.step_details.tool_calls
    assert call.type == "file_search"
    assert call.file_search.ranking_options.ranker == "default_2024_08_21"
    assert call.file_search.ranking_options.score_threshold == 0.5
    (result,) = call.file_search.results
    assert (result.file_id, result.file_name, result.score) == ("file-manual", "manual.pdf", 0.91)
    assert result.content is None

    included = sdk.beta.threads.runs.steps.retrieve(
        step.id, thread_id=thread.id, run_id=run.id, include=[FILE_SEARCH_CONTENT]
    )
    (result,) = included.step_details.tool_calls[0].file_search.results
    assert result.content[0].text == "The pump runs at 40 bar."


def test_citations_reach_the_sdk_stream_helpers(sdk: OpenAI, upstream: ScriptedUpstream) -> None:
    answer = "At 40 bar【0:0†manual.pdf】."
    upstream.script(
        ToolCalls([("file_search", '{"queries": ["pump"]}')]),
        Text(["At 40 bar", "【0:0†manual.pdf】."]),
    )
    assistant = sdk.beta.assistants.create(model="gpt-test", tools=[{"type": "file_search"}])
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "How hard?"}])
    done: list[Any] = []

    class Handler(AssistantEventHandler):
        @override
        def on_text_done(self, text: Any) -> None:
            done.append(text)

    with sdk.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=Handler()
    ) as stream:
        stream.until_done()
        (message,) = stream.get_final_messages()
        (step, _) = stream.get_final_run_steps()
    assert stream.get_final_run().status == "completed"
    (annotation,) = message.content[0].text.annotations
    assert (
        annotation.file_citation.file_id == "file-manual"
        and message.content[0].text.value == answer
    )
    assert done and done[-1].annotations[0].start_index == answer.index("【")
    assert (
        step.step_details.tool_calls[0].file_search.ranking_options.ranker == "default_2024_08_21"
    )


def test_unknown_include_value_is_refused(sdk: OpenAI, upstream: ScriptedUpstream) -> None:
    upstream.script(Text(["Hi."]))
    thread, run = _run(sdk, {"type": "file_search"})
    with pytest.raises(Exception) as refused:
        sdk.beta.threads.runs.steps.list(run.id, thread_id=thread.id, include=["nope"])  # type: ignore[list-item]
    assert getattr(refused.value, "status_code", None) == 400
