"""file_search: the model searches the run's vector stores and cites what it used.

The model gets a ``file_search`` function taking search queries. Results go back to it as
passages headed by source markers, ``【{call}:{result}†{file name}】`` — ``call`` numbers this
run's file_search calls from 0, ``result`` the call's results — and it is told to cite with
them. When the reply is final, every marker it kept becomes a ``file_citation`` annotation
(exact ``start_index``/``end_index``, the result's ``file_id``), as OpenAI's answers carried.

The step shows the call as OpenAI did: ``ranking_options`` and ``results`` (file id, name,
score; the passages themselves only when a client asks for them with ``include[]``)."""

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson

from threadline.engine.retrieval.base import Retrieval, SearchHit
from threadline.engine.tools.base import MessageExtras, ServerCall, ToolContext, ToolOutcome

# OpenAI's default for file_search.max_num_results (it gave gpt-3.5 models 5; we don't).
DEFAULT_MAX_RESULTS = 20
# What ``ranker: auto`` resolved to at OpenAI; steps show the resolved ranker.
DEFAULT_RANKER = "default_2024_08_21"
_MARKER = re.compile(r"【(\d+):(\d+)†([^】]*)】")

StoresOf = Callable[[dict[str, Any]], Awaitable[list[str]]]
FileNames = Callable[[Sequence[str]], Awaitable[dict[str, str]]]

_PARAMETERS = {
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


class _Stream:
    """A file_search call is announced once, with its ranking options and no results yet; its
    queries are not shown while they stream (OpenAI showed none either)."""

    def __init__(self, call_id: str, index: int, tool: dict[str, Any]) -> None:
        self._call_id, self._index = call_id, index
        self._search = {"ranking_options": _ranking(_options(tool)), "results": []}

    def opening(self) -> dict[str, Any]:
        return {"index": self._index, **self.snapshot()}

    def feed(self, fragment: str) -> dict[str, Any] | None:
        return None

    def snapshot(self) -> dict[str, Any]:
        return {"id": self._call_id, "type": "file_search", "file_search": self._search}


class FileSearchTool:
    type = "file_search"
    function_name = "file_search"

    def __init__(self, retrieval: Retrieval, stores_of: StoresOf, file_names: FileNames) -> None:
        """``stores_of(run)``: the vector stores a run searches (its assistant's and its
        thread's); ``file_names(ids)``: file names by id, for markers and results."""
        self._retrieval = retrieval
        self._stores_of = stores_of
        self._file_names = file_names

    def definition(self, tool: dict[str, Any]) -> dict[str, Any]:
        function = {"name": self.function_name, "description": _DESCRIPTION}
        return {"type": "function", "function": {**function, "parameters": _PARAMETERS}}

    def start_call(self, call_id: str, index: int, tool: dict[str, Any]) -> _Stream:
        return _Stream(call_id, index, tool)

    async def execute(self, call: ServerCall, context: ToolContext) -> ToolOutcome:
        tool = next((t for t in context.run["tools"] if t["type"] == "file_search"), {})
        options = _options(tool)
        ranking = _ranking(options)
        queries = _queries(call.arguments)
        stores = await self._stores_of(context.run)
        hits: list[SearchHit] = []
        if stores and queries:
            hits = await self._retrieval.search(
                store_ids=stores,
                queries=queries,
                max_results=options["max_num_results"],
                score_threshold=options["score_threshold"],
            )
        names = await self._file_names(sorted({hit.file_id for hit in hits}))
        number = len(context.earlier_calls)
        results = [
            {
                "file_id": hit.file_id,
                "file_name": names.get(hit.file_id, hit.file_id),
                "score": hit.score,
                "content": [{"type": "text", "text": hit.text}],
            }
            for hit in hits
        ]
        details = {
            "id": call.id,
            "type": "file_search",
            "file_search": {"ranking_options": ranking, "results": results},
        }
        return ToolOutcome(details=details, output=_model_output(number, results, bool(stores)))

    def annotate(self, text: str, calls: list[dict[str, Any]]) -> MessageExtras:
        annotations = []
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


def _options(tool: dict[str, Any]) -> dict[str, Any]:
    """The run's file_search options, defaults filled in."""
    settings = tool.get("file_search") or {}
    ranking = settings.get("ranking_options") or {}
    ranker = ranking.get("ranker") or "auto"
    return {
        "max_num_results": settings.get("max_num_results") or DEFAULT_MAX_RESULTS,
        "ranker": DEFAULT_RANKER if ranker == "auto" else ranker,
        "score_threshold": float(ranking.get("score_threshold") or 0.0),
    }


def _ranking(options: dict[str, Any]) -> dict[str, Any]:
    return {"ranker": options["ranker"], "score_threshold": options["score_threshold"]}


def _queries(arguments: str) -> list[str]:
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


def _model_output(number: int, results: list[dict[str, Any]], has_stores: bool) -> str:
    if not has_stores:
        return "No files are available to search."
    if not results:
        return "No results found in the files for these queries."
    passages = [
        f"【{number}:{index}†{result['file_name']}】\n{result['content'][0]['text']}"
        for index, result in enumerate(results)
    ]
    return "\n\n".join(passages)


def _cited_file(calls: list[dict[str, Any]], call_number: int, result_number: int) -> str | None:
    if not 0 <= call_number < len(calls):
        return None
    results = (calls[call_number].get("file_search") or {}).get("results") or []
    if not 0 <= result_number < len(results):
        return None
    return str(results[result_number]["file_id"])
