"""Tools and tool choice of ``POST /v1/responses``, and how a response echoes them.

Tools are flat here (``{"type": "function", "name", "parameters"}``), unlike the Assistants API's
``{"type": "function", "function": {...}}``. A tool type OpenAI has and this server does not
(``web_search``, ``image_generation``, ``computer_use_preview``, ``mcp``…) is a 400 that names it,
with ``param`` ``tools[i].type``."""

from typing import Annotated, Any, Literal, cast

from pydantic import BeforeValidator, Field

from threadline.errors import InvalidRequest
from threadline.records.jsonvalue import JsonObject as JsonDocument
from threadline.records.responses import (
    AutoContainer,
    CodeInterpreterToolRecord,
    FileSearchToolRecord,
    FunctionToolRecord,
    ResponseTool,
)
from threadline.schemas.common import FunctionName, JsonObject, RequestModel
from threadline.schemas.response_items import supported_values

SUPPORTED_TOOL_TYPES = ("function", "file_search", "code_interpreter")
MAX_TOOLS = 128


class FunctionTool(RequestModel):
    type: Literal["function"]
    name: FunctionName
    description: Annotated[str, Field(max_length=1024 * 1024)] | None = None
    parameters: JsonObject | None = None
    strict: bool | None = None


ComparisonType = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"]
FilterValue = str | float | bool | list[str | float]


class ComparisonFilter(RequestModel):
    type: ComparisonType
    key: Annotated[str, Field(min_length=1, max_length=256)]
    value: FilterValue


class CompoundFilter(RequestModel):
    type: Literal["and", "or"]
    filters: Annotated[list["Filter"], Field(min_length=1, max_length=64)]


Filter = Annotated[ComparisonFilter | CompoundFilter, Field(discriminator="type")]
CompoundFilter.model_rebuild()


class HybridSearch(RequestModel):
    embedding_weight: float
    text_weight: float


class RankingOptions(RequestModel):
    ranker: Literal["auto", "default-2024-11-15"] | None = None
    score_threshold: Annotated[float, Field(ge=0, le=1)] | None = None
    hybrid_search: HybridSearch | None = None


class FileSearchTool(RequestModel):
    type: Literal["file_search"]
    vector_store_ids: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=2)]
    filters: Filter | None = None
    max_num_results: Annotated[int, Field(ge=1, le=50)] | None = None
    ranking_options: RankingOptions | None = None


class AutoContainerParam(RequestModel):
    type: Literal["auto"]
    file_ids: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=50)] | None = (
        None
    )
    memory_limit: Literal["1g", "4g", "16g", "64g"] | None = None


class CodeInterpreterTool(RequestModel):
    type: Literal["code_interpreter"]
    container: Annotated[str, Field(min_length=1, max_length=64)] | AutoContainerParam


def _known_tool_types(tools: Any) -> Any:
    if isinstance(tools, list):
        for index, tool in enumerate(tools):
            kind = tool.get("type") if isinstance(tool, dict) else None
            if isinstance(kind, str) and kind not in SUPPORTED_TOOL_TYPES:
                raise InvalidRequest(
                    f"Invalid value: '{kind}'. Supported values are: "
                    f"{supported_values(SUPPORTED_TOOL_TYPES)}.",
                    param=f"tools[{index}].type",
                    code="invalid_value",
                )
    return tools


ResponseToolParam = Annotated[
    FunctionTool | FileSearchTool | CodeInterpreterTool, Field(discriminator="type")
]
ResponseTools = Annotated[
    list[ResponseToolParam], Field(max_length=MAX_TOOLS), BeforeValidator(_known_tool_types)
]


class FunctionChoice(RequestModel):
    type: Literal["function"]
    name: FunctionName


class BuiltInChoice(RequestModel):
    type: Literal["file_search", "code_interpreter"]


class AllowedTools(RequestModel):
    type: Literal["allowed_tools"]
    mode: Literal["auto", "required"]
    tools: Annotated[list[JsonObject], Field(max_length=MAX_TOOLS)]


