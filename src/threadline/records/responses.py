"""Responses and conversations: the rows they are stored as (see docs/responses-design.md) and
the items they are made of, in the Responses API's own shapes.

A response is a run (``runs``) plus the request's echo (``responses``); a conversation is a thread
(``threads``); a message item is a thread message (``messages``), every other item a row of
``items``. Output items are kept here as the SDK shows them (``schemas.response_objects``
validates them), so that an item read back is byte for byte the item streamed."""

from dataclasses import dataclass
from typing import Final, Literal, NotRequired, TypeAlias, TypedDict

from threadline.records.jsonvalue import JsonObject, JsonValue, Metadata

ResponseStatus: TypeAlias = Literal[
    "queued", "in_progress", "completed", "incomplete", "failed", "cancelled"
]
ItemStatus: TypeAlias = Literal["in_progress", "completed", "incomplete"]
MessageItemRole: TypeAlias = Literal["user", "assistant", "system", "developer"]


# -- content parts -------------------------------------------------------------------------


class InputTextPart(TypedDict):
    type: Literal["input_text"]
    text: str


class InputImagePart(TypedDict):
    type: Literal["input_image"]
    detail: Literal["auto", "low", "high"]
    image_url: NotRequired[str | None]
    file_id: NotRequired[str | None]


class InputFilePart(TypedDict):
    type: Literal["input_file"]
    file_id: NotRequired[str | None]
    file_data: NotRequired[str]
    file_url: NotRequired[str]
    filename: NotRequired[str]


# The key a stored ``input_file`` part keeps the file's text under, for the model
# (services.input_files); private: the item views leave keys that start with "_" out.
INPUT_FILE_TEXT: Final = "_text"


class FileCitation(TypedDict):
    type: Literal["file_citation"]
    file_id: str
    filename: str
    index: int  # a character offset into the text


class ContainerFileCitation(TypedDict):
    type: Literal["container_file_citation"]
    container_id: str
    file_id: str
    filename: str
    start_index: int
    end_index: int


OutputAnnotation: TypeAlias = FileCitation | ContainerFileCitation


class OutputTextPart(TypedDict):
    type: Literal["output_text"]
    text: str
    annotations: list[OutputAnnotation]
    logprobs: list[JsonObject]


class RefusalPart(TypedDict):
    type: Literal["refusal"]
    refusal: str


ContentPart: TypeAlias = (
    InputTextPart | InputImagePart | InputFilePart | OutputTextPart | RefusalPart
)


# -- items ---------------------------------------------------------------------------------


class MessageItem(TypedDict):
    id: str
    type: Literal["message"]
    role: MessageItemRole
    status: ItemStatus
    content: list[ContentPart]


class FunctionCallItem(TypedDict):
    id: str  # fc_…
    type: Literal["function_call"]
    call_id: str  # call_…: what the function_call_output names
    name: str
    arguments: str
    status: ItemStatus


class FunctionCallOutputItem(TypedDict):
    id: str
    type: Literal["function_call_output"]
    call_id: str
    output: str
    status: ItemStatus


class FileSearchResultRecord(TypedDict):
    file_id: str
    filename: str
    score: float
    text: str
    attributes: NotRequired[dict[str, str | float | bool] | None]


FileSearchStatus: TypeAlias = Literal[
    "in_progress", "searching", "completed", "incomplete", "failed"
]


class FileSearchCallItem(TypedDict):
    id: str  # fs_…
    type: Literal["file_search_call"]
    status: FileSearchStatus
    queries: list[str]
    results: list[FileSearchResultRecord] | None  # shown only with include[]


class CodeLogsOutput(TypedDict):
    type: Literal["logs"]
    logs: str


class CodeImageOutput(TypedDict):
    type: Literal["image"]
    url: str


CodeOutputRecord: TypeAlias = CodeLogsOutput | CodeImageOutput
CodeCallStatus: TypeAlias = Literal[
    "in_progress", "interpreting", "completed", "incomplete", "failed"
]


class CodeInterpreterCallItem(TypedDict):
    id: str  # ci_…
    type: Literal["code_interpreter_call"]
    status: CodeCallStatus
    container_id: str
    code: str | None
    outputs: list[CodeOutputRecord] | None  # shown only with include[]


class ReasoningSummary(TypedDict):
    type: Literal["summary_text"]
    text: str


