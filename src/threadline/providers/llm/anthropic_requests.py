"""A Chat Completions request as an Anthropic Messages request: pure, for providers of kind
``anthropic`` behind ``/v1/chat/completions`` (the gateway's translated pass-through) and behind
runs and responses (``anthropic_provider``).

The mapping is the reverse of docs' Messages ↔ Chat Completions table: system and developer
messages become ``system``; user parts become text, image (a ``data:`` URL as a base64 source,
an http(s) URL as a url source) and PDF document blocks; an assistant's ``tool_calls`` become
``tool_use`` blocks; tool messages become ``tool_result`` blocks at the start of the next user
turn (consecutive turns of one role are merged, as Anthropic requires alternating roles);
``stop`` → ``stop_sequences``, ``user`` → ``metadata.user_id``, ``tool_choice`` ``required`` →
``any``, ``parallel_tool_calls: false`` → ``disable_parallel_tool_use``. What Anthropic has no
field for (seed, penalties, logit_bias, logprobs, response_format, reasoning_effort) is dropped;
what cannot be said at all (n > 1, audio, non-function tools) is ``Untranslatable``: the
client's 400."""

import re
from collections.abc import Mapping
from typing import Any, cast

import orjson

from threadline.records.anthropic import (
    DocumentBlock,
    ImageBlock,
    InputMessage,
    MessagesRequest,
    RequestBlock,
    SystemText,
    TextBlock,
    Tool,
    ToolChoice,
    ToolResultBlock,
    ToolUseBlock,
)
from threadline.records.jsonvalue import JsonObject

# Anthropic requires max_tokens; a request that gives none gets 4096: the largest output every
# Claude model accepts (Claude 3 Haiku and Opus stop there; a larger value is a 400 on them),
# enough for a chat answer or a tool call. Clients wanting longer answers say so.
DEFAULT_MAX_TOKENS = 4096
_MAX_TEMPERATURE = 1.0  # OpenAI's range is 0-2, Anthropic's 0-1: higher values are sent as 1
_NOT_TOOL_ID = re.compile(r"[^A-Za-z0-9_-]")  # Anthropic's tool_use ids: ^[a-zA-Z0-9_-]+$
_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+)((?:;[\w.+-]+=[^;,]*)*);base64,(.*)", re.DOTALL)