ToolChoice = (
    Literal["none", "auto", "required"]
    | Annotated[FunctionChoice | BuiltInChoice | AllowedTools, Field(discriminator="type")]
)


# -- the echo ------------------------------------------------------------------------------


def echo_tools(tools: list[ResponseToolParam] | None) -> list[ResponseTool]:
    """Tools as OpenAI echoes them: a function's ``strict`` decided (strict unless the client
    said otherwise or the schema cannot be strict), file_search's defaults filled in."""
    echoed: list[ResponseTool] = []
    for tool in tools or ():
        if isinstance(tool, FunctionTool):
            echoed.append(_echo_function(tool))
        elif isinstance(tool, FileSearchTool):
            echoed.append(_echo_file_search(tool))
        else:
            echoed.append(_echo_code_interpreter(tool))
    return echoed


def _echo_function(tool: FunctionTool) -> FunctionToolRecord:
    parameters = cast(JsonDocument | None, tool.parameters)
    strict = tool.strict
    if strict is None:
        normalised = strict_schema(parameters) if parameters is not None else None
        strict = normalised is not None
        parameters = normalised if normalised is not None else parameters
    elif strict and parameters is not None:
        parameters = strict_schema(parameters) or parameters
    return {
        "type": "function",
        "name": tool.name,
        "description": tool.description,
        "parameters": parameters,
        "strict": strict,
    }


def _echo_file_search(tool: FileSearchTool) -> FileSearchToolRecord:
    ranking = tool.ranking_options
    echoed: FileSearchToolRecord = {
        "type": "file_search",
        "vector_store_ids": list(tool.vector_store_ids),
        "filters": cast(JsonDocument, tool.filters.model_dump()) if tool.filters else None,
        "ranking_options": {
            "ranker": (ranking.ranker if ranking else None) or "auto",
            "score_threshold": float((ranking.score_threshold if ranking else None) or 0.0),
        },
    }
    if tool.max_num_results is not None:
        echoed["max_num_results"] = tool.max_num_results
    return echoed


def _echo_code_interpreter(tool: CodeInterpreterTool) -> CodeInterpreterToolRecord:
    if isinstance(tool.container, str):
        return {"type": "code_interpreter", "container": tool.container}
    container: AutoContainer = {"type": "auto"}
    if tool.container.file_ids:
        container["file_ids"] = list(tool.container.file_ids)
    return {"type": "code_interpreter", "container": container}


def strict_schema(schema: JsonDocument) -> JsonDocument | None:
    """``schema`` as strict mode reads it (every object closed with ``additionalProperties:
    false``), or None when it cannot be strict: an object that allows other keys, or whose
    properties are not all required (strict mode has no optional keys)."""
    return _strict_node(schema)


_SUBSCHEMA_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")
_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions")


def _strict_node(node: JsonDocument) -> JsonDocument | None:
    result: JsonDocument = dict(node)
    if node.get("type") == "object" or "properties" in node:
        if node.get("additionalProperties", False) is not False:
            return None
        properties = node.get("properties") or {}
        if not isinstance(properties, dict):
            return None
        required = node.get("required", [] if not properties else None)
        if not isinstance(required, list) or set(required) != set(properties):
            return None
        result["additionalProperties"] = False
        result["required"] = list(required)
    for key in _SUBSCHEMA_MAPS:
        children = node.get(key)
        if isinstance(children, dict):
            strict_children: JsonDocument = {}
            for name, child in children.items():
                if not isinstance(child, dict):
                    return None
                strict_child = _strict_node(child)
                if strict_child is None:
                    return None
                strict_children[name] = strict_child
            result[key] = strict_children
    for key in _SUBSCHEMA_LISTS:
        children = node.get(key)
        if isinstance(children, list):
            strict_list: list[Any] = []
            for child in children:
                strict_child = _strict_node(child) if isinstance(child, dict) else None
                if strict_child is None:
                    return None
                strict_list.append(strict_child)
            result[key] = strict_list
    items = node.get("items")
    if isinstance(items, dict):
        strict_items = _strict_node(items)
        if strict_items is None:
            return None
        result["items"] = strict_items
    return result
