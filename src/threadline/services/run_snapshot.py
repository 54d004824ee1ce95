"""What a new run is made of: its assistant's settings, overridden by the request's.

A run keeps this snapshot for its whole life: changing the assistant later does not change a
run that was already created."""

from dataclasses import dataclass
from typing import TypedDict, TypeVar

from threadline.errors import ModelNotAllowed, NotFound
from threadline.records.jsonvalue import JsonValue, Metadata
from threadline.records.runs import RunRecord, TruncationStrategy
from threadline.records.tools import ResponseFormatRecord, ToolDefinition, ToolResourcesRecord
from threadline.schemas.common import dump_response_format, dump_tools
from threadline.schemas.runs import CreateRun, CreateThreadAndRun, ToolChoice
from threadline.storage.database import Connection
from threadline.storage.repositories import AssistantRepository

_assistants = AssistantRepository()
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Creator:
    """The key creating a run: its usage is metered against it, and it may use only
    ``models`` (None: any)."""

    key_id: str | None = None
    models: tuple[str, ...] | None = None


def run_record(
    connection: Connection,
    project_id: str,
    thread_id: str,
    request: CreateRun | CreateThreadAndRun,
    run_id: str,
    now: int,
    expiry_seconds: int,
    creator: "Creator | None" = None,
) -> RunRecord:
    """The run as created: the assistant's settings, overridden by the request's. A null
    override is no override (clients such as llama-index send ``"instructions": null`` on every
    run): only a value replaces the assistant's; ``""`` does blank its instructions."""
    assistant = _assistants.get(connection, project_id, request.assistant_id)
    if assistant is None:
        raise NotFound.object("assistant", request.assistant_id, param="assistant_id")
    model = request.model or assistant["model"]
    if creator is not None and creator.models is not None and model not in creator.models:
        raise ModelNotAllowed(model, param="model" if request.model else "assistant_id")
    instructions = _or(request.instructions, assistant["instructions"])
    additional = getattr(request, "additional_instructions", None)
    if additional:
        instructions = f"{instructions}\n\n{additional}" if instructions else additional
    truncation = request.truncation_strategy
    settings: RunSettings = {
        "model": model,
        "instructions": instructions,
        "tools": dump_tools(request.tools) if request.tools is not None else assistant["tools"],
        "tool_resources": assistant["tool_resources"],
        "metadata": request.metadata or {},
        "temperature": _or(request.temperature, assistant["temperature"], 1.0),
        "top_p": _or(request.top_p, assistant["top_p"], 1.0),
        "max_prompt_tokens": request.max_prompt_tokens,
        "max_completion_tokens": request.max_completion_tokens,
        "truncation_strategy": (
            truncation.model_dump() if truncation else {"type": "auto", "last_messages": None}
        ),
        "tool_choice": _dump_tool_choice(request.tool_choice),
        "parallel_tool_calls": _or(request.parallel_tool_calls, True),
        "response_format": (
            dump_response_format(request.response_format)
            if request.response_format is not None
            else assistant["response_format"]
        ),
        "reasoning_effort": getattr(request, "reasoning_effort", None)
        or assistant["reasoning_effort"],
    }
    identity = RunIdentity(run_id, project_id, thread_id, assistant["id"])
    return queued_run(identity, now, expiry_seconds, creator, settings)


@dataclass(frozen=True, slots=True)
class RunIdentity:
    """Which run, of which project, on which thread, for which assistant ("" for a response)."""

    run_id: str
    project_id: str
    thread_id: str
    assistant_id: str


class RunSettings(TypedDict):
    """What a new run is told to do: the columns its creator decides."""

    model: str
    instructions: str | None
    tools: list[ToolDefinition]
    tool_resources: ToolResourcesRecord | None
    metadata: Metadata
    temperature: float | None
    top_p: float | None
    max_prompt_tokens: int | None
    max_completion_tokens: int | None
    truncation_strategy: TruncationStrategy
    tool_choice: JsonValue
    parallel_tool_calls: bool
    response_format: ResponseFormatRecord
    reasoning_effort: str | None


def queued_run(
    identity: RunIdentity,
    now: int,
    expiry_seconds: int,
    creator: Creator | None,
    settings: RunSettings,
) -> RunRecord:
    """A new run's row, ``queued``, nothing happened to it yet (the caller adds the lease
    columns): one place for a run's and a response's run alike."""
    return {
        "id": identity.run_id,
        "project_id": identity.project_id,
        "thread_id": identity.thread_id,
        "assistant_id": identity.assistant_id,
        "created_at": now,
        "status": "queued",
        "required_action": None,
        "last_error": None,
        "expires_at": now + expiry_seconds,
        "started_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "incomplete_details": None,
        "usage": None,
        "lease_owner": None,
        "lease_expires_at": None,
        "attempt": 0,
        "api_key_id": creator.key_id if creator is not None else None,
        **settings,
    }


def _or(*values: T | None) -> T | None:
    return next((value for value in values if value is not None), None)


def _dump_tool_choice(choice: ToolChoice | None) -> JsonValue:
    if choice is None:
        return "auto"
    return choice if isinstance(choice, str) else choice.model_dump()