class ReasoningText(TypedDict):
    type: Literal["reasoning_text"]
    text: str


class ReasoningItem(TypedDict):
    id: str  # rs_…
    type: Literal["reasoning"]
    summary: list[ReasoningSummary]
    # The upstream's reasoning as it streamed it (absent from items a client sent without).
    content: NotRequired[list[ReasoningText]]
    encrypted_content: str | None
    status: NotRequired[ItemStatus]


OutputItem: TypeAlias = (
    MessageItem | FunctionCallItem | FileSearchCallItem | CodeInterpreterCallItem | ReasoningItem
)
Item: TypeAlias = OutputItem | FunctionCallOutputItem


# -- the echo of a request -----------------------------------------------------------------


class FunctionToolRecord(TypedDict):
    type: Literal["function"]
    name: str
    description: str | None
    parameters: JsonObject | None
    strict: bool


class RankingOptionsRecord(TypedDict):
    ranker: str
    score_threshold: float


class FileSearchToolRecord(TypedDict):
    type: Literal["file_search"]
    vector_store_ids: list[str]
    filters: JsonObject | None
    max_num_results: NotRequired[int]
    ranking_options: RankingOptionsRecord


class AutoContainer(TypedDict):
    type: Literal["auto"]
    file_ids: NotRequired[list[str]]


class CodeInterpreterToolRecord(TypedDict):
    type: Literal["code_interpreter"]
    container: str | AutoContainer


ResponseTool: TypeAlias = FunctionToolRecord | FileSearchToolRecord | CodeInterpreterToolRecord


class TextConfig(TypedDict):
    format: JsonObject  # {"type": "text"} | {"type": "json_object"} | {"type": "json_schema", …}
    verbosity: NotRequired[str]


class ReasoningConfig(TypedDict):
    effort: str | None
    summary: str | None


class ResponseErrorRecord(TypedDict):
    code: str
    message: str


class IncompleteReason(TypedDict):
    reason: Literal["max_output_tokens", "content_filter"]


class InputTokensDetails(TypedDict):
    cached_tokens: int
    cache_write_tokens: int


class OutputTokensDetails(TypedDict):
    reasoning_tokens: int


class ResponseUsageRecord(TypedDict):
    input_tokens: int
    input_tokens_details: InputTokensDetails
    output_tokens: int
    output_tokens_details: OutputTokensDetails
    total_tokens: int


class ConversationRef(TypedDict):
    id: str


class ResponseRecord(TypedDict):
    """A response as its API shows it: the echo of its request (``responses``) and its state
    (the run it executes as). ``output`` is in order; ``usage`` null until it ends."""

    id: str  # resp_…
    project_id: str
    created_at: int
    status: ResponseStatus
    completed_at: int | None
    model: str
    instructions: str | None
    tools: list[ResponseTool]
    tool_choice: JsonValue  # "auto" | "none" | "required" | {"type": …}
    parallel_tool_calls: bool
    text: TextConfig
    reasoning: ReasoningConfig
    temperature: float | None
    top_p: float | None
    top_logprobs: int | None
    max_output_tokens: int | None
    max_tool_calls: int | None
    truncation: Literal["auto", "disabled"]
    store: bool
    background: bool
    previous_response_id: str | None
    conversation: ConversationRef | None
    metadata: Metadata
    user: str | None
    safety_identifier: str | None
    prompt_cache_key: str | None
    service_tier: str | None
    error: ResponseErrorRecord | None
    incomplete_details: IncompleteReason | None
    usage: ResponseUsageRecord | None
    output: list[OutputItem]


class ConversationRecord(TypedDict):
    """A conversation is a thread: these are the thread's columns the Conversations API shows."""

    id: str  # thread_… when made as a thread, conv_… when made as a conversation
    created_at: int
    metadata: Metadata | None


class ResponseEventRecord(TypedDict):
    """One event of a background response's stream, kept for resumption."""

    response_id: str
    sequence_number: int
    type: str
    data: bytes  # the event's JSON, exactly as first sent


@dataclass(frozen=True, slots=True)
class ResponseUsed:
    """What a response used, as its request's log line shows it: the model that answered (a
    fallback's, if one did) and its tokens (None until it has ended)."""

    model: str
    usage: ResponseUsageRecord | None
