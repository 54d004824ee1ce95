"""file_search: the model searches the run's vector stores and cites what it used.

The model gets a ``file_search`` function taking search queries. Results go back to it as
passages headed by source markers, ``【{call}:{result}†{file name}】`` — ``call`` numbers this
run's file_search calls from 0, ``result`` the call's results — and it is told to cite with
them. When the reply is final, every marker it kept becomes a ``file_citation`` annotation
(exact ``start_index``/``end_index``, the result's ``file_id``), as OpenAI's answers carried.

The step shows the call as OpenAI did: ``ranking_options`` and ``results`` (file id, name,
score; the passages themselves only when a client asks for them with ``include[]``)."""

import asyncio
import re
import time
from collections.abc import Sequence
from typing import Protocol, TypedDict

import orjson

from threadline.engine.tools.base import MessageExtras, ServerCall, ToolContext, ToolOutcome
from threadline.providers.llm.base import ChatTool
from threadline.records.files import AttributeFilter
from threadline.records.jsonvalue import JsonObject
from threadline.records.runs import (
    FileSearchCallDetails,
    FileSearchRanking,
    FileSearchResult,
    FileSearchToolCall,
    ServerToolCall,
    ToolCallDelta,
)
from threadline.records.threads import Annotation
from threadline.records.tools import (
    FileSearchSettings,
    FunctionDefinition,
    ToolDefinition,
    ToolResourcesRecord,
)

# OpenAI's default for file_search.max_num_results (it gave gpt-3.5 models 5; we don't).
DEFAULT_MAX_RESULTS = 20
# What ``ranker: auto`` resolved to at OpenAI; steps show the resolved ranker.
DEFAULT_RANKER = "default_2024_08_21"
_MARKER = re.compile(r"【(\d+):(\d+)†([^】]*)】")

# While files of the searched stores are still being indexed, a search waits for them (as
# OpenAI's runs did) for up to this long, looking again this often.
INGESTION_WAIT_SECONDS = 30.0
_INGESTION_POLL_SECONDS = 0.25


class Found(Protocol):
    file_id: str
    filename: str
    score: float
    text: str


class StoreSearch(Protocol):
    """The vector stores' side (``services.file_search.FileSearch``)."""

    async def stores_for_run(
        self, project_id: str, run_tool_resources: ToolResourcesRecord | None, thread_id: str
    ) -> list[str]: ...

    async def files_in_progress(self, project_id: str, store_ids: Sequence[str]) -> int: ...

    async def search(
        self,
        project_id: str,
        store_ids: Sequence[str],
        queries: Sequence[str],
        *,
        max_num_results: int,
        score_threshold: float = 0.0,
        filters: AttributeFilter | None = None,
    ) -> Sequence[Found]: ...


_PARAMETERS: JsonObject = {
    "type": "object",
    "properties": {
        "queries": {
            "type": "array",
            "items": {"type": "string"},
            "description": (
                "Search queries. Rephrase the user's question as a standalone query; add a "
                "variant or two with other wording or the key terms."
            ),
        }
    },
    "required": ["queries"],
}
_DESCRIPTION = (
    "Search the files the user has provided for passages relevant to the queries. Use it "
    "whenever the answer may be in those files. Cite the passages you use with their markers, "
    "exactly as given, e.g. 【0:1†report.pdf】."
)


class _Options(TypedDict):
    max_num_results: int
    ranker: str
    score_threshold: float


class _Stream:
    """A file_search call is announced once, with its ranking options and no results yet; its
    queries are not shown while they stream (OpenAI showed none either)."""

    def __init__(self, call_id: str, index: int, tool: ToolDefinition) -> None:
        self._call_id, self._index = call_id, index
        self._search: FileSearchCallDetails = {
            "ranking_options": _ranking(_options(_settings([tool]))),
            "results": [],
        }

    def opening(self) -> ToolCallDelta:
        return {
            "index": self._index,
            "id": self._call_id,
            "type": "file_search",
            "file_search": self._search,
        }

    def feed(self, fragment: str) -> ToolCallDelta | None:
        return None

    def snapshot(self) -> FileSearchToolCall:
        return {"id": self._call_id, "type": "file_search", "file_search": self._search}


