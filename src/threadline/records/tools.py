"""The tools of assistants and runs as stored (``schemas.common.dump_tools``), and the
``tool_resources`` that name their files and vector stores."""

from typing import Literal, NotRequired, TypeAlias, TypedDict

from threadline.records.files import AttributeFilter
from threadline.records.jsonvalue import JsonObject, JsonValue


class FunctionDefinition(TypedDict):
    name: str
    description: NotRequired[str]
    parameters: NotRequired[JsonObject]
    strict: NotRequired[bool]


class FunctionToolDefinition(TypedDict):
    type: Literal["function"]
    function: FunctionDefinition


class RankingOptions(TypedDict):
    ranker: str
    score_threshold: float


class FileSearchSettings(TypedDict, total=False):
    max_num_results: int
    ranking_options: RankingOptions
    # A response's file_search names its stores and filters on the tool itself; when they are
    # absent (Assistants), the stores come from ``tool_resources``.
    vector_store_ids: list[str]
    filters: AttributeFilter


class FileSearchToolDefinition(TypedDict):
    type: Literal["file_search"]
    file_search: NotRequired[FileSearchSettings]


class CodeInterpreterToolDefinition(TypedDict):
    type: Literal["code_interpreter"]


ToolDefinition: TypeAlias = (
    FunctionToolDefinition | FileSearchToolDefinition | CodeInterpreterToolDefinition
)


class CodeInterpreterResources(TypedDict, total=False):
    file_ids: list[str]


class FileSearchResources(TypedDict, total=False):
    vector_store_ids: list[str]
    # A request's helper stores, before ``services.tool_resources`` resolves them into ids.
    vector_stores: list[JsonObject]


class ToolResourcesRecord(TypedDict, total=False):
    code_interpreter: CodeInterpreterResources
    file_search: FileSearchResources


# "auto", or {"type": "json_object" | "json_schema" | "text", ...} verbatim.
ResponseFormatRecord: TypeAlias = JsonValue
