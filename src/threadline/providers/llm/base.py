"""What the run engine needs from a chat model, in the terms of OpenAI Chat Completions.

A provider streams one model turn as ``ChatDelta``s: text fragments, tool-call fragments (the
first fragment of a call carries its ``id`` and ``name``), then a last delta with the
``finish_reason`` and, when the upstream reports it, the token ``usage``. Failures are raised as
``UpstreamFailure`` with the code a run's ``last_error`` shows."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

FailureCode = Literal["server_error", "rate_limit_exceeded", "invalid_prompt"]


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str  # the model name the run asked for; the provider maps it to the upstream id
    messages: list[dict[str, Any]]  # Chat Completions messages
    tools: list[dict[str, Any]] | None = None  # Chat Completions tools (function definitions)
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None  # completion budget left for this turn
    response_format: dict[str, Any] | None = None
    reasoning_effort: str | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    index: int  # position of the call in this turn, from 0
    id: str | None = None  # on the first fragment of a call only
    name: str | None = None  # on the first fragment of a call only
    arguments: str = ""  # the next piece of the JSON arguments


@dataclass(frozen=True, slots=True)
class ChatDelta:
    text: str = ""
    tool_calls: tuple[ToolCallDelta, ...] = field(default_factory=tuple)
    finish_reason: str | None = None  # "stop", "length", "tool_calls", "content_filter"
    usage: Usage | None = None


class UpstreamFailure(Exception):
    """The upstream could not produce the turn. ``message`` names no secret and no URL."""

    def __init__(self, code: FailureCode, message: str) -> None:
        super().__init__(message)
        self.code: FailureCode = code
        self.message = message


class ChatProvider(Protocol):
    def stream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        """One model turn. Raises ``UpstreamFailure``; cancelling the iteration (``aclose``,
        task cancellation) aborts the upstream request."""
        ...


@dataclass(frozen=True, slots=True)
class ModelRoute:
    """How a model name is served: the provider (with its fallbacks inside) and its limits."""

    provider: ChatProvider
    context_window: int