class FileSearchTool:
    type = "file_search"
    function_name = "file_search"

    def __init__(
        self, stores: StoreSearch, ingestion_wait_seconds: float = INGESTION_WAIT_SECONDS
    ) -> None:
        self._stores = stores
        self._ingestion_wait = ingestion_wait_seconds

    def definition(self, tool: ToolDefinition) -> ChatTool:
        function: FunctionDefinition = {
            "name": self.function_name,
            "description": _DESCRIPTION,
            "parameters": _PARAMETERS,
        }
        return {"type": "function", "function": function}

    def start_call(self, call_id: str, index: int, tool: ToolDefinition) -> _Stream:
        return _Stream(call_id, index, tool)

    async def execute(self, call: ServerCall, context: ToolContext) -> ToolOutcome:
        settings = _settings(context.run["tools"])
        options = _options(settings)
        ranking = _ranking(options)
        queries = queries_of(call.arguments)
        run = context.run
        if run.get("kind") == "response":
            # A response's file_search_call item shows its queries while it searches.
            context.publish_delta(
                {"index": call.index, "type": "file_search", "file_search": {"queries": queries}}
            )
        project_id = run["project_id"]
        resources = run["tool_resources"]
        if "vector_store_ids" in settings:  # the tool names its stores (a response's)
            resources = {"file_search": {"vector_store_ids": settings["vector_store_ids"]}}
        stores = await self._stores.stores_for_run(project_id, resources, run["thread_id"])
        hits: Sequence[Found] = []
        if stores and queries:
            await self._wait_for_ingestion(project_id, stores)
            hits = await self._stores.search(
                project_id,
                stores,
                queries,
                max_num_results=options["max_num_results"],
                score_threshold=options["score_threshold"],
                filters=settings.get("filters"),
            )
        number = len(context.earlier_calls)
        results: list[FileSearchResult] = [
            {
                "file_id": hit.file_id,
                "file_name": hit.filename,
                "score": hit.score,
                "content": [{"type": "text", "text": hit.text}],
            }
            for hit in hits
        ]
        details: FileSearchToolCall = {
            "id": call.id,
            "type": "file_search",
            "file_search": {"ranking_options": ranking, "results": results},
        }
        return ToolOutcome(details=details, output=_model_output(number, results, bool(stores)))

    async def _wait_for_ingestion(self, project_id: str, stores: list[str]) -> None:
        """Files just attached are searchable once indexed: give them a moment."""
        deadline = time.monotonic() + self._ingestion_wait
        while await self._stores.files_in_progress(project_id, stores):
            if time.monotonic() >= deadline:
                return  # search what is ready rather than fail the run
            await asyncio.sleep(_INGESTION_POLL_SECONDS)

    def annotate(self, text: str, calls: Sequence[ServerToolCall]) -> MessageExtras:
        annotations: list[Annotation] = []
        for match in _MARKER.finditer(text):
            call_number, result_number = int(match.group(1)), int(match.group(2))
            file_id = _cited_file(calls, call_number, result_number)
            if file_id is None:
                continue  # a marker the model made up: left as text, not cited
            annotations.append(
                {
                    "type": "file_citation",
                    "text": match.group(0),
                    "start_index": match.start(),
                    "end_index": match.end(),
                    "file_citation": {"file_id": file_id},
                }
            )
        return MessageExtras(annotations=annotations)


def _settings(tools: Sequence[ToolDefinition]) -> FileSearchSettings:
    """The settings of the first file_search tool among ``tools`` ({} if there is none)."""
    for tool in tools:
        if tool["type"] == "file_search":
            return tool.get("file_search") or {}
    return {}


def _options(settings: FileSearchSettings) -> _Options:
    """The run's file_search options, defaults filled in."""
    ranking = settings.get("ranking_options")
    ranker = (ranking.get("ranker") if ranking else None) or "auto"
    return {
        "max_num_results": settings.get("max_num_results") or DEFAULT_MAX_RESULTS,
        "ranker": DEFAULT_RANKER if ranker == "auto" else ranker,
        "score_threshold": float((ranking.get("score_threshold") if ranking else None) or 0.0),
    }


def _ranking(options: _Options) -> FileSearchRanking:
    return {"ranker": options["ranker"], "score_threshold": options["score_threshold"]}


def queries_of(arguments: str) -> list[str]:
    """The model's queries; a lone ``query`` string is accepted too (models improvise)."""
    try:
        parsed = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return []
    if not isinstance(parsed, dict):
        return []
    queries = parsed.get("queries", parsed.get("query", []))
    if isinstance(queries, str):
        queries = [queries]
    if not isinstance(queries, list):
        return []
    return [q.strip() for q in queries if isinstance(q, str) and q.strip()][:5]


def _model_output(number: int, results: list[FileSearchResult], has_stores: bool) -> str:
    if not has_stores:
        return "No files are available to search."
    if not results:
        return "No results found in the files for these queries."
    passages = [
        f"【{number}:{index}†{result['file_name']}】\n{result['content'][0]['text']}"
        for index, result in enumerate(results)
    ]
    return "\n\n".join(passages)


def _cited_file(
    calls: Sequence[ServerToolCall], call_number: int, result_number: int
) -> str | None:
    if not 0 <= call_number < len(calls):
        return None
    call = calls[call_number]
    results = call["file_search"]["results"] if call["type"] == "file_search" else []
    if not 0 <= result_number < len(results):
        return None
    return str(results[result_number]["file_id"])
