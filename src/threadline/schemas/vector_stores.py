"""Request bodies for files and vector stores, as the spec defines them."""

from typing import Annotated, Any, Literal, Union, cast

from pydantic import BeforeValidator, Field, StringConstraints, model_validator

from threadline.records.files import AttributeFilter
from threadline.schemas.common import (
    METADATA_MAX_PAIRS,
    ChunkingStrategy,
    RequestModel,
    WithMetadata,
    _json_depth,
)

FilePurpose = Literal["assistants", "batch", "fine-tune", "vision", "user_data", "evals"]
FileId = Annotated[str, Field(min_length=1, max_length=64)]
MAX_BATCH_FILES = 2000
# OpenAI documents no bound for these; ours keep one search from costing seconds.
MAX_QUERIES = 32
MAX_QUERY_CHARS = 8192
MAX_FILTER_DEPTH = 16


class FileExpiresAfter(RequestModel):
    anchor: Literal["created_at"]
    seconds: Annotated[int, Field(ge=3600, le=2_592_000)]


class UploadForm(RequestModel):
    """The non-file fields of ``POST /files`` (multipart)."""

    purpose: FilePurpose
    expires_after: FileExpiresAfter | None = None


class StoreExpiresAfter(RequestModel):
    anchor: Literal["last_active_at"]
    days: Annotated[int, Field(ge=1, le=365)]


def _attributes_size(value: Any) -> Any:
    if isinstance(value, dict) and len(value) > METADATA_MAX_PAIRS:
        raise ValueError(f"attributes can have at most {METADATA_MAX_PAIRS} key-value pairs")
    return value


AttributeValue = Annotated[str, StringConstraints(max_length=512)] | bool | int | float
Attributes = Annotated[
    dict[Annotated[str, StringConstraints(max_length=64)], AttributeValue],
    BeforeValidator(_attributes_size),
]


class CreateVectorStore(WithMetadata):
    file_ids: Annotated[list[FileId], Field(max_length=500)] = []
    name: Annotated[str, Field(max_length=256)] | None = None
    description: Annotated[str, Field(max_length=512)] | None = None
    expires_after: StoreExpiresAfter | None = None
    chunking_strategy: ChunkingStrategy | None = None


class ModifyVectorStore(WithMetadata):
    name: Annotated[str, Field(max_length=256)] | None = None
    expires_after: StoreExpiresAfter | None = None


class CreateVectorStoreFile(RequestModel):
    file_id: FileId
    chunking_strategy: ChunkingStrategy | None = None
    attributes: Attributes | None = None


class UpdateVectorStoreFile(RequestModel):
    attributes: Attributes | None


class CreateFileBatch(RequestModel):
    file_ids: Annotated[list[FileId], Field(min_length=1, max_length=MAX_BATCH_FILES)] | None = None
    files: (
        Annotated[list[CreateVectorStoreFile], Field(min_length=1, max_length=MAX_BATCH_FILES)]
        | None
    ) = None
    chunking_strategy: ChunkingStrategy | None = None
    attributes: Attributes | None = None

    @model_validator(mode="after")
    def _file_ids_or_files(self) -> "CreateFileBatch":
        if (self.file_ids is None) == (self.files is None):
            raise ValueError("exactly one of 'file_ids' or 'files' must be given")
        return self


ScalarValue = str | bool | int | float


class ComparisonFilter(RequestModel):
    type: Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"]
    key: Annotated[str, Field(max_length=64)]
    value: ScalarValue | Annotated[list[str | int | float], Field(max_length=100)]

    @model_validator(mode="after")
    def _lists_for_membership_only(self) -> "ComparisonFilter":
        if (self.type in ("in", "nin")) != isinstance(self.value, list):
            raise ValueError("'in' and 'nin' take a list value; the other comparisons a scalar")
        return self


def _shallow_filter(value: Any) -> Any:
    if _json_depth(value, MAX_FILTER_DEPTH * 2) > MAX_FILTER_DEPTH * 2:
        raise ValueError(f"filters can be nested at most {MAX_FILTER_DEPTH} levels deep")
    return value


class CompoundFilter(RequestModel):
    type: Literal["and", "or"]
    filters: Annotated[
        list[Annotated[Union[ComparisonFilter, "CompoundFilter"], Field(discriminator="type")]],
        Field(max_length=100),
    ]


Filter = Annotated[
    ComparisonFilter | CompoundFilter, Field(discriminator="type"), BeforeValidator(_shallow_filter)
]


def dump_filter(value: ComparisonFilter | CompoundFilter) -> AttributeFilter:
    """The filter as the retrieval seam applies it (``providers.vector_index.filters``)."""
    return cast(AttributeFilter, value.model_dump())


class SearchRankingOptions(RequestModel):
    ranker: Literal["none", "auto", "default-2024-11-15"] | None = None
    score_threshold: Annotated[float, Field(ge=0, le=1)] = 0.0


Query = Annotated[str, Field(max_length=MAX_QUERY_CHARS)]


class SearchVectorStore(RequestModel):
    query: Query | Annotated[list[Query], Field(min_length=1, max_length=MAX_QUERIES)]
    rewrite_query: bool = False
    max_num_results: Annotated[int, Field(ge=1, le=50)] = 10
    filters: Filter | None = None
    ranking_options: SearchRankingOptions | None = None
