"""A ``POST /v1/responses`` request compiled into what the run engine executes: the run row
(``kind`` ``response``) and the ``responses`` row that echoes the request.

The engine reads only run fields (docs/responses-design.md §c): flat Responses tools become the
Assistants' nested ones, ``text.format`` a ``response_format``, ``max_output_tokens`` the run's
completion budget. ``instructions`` are this response's own: a chain's earlier ones are not
context."""

from dataclasses import dataclass
from typing import cast

from threadline.errors import ModelNotAllowed
from threadline.ids import creation_key
from threadline.records.files import AttributeFilter
from threadline.records.jsonvalue import JsonObject, JsonValue
from threadline.records.response_rows import StoredResponse
from threadline.records.responses import ReasoningConfig, TextConfig
from threadline.records.runs import RunRecord
from threadline.records.tools import (
    FileSearchSettings,
    FunctionDefinition,
    ResponseFormatRecord,
    ToolDefinition,
    ToolResourcesRecord,
)
from threadline.schemas.response_tools import (
    AllowedTools,
    BuiltInChoice,
    CodeInterpreterTool,
    FileSearchTool,
    FunctionChoice,
    FunctionTool,
    echo_tools,
)
from threadline.schemas.responses import (
    ContextInput,
    CreateResponse,
    TextFormatJsonSchema,
    TextParam,
)
from threadline.services.run_snapshot import Creator, RunIdentity, RunSettings, queued_run


@dataclass(frozen=True, slots=True)
class ResponseIds:
    """The ids a response is created with: its own, its run's, the thread it runs on."""

    response_id: str
    run_id: str
    thread_id: str


def run_for_response(
    project_id: str,
    request: CreateResponse,
    made: ResponseIds,
    now: int,
    expiry_seconds: int,
    creator: Creator | None,
) -> RunRecord:
    """The run a response executes as (``queued``; the caller adds the lease columns). The
    input's system and developer messages are items of the thread, not instructions."""
    model = request.model
    if creator is not None and creator.models is not None and model not in creator.models:
        raise ModelNotAllowed(model)
    tools, resources = run_tools(request)
    tool_choice, tools = _tool_choice(request, tools)
    instructions = request.instructions or None
    settings: RunSettings = {
        "model": model,
        "instructions": instructions,
        "tools": tools,
        "tool_resources": resources,
        "metadata": request.metadata or {},
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_prompt_tokens": None,
        "max_completion_tokens": request.max_output_tokens,
        "truncation_strategy": {"type": "auto", "last_messages": None},
        "tool_choice": tool_choice,
        "parallel_tool_calls": request.parallel_tool_calls is not False,
        "response_format": response_format(request.text),
        "reasoning_effort": request.reasoning.effort if request.reasoning else None,
    }
    identity = RunIdentity(made.run_id, project_id, made.thread_id, "")
    run = queued_run(identity, now, expiry_seconds, creator, settings)
    run["kind"] = "response"
    run["max_tool_calls"] = request.max_tool_calls
    return run


def stored_response(
    project_id: str, request: CreateResponse, made: ResponseIds, now: int
) -> StoredResponse:
    """The echo of the request, as ``GET /v1/responses/{id}`` shows it."""
    reasoning: ReasoningConfig = {
        "effort": request.reasoning.effort if request.reasoning else None,
        "summary": request.reasoning.summary if request.reasoning else None,
    }
    return {
        "id": made.response_id,
        "project_id": project_id,
        "run_id": made.run_id,
        "thread_id": made.thread_id,
        "created_at": now,
        "previous_response_id": request.previous_response_id,
        "conversation_id": request.conversation_id,
        "instructions": request.instructions,
        "text": text_echo(request.text),
        "tools": echo_tools(request.tools),
        "tool_choice": _dump(request.tool_choice) if request.tool_choice is not None else "auto",
        "include": list(request.include or []),
        "reasoning": reasoning,
        "truncation": request.truncation or "disabled",
        "max_output_tokens": request.max_output_tokens,
        "top_logprobs": request.top_logprobs,
        "store": request.stores,
        "background": bool(request.background),
        "user": request.user,
        "safety_identifier": request.safety_identifier,
        "prompt_cache_key": request.prompt_cache_key,
        "service_tier": request.service_tier or "default",
        "metadata": request.metadata or {},
        "container_id": container_id(request, made.thread_id),
        "input_first": None,
        "input_last": None,
        "output": None,
        "next_sequence": 0,
    }


