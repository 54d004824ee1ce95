"""Rows of runs and run steps (``storage.tables``), and the tool calls a step stores.

A server tool's stored call keeps, under private keys never shown to clients (``_call``,
``_output``, ``_files``; see ``engine.tools.base``), the function call the model made and what it
read back: later turns rebuild the conversation from them."""

from typing import Literal, NotRequired, TypeAlias, TypedDict

from threadline.records.jsonvalue import JsonValue, Metadata
from threadline.records.threads import IncompleteDetails
from threadline.records.tools import ResponseFormatRecord, ToolDefinition, ToolResourcesRecord

RunStatus: TypeAlias = Literal[
    "queued",
    "in_progress",
    "requires_action",
    "cancelling",
    "cancelled",
    "failed",
    "completed",
    "incomplete",
    "expired",
]
RunKind: TypeAlias = Literal["run", "response"]
StepStatus: TypeAlias = Literal["in_progress", "cancelled", "failed", "completed", "expired"]
StepType: TypeAlias = Literal["message_creation", "tool_calls"]


class RunUsage(TypedDict):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class LastError(TypedDict):
    code: str
    message: str


class FunctionCall(TypedDict):
    """A function call as the model made it."""

    name: str
    arguments: str


class FunctionCallWithOutput(FunctionCall):
    output: NotRequired[str | None]  # once the client submitted it


class FunctionToolCall(TypedDict):
    id: str
    type: Literal["function"]
    function: FunctionCallWithOutput


class FileSearchResultContent(TypedDict):
    type: Literal["text"]
    text: str


class FileSearchResult(TypedDict):
    file_id: str
    file_name: str
    score: float
    content: NotRequired[list[FileSearchResultContent]]


class FileSearchRanking(TypedDict):
    ranker: str
    score_threshold: float


class FileSearchCallDetails(TypedDict):
    ranking_options: FileSearchRanking
    results: list[FileSearchResult]


class FileSearchToolCall(TypedDict):
    id: str
    type: Literal["file_search"]
    file_search: FileSearchCallDetails
    _call: NotRequired[FunctionCall]
    _output: NotRequired[str]


class FileRef(TypedDict):
    file_id: str


class LogsOutput(TypedDict):
    type: Literal["logs"]
    logs: str


class ImageOutput(TypedDict):
    type: Literal["image"]
    image: FileRef


CodeOutput: TypeAlias = LogsOutput | ImageOutput


class CodeInterpreterCallDetails(TypedDict):
    input: str
    outputs: list[CodeOutput]


class CodeInterpreterToolCall(TypedDict):
    id: str
    type: Literal["code_interpreter"]
    code_interpreter: CodeInterpreterCallDetails
    _call: NotRequired[FunctionCall]
    _output: NotRequired[str]
    _files: NotRequired[dict[str, str]]  # {"/mnt/data/name": file_id} of the files it wrote


ServerToolCall: TypeAlias = FileSearchToolCall | CodeInterpreterToolCall
ToolCall: TypeAlias = FunctionToolCall | ServerToolCall


class IndexedLogsOutput(LogsOutput):
    index: int


class IndexedImageOutput(ImageOutput):
    index: int


class CodeInterpreterDeltaDetails(TypedDict, total=False):
    input: str
    outputs: list[IndexedLogsOutput | IndexedImageOutput]


class ToolCallDelta(TypedDict, total=False):
    """A tool call's entry in a ``thread.run.step.delta``: its ``index`` in the step, and what
    changed (all of it in the first entry of a call)."""

    index: int
    id: str
    type: Literal["function", "file_search", "code_interpreter"]
    function: FunctionCallWithOutput
    file_search: FileSearchCallDetails
    code_interpreter: CodeInterpreterDeltaDetails


class MessageCreation(TypedDict):
    message_id: str


class StepDetails(TypedDict, total=False):
    """``{}`` while a step is being opened, then one of the two kinds."""

    type: StepType
    message_creation: MessageCreation
    tool_calls: list[ToolCall]


class SubmitToolOutputs(TypedDict):
    tool_calls: list[FunctionToolCall]


class RequiredAction(TypedDict):
    type: Literal["submit_tool_outputs"]
    submit_tool_outputs: SubmitToolOutputs


class TruncationStrategy(TypedDict):
    type: Literal["auto", "last_messages"]
    last_messages: int | None


class RunScope(TypedDict):
    """What the run's tools and meters read of it (a ``RunRecord`` is one)."""

    id: str
    project_id: str
    thread_id: str
    model: str
    tools: list[ToolDefinition]
    tool_resources: ToolResourcesRecord | None
    api_key_id: str | None  # the key that created it: its usage is metered against that key
    # "response" for a run that executes a response (ends on function calls, see
    # engine.execution); absent from a record not yet inserted: the column's default, "run".
    kind: NotRequired[RunKind]
    # A response's limit on its built-in tool calls (engine.server_calls).
    max_tool_calls: NotRequired[int | None]


class RunRecord(RunScope):
    assistant_id: str
    created_at: int
    status: RunStatus
    required_action: RequiredAction | None
    last_error: LastError | None
    expires_at: int | None
    started_at: int | None
    cancelled_at: int | None
    failed_at: int | None
    completed_at: int | None
    incomplete_details: IncompleteDetails | None
    instructions: str | None
    metadata: Metadata | None
    usage: RunUsage | None
    temperature: float | None
    top_p: float | None
    max_prompt_tokens: int | None
    max_completion_tokens: int | None
    truncation_strategy: TruncationStrategy | None
    tool_choice: JsonValue  # "auto" | "none" | "required" | {"type": ..., ...}
    parallel_tool_calls: bool
    response_format: ResponseFormatRecord
    reasoning_effort: str | None
    # Execution bookkeeping, never shown (see storage.runs).
    lease_owner: str | None
    lease_expires_at: float | None
    attempt: int


class StepRecord(TypedDict):
    id: str
    project_id: str
    run_id: str
    thread_id: str
    assistant_id: str
    created_at: int
    type: StepType
    status: StepStatus
    step_details: StepDetails
    last_error: LastError | None
    expired_at: int | None
    cancelled_at: int | None
    failed_at: int | None
    completed_at: int | None
    usage: RunUsage | None
    metadata: Metadata | None
