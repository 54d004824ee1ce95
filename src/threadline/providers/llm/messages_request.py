"""An Anthropic Messages request as a Chat Completions request (pure functions).

The mapping (docs: /v1/messages in docs/architecture.md): ``system`` becomes a first system
message; each turn becomes chat messages (``messages_content``); client tools become functions
and server tools (a dated ``type``, no schema) are dropped; ``tool_choice`` auto / any / tool /
none becomes "auto" / "required" / a named function / "none", ``disable_parallel_tool_use``
``parallel_tool_calls: false``; ``max_tokens`` becomes ``max_completion_tokens``,
``stop_sequences`` ``stop`` (the first 4), ``metadata.user_id`` ``user``; ``temperature`` and
``top_p`` are kept; ``thinking`` and ``output_config.effort`` become ``reasoning_effort`` only
for OpenAI's reasoning models (others refuse the field); ``top_k``, betas and
``cache_control`` are dropped. Fields not named here are accepted and ignored, never refused."""

import logging
import re
from typing import Literal, NotRequired, TypedDict, TypeGuard, cast

from threadline.errors import InvalidRequest
from threadline.providers.llm.base import ChatMessage, ChatTool
from threadline.providers.llm.messages_content import system_text, turn_messages
from threadline.records.anthropic import MessagesBody
from threadline.records.jsonvalue import JsonObject, JsonValue
from threadline.records.tools import FunctionDefinition

log = logging.getLogger("threadline.providers.llm")

MAX_STOP_SEQUENCES = 4  # Chat Completions' limit
# OpenAI's reasoning models, the ones that take ``reasoning_effort`` (others answer a 400).
_REASONING_MODEL = re.compile(r"^(o\d|gpt-5)")
_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "max": "high"}


class ChatCompletionBody(TypedDict):
    """What is sent to an OpenAI-compatible upstream's ``/chat/completions``."""

    model: str
    messages: list[ChatMessage]
    max_completion_tokens: int
    stream: NotRequired[Literal[True]]
    stream_options: NotRequired[JsonObject]
    tools: NotRequired[list[ChatTool]]
    tool_choice: NotRequired[JsonValue]
    parallel_tool_calls: NotRequired[bool]
    stop: NotRequired[list[str]]
    temperature: NotRequired[float]
    top_p: NotRequired[float]
    user: NotRequired[str]
    reasoning_effort: NotRequired[str]


def check_envelope(data: JsonObject, *, counting: bool = False) -> MessagesBody:
    """The checks every Messages request gets before anything is reserved or sent (pass-through
    included): a model, a positive ``max_tokens`` (not for count_tokens), a list of messages.
    Returns the request, ``data`` itself."""
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("model: Field required", param="model")
    if not counting:
        max_tokens = data.get("max_tokens")
        if max_tokens is None:
            raise InvalidRequest("max_tokens: Field required", param="max_tokens")
        if not _positive_int(max_tokens):
            raise InvalidRequest(
                "max_tokens: Input should be a positive integer", param="max_tokens"
            )
    messages = data.get("messages")
    if messages is None:
        raise InvalidRequest("messages: Field required", param="messages")
    if not isinstance(messages, list):
        raise InvalidRequest("messages: Input should be a valid list", param="messages")
    return cast(MessagesBody, data)


def completion_budget(data: MessagesBody) -> int:
    """The ``max_tokens`` of a request checked for creating a message (``check_envelope``); a
    count_tokens request has none: 0."""
    max_tokens = data.get("max_tokens")
    return max_tokens if _positive_int(max_tokens) else 0


def chat_messages(data: MessagesBody) -> list[ChatMessage]:
    """``system`` and ``messages`` as chat messages."""
    out: list[ChatMessage] = []
    system = system_text(data.get("system"))
    if system:
        out.append({"role": "system", "content": system})
    calls_order: list[str] = []
    for position, turn in enumerate(data["messages"]):
        where = f"messages.{position}"
        if not isinstance(turn, dict):
            raise InvalidRequest(f"{where}: Input should be an object", param=where)
        role = turn.get("role")
        if not isinstance(role, str) or role not in ("user", "assistant", "system"):
            raise InvalidRequest(
                f"{where}.role: Input should be 'user' or 'assistant'", param=f"{where}.role"
            )
        if "content" not in turn:
            raise InvalidRequest(f"{where}.content: Field required", param=f"{where}.content")
        turn_out = turn_messages(role, turn["content"], where, calls_order)
        calls_order = [call["id"] for call in turn_out[-1].get("tool_calls") or ()]
        out += turn_out
    return out


