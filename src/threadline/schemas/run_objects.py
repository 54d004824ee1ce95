"""Runs, run steps and stream events as the official SDK's types.

A stream event travels as ``StreamEvent``: its name and its JSON, serialized once, so that one
event fanned out to many subscribers is encoded once. Full objects are validated through the SDK's
models; the per-token deltas are built as plain dicts of exactly the SDK's delta shape (a test
round-trips them through the SDK types), because they are the hot path of every stream. So are
the run's own events: ``run_data`` and ``run_step_data`` are the very dicts ``run`` and
``run_step`` validate, and what the SDK model dumps from them is that dict again (tested)."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypedDict, cast

import orjson
from openai.types.beta.threads import Run
from openai.types.beta.threads.runs import RunStep
from pydantic import BaseModel

from threadline.records.jsonvalue import JsonValue, Metadata
from threadline.records.runs import (
    FileSearchCallDetails,
    LastError,
    RequiredAction,
    RunRecord,
    RunStatus,
    RunUsage,
    StepDetails,
    StepRecord,
    StepStatus,
    StepType,
    ToolCall,
    ToolCallDelta,
    TruncationStrategy,
)
from threadline.records.threads import Annotation, ImageFilePart, IncompleteDetails
from threadline.records.tools import ResponseFormatRecord, ToolDefinition
from threadline.schemas.objects import dump

__all__ = ["Run", "RunStep", "StreamEvent", "run", "run_data", "run_step", "run_step_data"]

TERMINAL_RUN_STATUSES = frozenset(
    {"completed", "incomplete", "failed", "cancelled", "expired", "requires_action"}
)
FINISHED_RUN_STATUSES = frozenset({"completed", "incomplete", "failed", "cancelled", "expired"})
ACTIVE_RUN_STATUSES = frozenset({"queued", "in_progress", "requires_action", "cancelling"})


class RunData(TypedDict):
    """A run object as it goes on the wire."""

    id: str
    object: Literal["thread.run"]
    created_at: int
    thread_id: str
    assistant_id: str
    status: RunStatus
    required_action: RequiredAction | None
    last_error: LastError | None
    expires_at: int | None
    started_at: int | None
    cancelled_at: int | None
    failed_at: int | None
    completed_at: int | None
    incomplete_details: IncompleteDetails | None
    model: str
    instructions: str
    tools: list[ToolDefinition]
    metadata: Metadata | None
    usage: RunUsage | None
    temperature: float | None
    top_p: float | None
    max_prompt_tokens: int | None
    max_completion_tokens: int | None
    truncation_strategy: TruncationStrategy | None
    tool_choice: JsonValue
    parallel_tool_calls: bool
    response_format: ResponseFormatRecord


class StepData(TypedDict):
    """A run step object as it goes on the wire."""

    id: str
    object: Literal["thread.run.step"]
    created_at: int
    run_id: str
    assistant_id: str
    thread_id: str
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


def run(record: RunRecord) -> Run:
    return Run.model_validate(run_data(record))


def run_data(record: RunRecord) -> RunData:
    """The run as it goes on the wire (``dump(run(record))``, without building the model)."""
    return {
        "id": record["id"],
        "object": "thread.run",
        "created_at": record["created_at"],
        "thread_id": record["thread_id"],
        "assistant_id": record["assistant_id"],
        "status": record["status"],
        "required_action": record["required_action"],
        "last_error": record["last_error"],
        "expires_at": record["expires_at"],
        "started_at": record["started_at"],
        "cancelled_at": record["cancelled_at"],
        "failed_at": record["failed_at"],
        "completed_at": record["completed_at"],
        "incomplete_details": record["incomplete_details"],
        "model": record["model"],
        "instructions": record["instructions"] or "",
        "tools": record["tools"],
        "metadata": record["metadata"],
        "usage": record["usage"],
        "temperature": record["temperature"],
        "top_p": record["top_p"],
        "max_prompt_tokens": record["max_prompt_tokens"],
        "max_completion_tokens": record["max_completion_tokens"],
        "truncation_strategy": record["truncation_strategy"],
        "tool_choice": record["tool_choice"],
        "parallel_tool_calls": record["parallel_tool_calls"],
        "response_format": record["response_format"],
    }


# The one ``include[]`` value steps know: file_search results with their passages.
FILE_SEARCH_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"


def run_step(record: StepRecord, include: frozenset[str] = frozenset()) -> RunStep:
    """A step as clients see it; file_search passages only when ``include`` asks for them."""
    return RunStep.model_validate(run_step_data(record, include))


def run_step_data(record: StepRecord, include: frozenset[str] = frozenset()) -> StepData:
    """The step as it goes on the wire (``dump(run_step(record))``)."""
    return {
        "id": record["id"],
        "object": "thread.run.step",
        "created_at": record["created_at"],
        "run_id": record["run_id"],
        "assistant_id": record["assistant_id"],
        "thread_id": record["thread_id"],
        "type": record["type"],
        "status": record["status"],
        "step_details": _public_details(record["step_details"], FILE_SEARCH_CONTENT in include),
        "last_error": record["last_error"],
        "expired_at": record["expired_at"],
        "cancelled_at": record["cancelled_at"],
        "failed_at": record["failed_at"],
        "completed_at": record["completed_at"],
        "usage": record["usage"],
        "metadata": record["metadata"],
    }


def _public_details(details: StepDetails, with_content: bool) -> StepDetails:
    """Step details without the engine's private keys (``_call``, ``_output``: what the model
    sent and read for a built-in tool's call), which clients never see, and without
    file_search passages unless asked for."""
    calls = details.get("tool_calls")
    if not calls or all(call["type"] == "function" for call in calls):
        return details
    return {**details, "tool_calls": [_public_call(call, with_content) for call in calls]}


def _public_call(call: ToolCall, with_content: bool) -> ToolCall:
    public = {key: value for key, value in call.items() if not key.startswith("_")}
    search = cast("FileSearchCallDetails | None", call.get("file_search"))
    if search and search.get("results") and not with_content:
        results = [{k: v for k, v in r.items() if k != "content"} for r in search["results"]]
        public["file_search"] = {**search, "results": results}
    return cast(ToolCall, public)


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One server-sent event: ``thread.run.completed`` and its JSON, encoded once."""

    name: str
    data: bytes

    @classmethod
    def of(cls, name: str, data: BaseModel | Mapping[str, object]) -> "StreamEvent":
        payload = dump(data) if isinstance(data, BaseModel) else data
        return cls(name, orjson.dumps(payload))

    def renamed(self, name: str) -> "StreamEvent":
        """The same data under another event name (encoded once: created, then in_progress)."""
        return StreamEvent(name, self.data)

    @property
    def ends_segment(self) -> bool:
        """After this event the stream that carried it is over (the run is terminal for the
        SDK's poller, or waits for tool outputs)."""
        return self.name in _SEGMENT_ENDS


