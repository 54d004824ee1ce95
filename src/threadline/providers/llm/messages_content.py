"""Anthropic Messages turns as Chat Completions messages (pure functions).

A user turn's ``tool_result`` blocks become ``tool`` messages, first and in the order of the
calls they answer; its other blocks follow as one user message. Tool messages carry text only,
so a result's images move to that user message and ``is_error`` is said in the text. An
assistant turn's text becomes its content and its ``tool_use`` blocks its ``tool_calls``.
``thinking`` and ``redacted_thinking`` blocks (which clients echo back verbatim), server-tool
blocks and ``cache_control`` have no Chat Completions equivalent and are dropped; block kinds
this module does not know are dropped too, never refused."""

from typing import Literal, NotRequired, TypeAlias, TypedDict, cast

import orjson

from threadline.errors import InvalidRequest
from threadline.providers.llm.base import (
    ChatContentPart,
    ChatFunctionCall,
    ChatImagePart,
    ChatMessage,
    ChatToolCall,
)
from threadline.records.anthropic import ClientBlock
from threadline.records.jsonvalue import JsonObject, JsonValue


class ChatFileData(TypedDict):
    file_data: str  # data:application/pdf;base64,...
    filename: NotRequired[str]


class ChatFilePart(TypedDict):
    """A PDF sent inline (Chat Completions' ``file`` content part)."""

    type: Literal["file"]
    file: ChatFileData


UserPart: TypeAlias = ChatContentPart | ChatFilePart


def system_text(system: JsonValue, param: str = "system") -> str:
    """``system`` (a string or text blocks) as one text; blocks are joined by blank lines."""
    if system is None:
        return ""
    if isinstance(system, str):
        return system
    if not isinstance(system, list):
        raise InvalidRequest(f"{param}: Input should be a string or a list of blocks", param=param)
    return "\n\n".join(_block_texts(system, param))


def turn_messages(
    role: str, content: JsonValue, where: str, calls_order: list[str]
) -> list[ChatMessage]:
    """The chat messages of one Anthropic turn. ``calls_order``: the ids of the tool calls of
    the assistant turn before (tool results are sent in that order)."""
    if isinstance(content, str):
        return [{"role": _chat_role(role), "content": content}]
    if not isinstance(content, list):
        raise InvalidRequest(
            f"{where}.content: Input should be a string or a list of blocks", param=where
        )
    for position, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise InvalidRequest(
                f"{where}.content.{position}: a block must be an object with a type",
                param=f"{where}.content.{position}",
            )
    blocks = cast(list[ClientBlock], content)  # each an object with a type, checked above
    if role == "assistant":
        return [_assistant_message(blocks, where)]
    return _user_messages(role, blocks, where, calls_order)


def _chat_role(role: str) -> Literal["user", "assistant", "system"]:
    return "assistant" if role == "assistant" else "system" if role == "system" else "user"


def _assistant_message(blocks: list[ClientBlock], where: str) -> ChatMessage:
    texts: list[str] = []
    calls: list[ChatToolCall] = []
    for position, block in enumerate(blocks):
        kind = block["type"]
        if kind == "text":
            texts.append(_text(block, f"{where}.content.{position}"))
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            function: ChatFunctionCall = {
                "name": str(block.get("name") or ""),
                "arguments": arguments,
            }
            call_id = str(block.get("id") or "")
            calls.append({"id": call_id, "type": "function", "function": function})
    text = "".join(texts)
    message: ChatMessage = {"role": "assistant", "content": text if text or not calls else None}
    if calls:
        message["tool_calls"] = calls
    return message


def _user_messages(
    role: str, blocks: list[ClientBlock], where: str, calls_order: list[str]
) -> list[ChatMessage]:
    results: list[tuple[str, str]] = []  # (tool_call_id, text)
    parts: list[UserPart] = []
    moved: list[UserPart] = []  # images of tool results, sent after the tool messages
    for position, block in enumerate(blocks):
        place = f"{where}.content.{position}"
        kind = block["type"]
        if kind == "tool_result":
            text, images = _tool_result(block, place)
            results.append((str(block.get("tool_use_id") or ""), text))
            moved += images
        elif kind == "text":
            parts.append({"type": "text", "text": _text(block, place)})
        elif kind == "image":
            parts.append(_image(block, place))
        elif kind == "document":
            parts += _document(block, place)
    rank = {call_id: number for number, call_id in enumerate(calls_order)}
    results.sort(key=lambda result: rank.get(result[0], len(rank)))  # stable: unknown ids last
    messages: list[ChatMessage] = [
        {"role": "tool", "tool_call_id": call_id, "content": text} for call_id, text in results
    ]
    parts = moved + parts
    if parts or not results:
        messages.append({"role": _chat_role(role), "content": _compact(parts)})  # type: ignore[typeddict-item]
    return messages