class Untranslatable(ValueError):
    """The request says something Anthropic's API cannot; ``message`` is for the client."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def messages_request(chat: Mapping[str, Any], *, model: str, stream: bool) -> MessagesRequest:
    """The Messages request for a Chat Completions request (a JSON object checked against
    OpenAI's schema, or what ``openai_compatible.chat_body`` builds), sent as ``model``."""
    n = chat.get("n")
    if n not in (None, 1):
        raise Untranslatable("Anthropic models return one choice: n must be 1.", param="n")
    system, turns = _conversation(chat.get("messages") or [])
    request: MessagesRequest = {
        "model": model,
        "max_tokens": _max_tokens(chat),
        "messages": turns,
    }
    if system:
        request["system"] = system
    tools = chat.get("tools")
    if tools:  # tool_choice and parallel_tool_calls mean nothing without tools
        request["tools"] = [_tool(tool, f"tools[{i}]") for i, tool in enumerate(tools)]
        choice = _tool_choice(chat.get("tool_choice"), chat.get("parallel_tool_calls"))
        if choice is not None:
            request["tool_choice"] = choice
    stop = chat.get("stop")
    if stop:
        sequences = [stop] if isinstance(stop, str) else [s for s in stop if s]
        if sequences:
            request["stop_sequences"] = sequences
    temperature = chat.get("temperature")
    if temperature is not None:
        request["temperature"] = min(float(temperature), _MAX_TEMPERATURE)
    if chat.get("top_p") is not None:
        request["top_p"] = float(chat["top_p"])
    user = chat.get("user") or chat.get("safety_identifier")
    if isinstance(user, str) and user:
        request["metadata"] = {"user_id": user}
    if stream:
        request["stream"] = True
    return request


def tool_use_id(call_id: str) -> str:
    """An OpenAI tool call id as Anthropic accepts it (stable: a call and its result agree)."""
    return _NOT_TOOL_ID.sub("_", call_id)


def _max_tokens(chat: Mapping[str, Any]) -> int:
    for name in ("max_completion_tokens", "max_tokens"):
        value = chat.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return DEFAULT_MAX_TOKENS


def _conversation(messages: list[Any]) -> tuple[list[SystemText], list[InputMessage]]:
    system: list[SystemText] = []
    turns: list[InputMessage] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        role = message.get("role")
        if role in ("system", "developer"):
            texts = _texts(message.get("content"), where)
            system += [{"type": "text", "text": text} for text in texts if text.strip()]
        elif role == "user":
            _append(turns, "user", _user_blocks(message.get("content"), where))
        elif role == "assistant":
            _append(turns, "assistant", _assistant_blocks(message, where))
        elif role == "tool":
            _append(turns, "user", [_tool_result(message, where)])
        else:
            raise Untranslatable(
                f"Messages with role '{role}' cannot be sent to an Anthropic model.",
                param=f"{where}.role",
            )
    for turn in turns:  # each tool_result opens the user turn after its tool_use
        blocks = cast(list[RequestBlock], turn["content"])
        if turn["role"] == "user" and any(b["type"] == "tool_result" for b in blocks):
            blocks.sort(key=lambda block: block["type"] != "tool_result")
    return system, turns


def _append(turns: list[InputMessage], role: str, blocks: list[RequestBlock]) -> None:
    if not blocks:
        return  # Anthropic rejects empty turns; a message with nothing to say says nothing
    if turns and turns[-1]["role"] == role:
        cast(list[RequestBlock], turns[-1]["content"]).extend(blocks)
    else:
        turns.append(cast(InputMessage, {"role": role, "content": blocks}))


def _texts(content: Any, where: str) -> list[str]:
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    texts = []
    for j, part in enumerate(content):
        kind = part.get("type")
        if kind == "text":
            texts.append(part.get("text") or "")
        elif kind == "refusal":
            texts.append(part.get("refusal") or "")
        else:
            raise Untranslatable(
                f"Content of type '{kind}' is not supported here for an Anthropic model.",
                param=f"{where}.content[{j}].type",
            )
    return texts


def _text(text: str) -> list[RequestBlock]:
    # Anthropic rejects empty and whitespace-only text blocks.
    return [TextBlock(type="text", text=text)] if text.strip() else []


def _user_blocks(content: Any, where: str) -> list[RequestBlock]:
    if content is None or isinstance(content, str):
        return _text(content or "")
    blocks: list[RequestBlock] = []
    for j, part in enumerate(content):
        kind = part.get("type")
        param = f"{where}.content[{j}]"
        if kind == "text":
            blocks += _text(part.get("text") or "")
        elif kind == "image_url":
            image = part.get("image_url") or {}
            blocks.append(_image(image.get("url") or "", f"{param}.image_url.url"))
        elif kind == "file":
            blocks.append(_document(part.get("file") or {}, f"{param}.file"))
        else:
            raise Untranslatable(
                f"Content of type '{kind}' cannot be sent to an Anthropic model.",
                param=f"{param}.type",
            )
    return blocks


def _image(url: str, param: str) -> ImageBlock:
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    found = _DATA_URL.fullmatch(url)
    if found is None:
        raise Untranslatable(
            "An image for an Anthropic model must be an http(s) URL or a base64 data: URL.",
            param=param,
        )
    media_type, _, data = found.groups()
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _document(file: Mapping[str, Any], param: str) -> DocumentBlock:
    found = _DATA_URL.fullmatch(file.get("file_data") or "")
    if found is None or found.group(1) != "application/pdf":
        raise Untranslatable(
            "A file for an Anthropic model must be a PDF given inline as file_data "
            "(data:application/pdf;base64,...).",
            param=param,
        )
    source: JsonObject = {"type": "base64", "media_type": "application/pdf", "data": found[3]}
    block: DocumentBlock = {"type": "document", "source": source}
    if file.get("filename"):
        block["title"] = file["filename"]
    return block


def _assistant_blocks(message: Mapping[str, Any], where: str) -> list[RequestBlock]:
    # reasoning_content is dropped: Anthropic takes back only thinking it signed itself.
    blocks: list[RequestBlock] = [
        block for text in _texts(message.get("content"), where) for block in _text(text)
    ]
    for j, call in enumerate(message.get("tool_calls") or []):
        param = f"{where}.tool_calls[{j}]"
        function = call.get("function") or {}
        if call.get("type", "function") != "function":
            raise Untranslatable(
                "Only function tool calls can be sent to an Anthropic model.",
                param=f"{param}.type",
            )
        use: ToolUseBlock = {
            "type": "tool_use",
            "id": tool_use_id(call.get("id") or f"call_{j}"),
            "name": function.get("name") or "",
            "input": _arguments(function.get("arguments") or ""),
        }
        blocks.append(use)
    return blocks


def _arguments(text: str) -> JsonObject:
    """A call's JSON arguments as the object Anthropic wants. Arguments that are not a JSON
    object (a model's truncated call kept in a thread) are wrapped rather than refused, so the
    thread stays usable and the model still sees what it sent."""
    if not text.strip():
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {"arguments": text}
    return value if isinstance(value, dict) else {"arguments": value}


def _tool_result(message: Mapping[str, Any], where: str) -> ToolResultBlock:
    call_id = message.get("tool_call_id")
    if not call_id:
        raise Untranslatable("A tool message needs its tool_call_id.", f"{where}.tool_call_id")
    result: ToolResultBlock = {"type": "tool_result", "tool_use_id": tool_use_id(call_id)}
    text = "".join(_texts(message.get("content"), where))
    if text:
        result["content"] = text
    return result


def _tool(tool: Mapping[str, Any], param: str) -> Tool:
    if tool.get("type") != "function":
        raise Untranslatable(
            "Only function tools can be given to an Anthropic model.", param=f"{param}.type"
        )
    function = tool.get("function") or {}
    schema = function.get("parameters") or {"type": "object", "properties": {}}
    out: Tool = {"name": function.get("name") or "", "input_schema": schema}
    if function.get("description"):
        out["description"] = function["description"]
    return out


def _tool_choice(choice: Any, parallel: Any) -> ToolChoice | None:
    out: ToolChoice | None = None
    if choice == "auto":
        out = {"type": "auto"}
    elif choice == "none":
        out = {"type": "none"}
    elif choice == "required":
        out = {"type": "any"}
    elif isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if choice.get("type") != "function" or not name:
            raise Untranslatable(
                "tool_choice must name a function for an Anthropic model.", param="tool_choice"
            )
        out = {"type": "tool", "name": name}
    if parallel is False and (out is None or out["type"] != "none"):
        out = out or {"type": "auto"}
        out["disable_parallel_tool_use"] = True
    return out
