"""What the run engine needs from a chat model, in the terms of OpenAI Chat Completions.

A provider streams one model turn as ``ChatDelta``s: text fragments, tool-call fragments (the
first fragment of a call carries its ``id`` and ``name``), then a last delta with the
``finish_reason`` and, when the upstream reports it, the token ``usage``. Failures are raised as
``UpstreamFailure`` with the code a run's ``last_error`` shows."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal, NotRequired, Protocol, TypeAlias, TypedDict

from threadline.records.jsonvalue import JsonObject, JsonValue
from threadline.records.tools import FunctionToolDefinition

FailureCode = Literal["server_error", "rate_limit_exceeded", "invalid_prompt"]


class ChatTextPart(TypedDict):
    type: Literal["text"]
    text: str


class ChatImageUrl(TypedDict):
    url: str
    detail: NotRequired[Literal["auto", "low", "high"]]


class ChatImagePart(TypedDict):
    type: Literal["image_url"]
    image_url: ChatImageUrl


ChatContentPart: TypeAlias = ChatTextPart | ChatImagePart


class ChatFunctionCall(TypedDict):
    name: str
    arguments: str  # JSON text


class ChatToolCall(TypedDict):
    id: str
    type: Literal["function"]
    function: ChatFunctionCall


class ChatMessage(TypedDict):
    """A Chat Completions message, of the kinds a run sends: system, user and assistant text
    (or parts), an assistant's tool calls, a tool's answer."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[ChatContentPart] | None
    tool_calls: NotRequired[list[ChatToolCall]]
    tool_call_id: NotRequired[str]
    # An assistant message's reasoning, sent back as the upstream streamed it (vLLM, DeepSeek,
    # llama.cpp read this field); only to the model that produced it (engine.chat_turns).
    reasoning_content: NotRequired[str]


# A Chat Completions tool: every tool is a function to the model.
ChatTool: TypeAlias = FunctionToolDefinition


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str  # the model name the run asked for; the provider maps it to the upstream id
    messages: list[ChatMessage]
    tools: list[ChatTool] | None = None
    tool_choice: JsonValue = None  # "auto" | "none" | "required" | {"type": "function", ...}
    parallel_tool_calls: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None  # completion budget left for this turn
    response_format: JsonObject | None = None
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
    reasoning: str = ""  # the model's reasoning (``reasoning_content`` or ``reasoning``)
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
