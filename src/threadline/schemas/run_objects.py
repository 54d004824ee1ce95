"""Runs, run steps and stream events as the official SDK's types.

A stream event travels as ``StreamEvent``: its name and its JSON, serialized once, so that one
event fanned out to many subscribers is encoded once. Full objects are validated through the SDK's
models; the per-token deltas are built as plain dicts of exactly the SDK's delta shape (a test
round-trips them through the SDK types), because they are the hot path of every stream. So are
the run's own events: ``run_data`` and ``run_step_data`` are the very dicts ``run`` and
``run_step`` validate, and what the SDK model dumps from them is that dict again (tested)."""

from dataclasses import dataclass
from typing import Any

import orjson
from openai.types.beta.threads import Run
from openai.types.beta.threads.runs import RunStep
from pydantic import BaseModel

from threadline.schemas.objects import Record, dump

__all__ = ["Run", "RunStep", "StreamEvent", "run", "run_data", "run_step", "run_step_data"]

TERMINAL_RUN_STATUSES = frozenset(
    {"completed", "incomplete", "failed", "cancelled", "expired", "requires_action"}
)
FINISHED_RUN_STATUSES = frozenset({"completed", "incomplete", "failed", "cancelled", "expired"})
ACTIVE_RUN_STATUSES = frozenset({"queued", "in_progress", "requires_action", "cancelling"})


def run(record: Record) -> Run:
    return Run.model_validate(run_data(record))


def run_data(record: Record) -> dict[str, Any]:
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


def run_step(record: Record, include: frozenset[str] = frozenset()) -> RunStep:
    """A step as clients see it; file_search passages only when ``include`` asks for them."""
    return RunStep.model_validate(run_step_data(record, include))


def run_step_data(record: Record, include: frozenset[str] = frozenset()) -> dict[str, Any]:
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


def _public_details(details: Record, with_content: bool) -> Record:
    """Step details without the engine's private keys (``_call``, ``_output``: what the model
    sent and read for a built-in tool's call), which clients never see, and without
    file_search passages unless asked for."""
    calls = details.get("tool_calls")
    if not calls or all(call["type"] == "function" for call in calls):
        return details
    return {**details, "tool_calls": [_public_call(call, with_content) for call in calls]}


def _public_call(call: Record, with_content: bool) -> Record:
    public = {key: value for key, value in call.items() if not key.startswith("_")}
    search = public.get("file_search")
    if search and search.get("results") and not with_content:
        results = [{k: v for k, v in r.items() if k != "content"} for r in search["results"]]
        public["file_search"] = {**search, "results": results}
    return public


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One server-sent event: ``thread.run.completed`` and its JSON, encoded once."""

    name: str
    data: bytes

    @classmethod
    def of(cls, name: str, data: BaseModel | dict[str, Any]) -> "StreamEvent":
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
    text: dict[str, Any] = {"value": value, "annotations": []} if first else {"value": value}
    delta = {"content": [{"index": index, "type": "text", "text": text}]}
    payload = {"id": message_id, "object": "thread.message.delta", "delta": delta}
    return StreamEvent("thread.message.delta", orjson.dumps(payload))


def message_extras_delta(
    message_id: str, annotations: list[dict[str, Any]], parts: list[dict[str, Any]]
) -> StreamEvent:
    """``thread.message.delta`` adding ``annotations`` to the text part (index 0) and content
    ``parts`` after it, each with its index, once."""
    content: list[dict[str, Any]] = []
    if annotations:
        indexed = [{"index": k, **annotation} for k, annotation in enumerate(annotations)]
        content.append({"index": 0, "type": "text", "text": {"value": "", "annotations": indexed}})
    content.extend({"index": i, **part} for i, part in enumerate(parts, start=1))
    payload = {"id": message_id, "object": "thread.message.delta", "delta": {"content": content}}
    return StreamEvent("thread.message.delta", orjson.dumps(payload))


def tool_call_delta(step_id: str, call: dict[str, Any]) -> StreamEvent:
    """``thread.run.step.delta`` carrying one tool-call fragment (``call`` has its ``index``)."""
    delta = {"step_details": {"type": "tool_calls", "tool_calls": [call]}}
    payload = {"id": step_id, "object": "thread.run.step.delta", "delta": delta}
    return StreamEvent("thread.run.step.delta", orjson.dumps(payload))