def chat_tools(data: MessagesBody) -> list[ChatTool] | None:
    tools = data.get("tools")
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise InvalidRequest("tools: Input should be a valid list", param="tools")
    out: list[ChatTool] = []
    for position, tool in enumerate(tools):
        where = f"tools.{position}"
        name = tool.get("name") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or not isinstance(name, str):
            raise InvalidRequest(f"{where}.name: Field required", param=f"{where}.name")
        kind, schema = tool.get("type"), tool.get("input_schema")
        if kind not in (None, "custom") or not isinstance(schema, dict):
            log.warning("/v1/messages: tool %r dropped (no Chat Completions equivalent)", kind)
            continue
        function: FunctionDefinition = {"name": name, "parameters": schema}
        description, strict = tool.get("description"), tool.get("strict")
        if isinstance(description, str):
            function["description"] = description
        if isinstance(strict, bool):
            function["strict"] = strict
        out.append({"type": "function", "function": function})
    return out or None


def chat_request(data: MessagesBody, upstream_model: str, *, stream: bool) -> ChatCompletionBody:
    """The whole chat request of a checked (``check_envelope``) Messages request."""
    body: ChatCompletionBody = {
        "model": upstream_model,
        "messages": chat_messages(data),
        "max_completion_tokens": completion_budget(data),
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    tools = chat_tools(data)
    if tools:
        body["tools"] = tools
        _tool_choice(data.get("tool_choice"), body)
    stops = data.get("stop_sequences")
    if isinstance(stops, list) and stops:
        body["stop"] = [str(stop) for stop in stops[:MAX_STOP_SEQUENCES]]
    temperature, top_p = data.get("temperature"), data.get("top_p")
    if _number(temperature):
        body["temperature"] = temperature
    if _number(top_p):
        body["top_p"] = top_p
    metadata = data.get("metadata")
    user = metadata.get("user_id") if isinstance(metadata, dict) else None
    if isinstance(user, str):
        body["user"] = user
    effort = reasoning_effort(data)
    if effort is not None and _REASONING_MODEL.match(upstream_model):
        body["reasoning_effort"] = effort
    return body


def retarget(
    body: ChatCompletionBody, upstream_model: str, data: MessagesBody
) -> ChatCompletionBody:
    """``body`` for another upstream model (a fallback's): its id, and ``reasoning_effort``
    only if that model takes it."""
    if upstream_model == body["model"]:
        return body
    out: ChatCompletionBody = {**body, "model": upstream_model}
    out.pop("reasoning_effort", None)
    effort = reasoning_effort(data)
    if effort is not None and _REASONING_MODEL.match(upstream_model):
        out["reasoning_effort"] = effort
    return out


def _tool_choice(choice: JsonValue, body: ChatCompletionBody) -> None:
    if not isinstance(choice, dict):
        return
    kind = choice.get("type")
    if kind == "auto":
        body["tool_choice"] = "auto"
    elif kind == "any":
        body["tool_choice"] = "required"
    elif kind == "none":
        body["tool_choice"] = "none"
    elif kind == "tool":
        name = choice.get("name")
        if not isinstance(name, str):
            raise InvalidRequest("tool_choice.name: Field required", param="tool_choice.name")
        body["tool_choice"] = {"type": "function", "function": {"name": name}}
    if choice.get("disable_parallel_tool_use") is True:
        body["parallel_tool_calls"] = False


def reasoning_effort(data: MessagesBody) -> str | None:
    """The effort asked for by ``output_config.effort``, or else by the thinking budget."""
    config = data.get("output_config")
    effort = config.get("effort") if isinstance(config, dict) else None
    if isinstance(effort, str) and effort in _EFFORTS:
        return _EFFORTS[effort]
    thinking = data.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "adaptive"):
        return None
    budget = thinking.get("budget_tokens")
    if not _positive_int(budget):
        return "medium"
    return "low" if budget < 4096 else "medium" if budget < 16384 else "high"


def _positive_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
