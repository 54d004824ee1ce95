"""Pieces shared by several request bodies, with OpenAI's limits."""

from collections.abc import Sequence
from typing import Annotated, Any, Literal, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from threadline.records.tools import ResponseFormatRecord, ToolDefinition, ToolResourcesRecord

METADATA_MAX_PAIRS = 16
METADATA_KEY_MAX = 64
METADATA_VALUE_MAX = 512


class RequestModel(BaseModel):
    """Unknown fields are an error (400), and values are not coerced between types."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _metadata_size(value: Any) -> Any:
    # Before the items are validated, so a body with a million pairs is refused at once.
    if isinstance(value, dict) and len(value) > METADATA_MAX_PAIRS:
        raise ValueError(f"metadata can have at most {METADATA_MAX_PAIRS} key-value pairs")
    return value


MetadataKey = Annotated[str, StringConstraints(max_length=METADATA_KEY_MAX)]
MetadataValue = Annotated[str, StringConstraints(max_length=METADATA_VALUE_MAX)]
Metadata = Annotated[dict[MetadataKey, MetadataValue], BeforeValidator(_metadata_size)]


class WithMetadata(RequestModel):
    metadata: Metadata | None = None


# Free-form JSON (function parameters, JSON schemas) is stored and echoed back verbatim; deeper
# nesting than any real schema needs would only exhaust the serializer's recursion budget.
JSON_MAX_DEPTH = 64


def _json_depth(value: Any, limit: int = JSON_MAX_DEPTH) -> int:
    stack = [(value, 1)]
    deepest = 0
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            break
        if isinstance(node, dict):
            stack.extend((item, depth + 1) for item in node.values())
        elif isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)
    return deepest


def _shallow_enough(value: dict[str, Any]) -> dict[str, Any]:
    if _json_depth(value) > JSON_MAX_DEPTH:
        raise ValueError(f"JSON objects can be nested at most {JSON_MAX_DEPTH} levels deep")
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_shallow_enough)]


FunctionName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]


class FunctionDefinition(RequestModel):
    name: FunctionName
    description: str | None = None
    parameters: JsonObject | None = None
    strict: bool | None = None


class FunctionTool(RequestModel):
    type: Literal["function"]
    function: FunctionDefinition


class RankingOptions(RequestModel):
    ranker: Literal["auto", "default_2024_08_21"] | None = None
    score_threshold: Annotated[float, Field(ge=0, le=1)]


class FileSearchSettings(RequestModel):
    max_num_results: Annotated[int, Field(ge=1, le=50)] | None = None
    ranking_options: RankingOptions | None = None


class FileSearchTool(RequestModel):
    type: Literal["file_search"]
    file_search: FileSearchSettings | None = None


class CodeInterpreterTool(RequestModel):
    type: Literal["code_interpreter"]


Tool = Annotated[FunctionTool | FileSearchTool | CodeInterpreterTool, Field(discriminator="type")]
Tools = Annotated[list[Tool], Field(max_length=128)]


class CodeInterpreterResources(RequestModel):
    file_ids: Annotated[list[str], Field(max_length=20)] = []


class StaticChunking(RequestModel):
    max_chunk_size_tokens: Annotated[int, Field(ge=100, le=4096)]
    chunk_overlap_tokens: Annotated[int, Field(ge=0)]


class ChunkingStrategy(RequestModel):
    type: Literal["auto", "static"]
    static: StaticChunking | None = None

    @model_validator(mode="after")
    def _static_settings_with_static_only(self) -> "ChunkingStrategy":
        if self.type == "static":
            if self.static is None:
                raise ValueError("'static' is required when type is 'static'")
            if self.static.chunk_overlap_tokens * 2 > self.static.max_chunk_size_tokens:
                raise ValueError("'chunk_overlap_tokens' must not exceed half of the chunk size")
        elif self.static is not None:
            raise ValueError("'static' may only be given when type is 'static'")
        return self


class VectorStoreHelper(WithMetadata):
    file_ids: Annotated[list[str], Field(max_length=10000)] = []
    chunking_strategy: ChunkingStrategy | None = None


class FileSearchResources(RequestModel):
    vector_store_ids: Annotated[list[str], Field(max_length=1)] | None = None
    vector_stores: Annotated[list[VectorStoreHelper], Field(max_length=1)] | None = None


class ToolResources(RequestModel):
    code_interpreter: CodeInterpreterResources | None = None
    file_search: FileSearchResources | None = None


class TextFormat(RequestModel):
    type: Literal["text"]


class JsonObjectFormat(RequestModel):
    type: Literal["json_object"]


class JsonSchemaSpec(RequestModel):
    name: FunctionName
    description: str | None = None
    schema_: JsonObject | None = Field(default=None, alias="schema")
    strict: bool | None = None

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class JsonSchemaFormat(RequestModel):
    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


ResponseFormat = (
    Literal["auto"]
    | Annotated[TextFormat | JsonObjectFormat | JsonSchemaFormat, Field(discriminator="type")]
)

ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]
Temperature = Annotated[float, Field(ge=0, le=2)]
TopP = Annotated[float, Field(ge=0, le=1)]


def dump_tools(tools: Sequence[BaseModel]) -> list[ToolDefinition]:
    """Tools as OpenAI echoes them back, with the defaults it fills in made explicit."""
    dumped: list[ToolDefinition] = []
    for tool in tools:
        item = tool.model_dump(by_alias=True, exclude_none=True)
        if item["type"] == "file_search":
            settings = item.setdefault("file_search", {})
            settings.setdefault(
                "ranking_options", {"ranker": "default_2024_08_21", "score_threshold": 0.0}
            )
            settings["ranking_options"].setdefault("ranker", "default_2024_08_21")
        elif item["type"] == "function":
            item["function"].setdefault("strict", False)
        dumped.append(cast(ToolDefinition, item))
    return dumped


def dump_tool_resources(resources: ToolResources | None) -> ToolResourcesRecord:
    if resources is None:
        return {}
    return cast(ToolResourcesRecord, resources.model_dump(exclude_none=True))


def dump_response_format(value: ResponseFormat | None) -> ResponseFormatRecord:
    if value is None or isinstance(value, str):
        return value or "auto"
    return value.model_dump(by_alias=True, exclude_none=True)
