"""Input items as what a conversation stores: a user or assistant message becomes a thread
message (``schemas.item_mapping.thread_content``), every other item a row of ``items`` holding
the SDK item. Items are stored with new ids, as OpenAI does, in the order given."""

from typing import cast

from threadline import ids
from threadline.engine.chat_turns import message_tokens
from threadline.errors import InvalidRequest
from threadline.records.items import ItemRow
from threadline.records.jsonvalue import JsonObject
from threadline.records.responses import ContentPart, Item, ItemStatus
from threadline.records.threads import ContentPart as ThreadPart
from threadline.records.threads import MessageRecord
from threadline.schemas.item_mapping import message_item, thread_content
from threadline.schemas.response_items import (
    CodeInterpreterCallInput,
    FileSearchCallInput,
    FunctionCallInput,
    FunctionCallOutputInput,
    InputItem,
    ItemReference,
    MessageInput,
    ReasoningInput,
)
from threadline.storage.items import Entry

# Prefixes of the ids minted for items that are not thread messages.
_PREFIXES = {
    "message": "msg_",  # system and developer messages
    "function_call": "fc_",
    "function_call_output": "fco_",
    "file_search_call": "fs_",
    "code_interpreter_call": "ci_",
    "reasoning": "rs_",
}


def stored_entries(
    project_id: str, thread_id: str, items: list[InputItem], now: int
) -> list[Entry]:
    """The rows ``items`` are stored as, one each, with new ids in the order given."""
    return [_entry(project_id, thread_id, item, index, now) for index, item in enumerate(items)]


def entry_item(entry: Entry, container_id: str) -> Item:
    """A stored entry as its conversation item (a thread message through the item mapping)."""
    if "body" in entry:
        return entry["body"]
    return message_item(entry, container_id=container_id)


def container_of(thread_id: str) -> str:
    """The code_interpreter container a thread's sandbox session stands for (its files are
    cited as ``container_file_citation``s of it)."""
    return "cntr_" + ids.creation_key(thread_id)


def _entry(project_id: str, thread_id: str, item: InputItem, index: int, now: int) -> Entry:
    if isinstance(item, MessageInput) and item.role in ("user", "assistant"):
        return _message(project_id, thread_id, item, now)
    if isinstance(item, ItemReference):
        raise InvalidRequest(
            "Invalid value: 'item_reference'. Conversation items are added by value; an "
            "item_reference is only accepted in a response's input.",
            param=f"items[{index}].type",
            code="invalid_value",
        )
    item_id = ids.new_id(_PREFIXES[item.type])
    body = _body(item, item_id)
    call_id = (
        item.call_id if isinstance(item, FunctionCallInput | FunctionCallOutputInput) else None
    )
    status = body.get("status")
    row: ItemRow = {
        "id": item_id,
        "project_id": project_id,
        "thread_id": thread_id,
        "position": ids.creation_key(item_id),
        "response_id": None,
        "run_id": None,
        "step_id": None,
        "type": item.type,
        "call_id": call_id,
        "status": status if isinstance(status, str) else None,
        "body": cast(Item, body),
        "created_at": now,
    }
    return row


def with_tokens(messages: list[MessageRecord]) -> list[MessageRecord]:
    """The messages, each with its token count (``messages.tokens``), as they are stored (a
    copy of a stored message has its count already)."""
    for message in messages:
        if message.get("tokens") is None:
            message["tokens"] = message_tokens(message)
    return messages


def _message(project_id: str, thread_id: str, item: MessageInput, now: int) -> MessageRecord:
    status: ItemStatus = item.status or "completed"
    content = thread_content(_parts(item.content), item.role)
    return {
        "id": ids.message_id(),
        "project_id": project_id,
        "thread_id": thread_id,
        "created_at": now,
        "status": status,
        "incomplete_details": {"reason": "other"} if status == "incomplete" else None,
        "completed_at": now if status == "completed" else None,
        "incomplete_at": now if status == "incomplete" else None,
        "role": "assistant" if item.role == "assistant" else "user",
        # Responses-only parts (input_file, refusal) are kept as they came: the thread view
        # leaves them out (``schemas.objects.message_data``).
        "content": cast(list[ThreadPart], content),
        "assistant_id": None,
        "run_id": None,
        "attachments": [],
        "metadata": {},
        "tokens": None,  # counted when stored (``with_tokens``): a response's input files
        # are read into its content after this
    }


def _parts(content: object) -> list[ContentPart] | str:
    if isinstance(content, str):
        return content
    assert isinstance(content, list)
    return [cast(ContentPart, part.model_dump(exclude_none=True)) for part in content]


def _body(item: InputItem, item_id: str) -> JsonObject:
    """The SDK item an input item is stored as."""
    if isinstance(item, MessageInput):  # a system or developer message
        parts = _parts(item.content)
        if isinstance(parts, str):
            parts = [{"type": "input_text", "text": parts}]
        return {
            "id": item_id,
            "type": "message",
            "role": item.role,
            "status": item.status or "completed",
            "content": cast(list[JsonObject], parts),
        }
    dumped = item.model_dump(exclude_none=True)
    dumped["id"] = item_id
    if isinstance(item, FunctionCallInput | FunctionCallOutputInput | ReasoningInput):
        dumped.setdefault("status", "completed")
    if isinstance(item, ReasoningInput):
        dumped.setdefault("encrypted_content", None)
    if isinstance(item, FileSearchCallInput):
        dumped.setdefault("results", None)
    if isinstance(item, CodeInterpreterCallInput):
        dumped.setdefault("code", None)
        dumped.setdefault("outputs", None)
    return cast(JsonObject, dumped)