_SEGMENT_ENDS = frozenset(f"thread.run.{status}" for status in TERMINAL_RUN_STATUSES)


def message_text_delta(message_id: str, index: int, value: str, first: bool) -> StreamEvent:
    """``thread.message.delta`` for a text fragment; ``annotations`` only on a part's first."""
    text: dict[str, object] = {"value": value, "annotations": []} if first else {"value": value}
    delta = {"content": [{"index": index, "type": "text", "text": text}]}
    payload = {"id": message_id, "object": "thread.message.delta", "delta": delta}
    return StreamEvent("thread.message.delta", orjson.dumps(payload))


def message_extras_delta(
    message_id: str, annotations: list[Annotation], parts: list[ImageFilePart]
) -> StreamEvent:
    """``thread.message.delta`` adding ``annotations`` to the text part (index 0) and content
    ``parts`` after it, each with its index, once."""
    content: list[dict[str, object]] = []
    if annotations:
        indexed = [{"index": k, **annotation} for k, annotation in enumerate(annotations)]
        content.append({"index": 0, "type": "text", "text": {"value": "", "annotations": indexed}})
    content.extend({"index": i, **part} for i, part in enumerate(parts, start=1))
    payload = {"id": message_id, "object": "thread.message.delta", "delta": {"content": content}}
    return StreamEvent("thread.message.delta", orjson.dumps(payload))


def tool_call_delta(step_id: str, call: ToolCallDelta) -> StreamEvent:
    """``thread.run.step.delta`` carrying one tool-call fragment (``call`` has its ``index``)."""
    delta = {"step_details": {"type": "tool_calls", "tool_calls": [call]}}
    payload = {"id": step_id, "object": "thread.run.step.delta", "delta": delta}
    return StreamEvent("thread.run.step.delta", orjson.dumps(payload))