def container_id(request: CreateResponse, thread_id: str) -> str | None:
    """The container code_interpreter runs in: the sandbox session is per thread, so an
    ``auto`` container is named after the thread; an explicit one keeps its id."""
    for tool in request.tools or ():
        if isinstance(tool, CodeInterpreterTool):
            if isinstance(tool.container, str):
                return tool.container
            return "cntr_" + creation_key(thread_id)
    return None


def run_tools(request: ContextInput) -> tuple[list[ToolDefinition], ToolResourcesRecord | None]:
    """The request's tools as a run's, and the tool resources the built-in ones read (the
    engine's file_search reads the run's stores; code_interpreter its files)."""
    tools: list[ToolDefinition] = []
    resources: ToolResourcesRecord = {}
    for tool in request.tools or ():
        if isinstance(tool, FunctionTool):
            echoed = echo_tools([tool])[0]
            function: FunctionDefinition = {"name": tool.name}
            if tool.description is not None:
                function["description"] = tool.description
            parameters = echoed.get("parameters")
            if isinstance(parameters, dict):
                function["parameters"] = parameters
            function["strict"] = bool(echoed.get("strict"))
            tools.append({"type": "function", "function": function})
        elif isinstance(tool, FileSearchTool):
            tools.append({"type": "file_search", "file_search": _file_search_settings(tool)})
        elif isinstance(tool, CodeInterpreterTool):
            tools.append({"type": "code_interpreter"})
            container = tool.container
            if not isinstance(container, str) and container.file_ids:
                files = resources.setdefault("code_interpreter", {}).setdefault("file_ids", [])
                files.extend(container.file_ids)
    return tools, resources or None


def _file_search_settings(tool: FileSearchTool) -> FileSearchSettings:
    """The tool's own stores, filters and options, read by the engine's file_search."""
    settings: FileSearchSettings = {"vector_store_ids": list(tool.vector_store_ids)}
    if tool.max_num_results is not None:
        settings["max_num_results"] = tool.max_num_results
    if tool.filters is not None:
        settings["filters"] = cast(AttributeFilter, tool.filters.model_dump())
    ranking = tool.ranking_options
    if ranking is not None:
        settings["ranking_options"] = {
            "ranker": ranking.ranker or "auto",
            "score_threshold": ranking.score_threshold or 0.0,
        }
    return settings


def _tool_choice(
    request: CreateResponse, tools: list[ToolDefinition]
) -> tuple[JsonValue, list[ToolDefinition]]:
    """The run's tool choice, and its tools (``allowed_tools`` restricts them)."""
    choice = request.tool_choice
    if choice is None:
        return "auto", tools
    if isinstance(choice, str):
        return choice, tools
    if isinstance(choice, FunctionChoice):
        return {"type": "function", "function": {"name": choice.name}}, tools
    if isinstance(choice, BuiltInChoice):
        return {"type": choice.type}, tools
    assert isinstance(choice, AllowedTools)
    allowed = [_tool_key_of_allowed(entry) for entry in choice.tools]
    kept = [tool for tool in tools if _tool_key(tool) in allowed]
    return choice.mode, kept


def _tool_key(tool: ToolDefinition) -> tuple[str, str]:
    if tool["type"] == "function":
        return "function", tool["function"]["name"]
    return tool["type"], ""


def _tool_key_of_allowed(entry: JsonObject) -> tuple[str, str]:
    kind = str(entry.get("type") or "")
    return kind, str(entry.get("name") or "") if kind == "function" else ""


def response_format(text: TextParam | None) -> ResponseFormatRecord:
    """``text.format`` as the run's ``response_format`` (json_schema nested as the Chat
    Completions API takes it)."""
    given = text.format if text is not None else None
    if given is None or given.type == "text":
        return {"type": "text"}
    if isinstance(given, TextFormatJsonSchema):
        schema: JsonObject = {"name": given.name, "schema": cast(JsonObject, given.schema_)}
        if given.description is not None:
            schema["description"] = given.description
        if given.strict is not None:
            schema["strict"] = given.strict
        return {"type": "json_schema", "json_schema": schema}
    return {"type": "json_object"}


def text_echo(text: TextParam | None) -> TextConfig:
    given = text.format if text is not None else None
    echoed: TextConfig = {
        "format": _dump(given) if given is not None else {"type": "text"}  # type: ignore[typeddict-item]
    }
    if text is not None and text.verbosity is not None:
        echoed["verbosity"] = text.verbosity
    return echoed


def _dump(model: object) -> JsonObject:
    dump = getattr(model, "model_dump", None)
    if dump is None:
        return cast(JsonObject, model)
    return cast(JsonObject, dump(by_alias=True, exclude_none=True))
