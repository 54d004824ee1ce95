"""Responses, conversations and their items as the official SDK's types.

``response_data`` is the wire dict (as ``run_data`` is a run's): the stream translator puts it in
every lifecycle event without building a model; ``response`` validates the same dict through
the SDK's ``Response``, so what goes out is what clients parse (a unit test keeps them equal).
Every field OpenAI sends is sent, nulls included, with the defaults it echoes: ``text.format``
``{"type": "text"}``, ``reasoning`` ``{"effort": null, "summary": null}``, ``tool_choice``
``"auto"``, ``metadata`` ``{}``, ``temperature`` and ``top_p`` 1.0, ``usage`` null until the
response ends.

What ``include[]`` gates is left out here unless asked for: file_search results, code
interpreter outputs, reasoning's encrypted content."""

from typing import Literal, TypedDict

from openai.types.conversations import Conversation, ConversationDeletedResource
from openai.types.conversations.conversation_item import ConversationItem
from openai.types.responses import Response, ResponseItem
from pydantic import TypeAdapter

from threadline.records.jsonvalue import JsonObject, JsonValue
from threadline.records.responses import (
    ConversationRecord,
    Item,
    ResponseRecord,
)

__all__ = [
    "Conversation",
    "ConversationDeletedResource",
    "Response",
    "conversation",
    "conversation_deleted",
    "conversation_item",
    "input_tokens",
    "item_data",
    "item_list",
    "response",
    "response_data",
    "response_deleted",
]

RESULTS = "file_search_call.results"
OUTPUTS = "code_interpreter_call.outputs"
ENCRYPTED = "reasoning.encrypted_content"
LOGPROBS = "message.output_text.logprobs"

_conversation_item = TypeAdapter[ConversationItem](ConversationItem)
_response_item = TypeAdapter[ResponseItem](ResponseItem)


def response_data(record: ResponseRecord, include: frozenset[str] = frozenset()) -> JsonObject:
    """The response as it goes on the wire (``dump(response(record))``, without the model)."""
    data: JsonObject = {
        "id": record["id"],
        "object": "response",
        "created_at": record["created_at"],
        "status": record["status"],
        "background": record["background"],
        "completed_at": record["completed_at"],
        "conversation": dict(record["conversation"]) if record["conversation"] else None,
        "error": dict(record["error"]) if record["error"] else None,
        "incomplete_details": (
            dict(record["incomplete_details"]) if record["incomplete_details"] else None
        ),
        "instructions": record["instructions"],
        "max_output_tokens": record["max_output_tokens"],
        "max_tool_calls": record["max_tool_calls"],
        "metadata": dict(record["metadata"]),
        "model": record["model"],
        "output": [item_data(item, include) for item in record["output"]],
        "parallel_tool_calls": record["parallel_tool_calls"],
        "previous_response_id": record["previous_response_id"],
        "prompt": None,
        "prompt_cache_key": record["prompt_cache_key"],
        "reasoning": dict(record["reasoning"]),
        "safety_identifier": record["safety_identifier"],
        "service_tier": record["service_tier"],
        "store": record["store"],
        "temperature": 1.0 if record["temperature"] is None else record["temperature"],
        "text": _json(record["text"]),
        "tool_choice": record["tool_choice"],
        "tools": [_json(tool) for tool in record["tools"]],
        "top_logprobs": record["top_logprobs"],
        "top_p": 1.0 if record["top_p"] is None else record["top_p"],
        "truncation": record["truncation"],
        "usage": _json(record["usage"]) if record["usage"] else None,
        "user": record["user"],
    }
    return data


def response(record: ResponseRecord, include: frozenset[str] = frozenset()) -> Response:
    return Response.model_validate(response_data(record, include))


def item_data(item: Item, include: frozenset[str] = frozenset()) -> JsonObject:
    """An item as it goes on the wire, what ``include`` does not ask for left out."""
    data = _json(item)
    assert isinstance(data, dict)
    kind = item["type"]
    if kind == "file_search_call" and RESULTS not in include:
        data["results"] = None
    elif kind == "code_interpreter_call" and OUTPUTS not in include:
        data["outputs"] = None
    elif kind == "reasoning" and ENCRYPTED not in include:
        data["encrypted_content"] = None
    elif kind == "message" and LOGPROBS not in include and item["role"] == "assistant":
        content = data["content"]
        assert isinstance(content, list)
        data["content"] = [_without_logprobs(part) for part in content]
    return data


def _without_logprobs(part: JsonValue) -> JsonValue:
    if isinstance(part, dict) and part.get("type") == "output_text":
        return {**part, "logprobs": []}
    return part


def conversation_item(item: Item, include: frozenset[str] = frozenset()) -> ConversationItem:
    return _conversation_item.validate_python(item_data(item, include))


def response_item(item: Item, include: frozenset[str] = frozenset()) -> ResponseItem:
    """An input or output item of a response (``GET /responses/{id}/input_items``)."""
    return _response_item.validate_python(item_data(item, include))


class ItemList(TypedDict):
    object: Literal["list"]
    data: list[JsonObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


def item_list(items: list[Item], has_more: bool, include: frozenset[str] = frozenset()) -> ItemList:
    """A page of items (conversation items, a response's input items): OpenAI's cursor list,
    newest first unless asked otherwise; ``after`` is the last id of the page before."""
    return {
        "object": "list",
        "data": [item_data(item, include) for item in items],
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
        "has_more": has_more,
    }


def conversation(record: ConversationRecord) -> Conversation:
    return Conversation.model_validate(
        {
            "id": record["id"],
            "object": "conversation",
            "created_at": record["created_at"],
            "metadata": dict(record["metadata"] or {}),
        }
    )


def conversation_deleted(conversation_id: str) -> ConversationDeletedResource:
    return ConversationDeletedResource(
        id=conversation_id, object="conversation.deleted", deleted=True
    )


class ResponseDeleted(TypedDict):
    id: str
    object: Literal["response.deleted"]
    deleted: bool


def response_deleted(response_id: str) -> ResponseDeleted:
    # No SDK type: the SDK's delete() returns None and ignores the body.
    return {"id": response_id, "object": "response.deleted", "deleted": True}


class InputTokens(TypedDict):
    object: Literal["response.input_tokens"]
    input_tokens: int


def input_tokens(count: int) -> InputTokens:
    return {"object": "response.input_tokens", "input_tokens": count}


def _json(value: object) -> JsonObject:
    """A typed record as the JSON object it is (TypedDicts are dicts at run time); copied one
    level deep so that the caller's record is not changed by the filtering above."""
    assert isinstance(value, dict)
    return dict(value)