def _compact(parts: list[UserPart]) -> str | list[UserPart]:
    """Text-only content as a plain string (what every OpenAI-compatible server accepts)."""
    if all(part["type"] == "text" for part in parts):
        return "\n\n".join(part["text"] for part in parts)  # type: ignore[typeddict-item]
    return parts


def _tool_result(block: ClientBlock, where: str) -> tuple[str, list[UserPart]]:
    content = block.get("content")
    texts: list[str] = []
    images: list[UserPart] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for position, item in enumerate(content):
            place = f"{where}.content.{position}"
            if not isinstance(item, dict):
                raise InvalidRequest(f"{place}: a block must be an object", param=place)
            kind = item.get("type")
            if not isinstance(kind, str):
                continue  # no kind that is read here
            inner = cast(ClientBlock, item)
            if kind == "text":
                texts.append(_text(inner, place))
            elif kind == "image":
                images.append(_image(inner, place))
            elif kind == "document":
                for part in _document(inner, place):
                    if part["type"] == "text":
                        texts.append(part["text"])  # type: ignore[typeddict-item]
                    else:
                        images.append(part)
    elif content is not None:
        raise InvalidRequest(
            f"{where}.content: Input should be a string or a list of blocks", param=where
        )
    text = "\n".join(texts)
    if block.get("is_error") is True:
        text = f"Error: {text}" if text else "Error"
    return text, images


def _text(block: ClientBlock, where: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise InvalidRequest(f"{where}.text: Input should be a string", param=f"{where}.text")
    return text


def _image(block: ClientBlock, where: str) -> ChatImagePart:
    source = _source(block)
    kind, url = source.get("type"), source.get("url")
    if kind == "base64":
        media_type, data = source.get("media_type"), source.get("data")
        if isinstance(media_type, str) and isinstance(data, str):
            return {"type": "image_url", "image_url": {"url": f"data:{media_type};base64,{data}"}}
    elif kind == "url" and isinstance(url, str):
        return {"type": "image_url", "image_url": {"url": url}}
    raise InvalidRequest(
        f"{where}.source: images must be base64 data or a URL for this model",
        param=f"{where}.source",
    )


def _document(block: ClientBlock, where: str) -> list[UserPart]:
    source = _source(block)
    kind, data = source.get("type"), source.get("data")
    if kind == "base64" and isinstance(data, str):
        media_type = source.get("media_type") or "application/pdf"
        file: ChatFileData = {"file_data": f"data:{media_type};base64,{data}"}
        title = block.get("title")
        if isinstance(title, str):
            file["filename"] = title
        return [{"type": "file", "file": file}]
    if kind == "text" and isinstance(data, str):
        return [{"type": "text", "text": data}]
    if kind == "content":
        inner = source.get("content")
        if isinstance(inner, str):
            return [{"type": "text", "text": inner}]
        if isinstance(inner, list):
            return [
                {"type": "text", "text": text} for text in _block_texts(inner, f"{where}.source")
            ]
    raise InvalidRequest(
        f"{where}.source: documents must be base64 PDF, plain text or content blocks for this "
        "model",
        param=f"{where}.source",
    )


def _source(block: ClientBlock) -> JsonObject:
    source = block.get("source")
    return source if isinstance(source, dict) else {}


def _block_texts(blocks: list[JsonValue], where: str) -> list[str]:
    texts = []
    for position, block in enumerate(blocks):
        if not isinstance(block, dict):
            raise InvalidRequest(f"{where}.{position}: a block must be an object", param=where)
        if block.get("type") == "text":
            texts.append(_text(cast(ClientBlock, block), f"{where}.{position}"))
    return texts
