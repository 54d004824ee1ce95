"""Response objects: stored records turned into the official SDK's types.

Building every response through the SDK's own models means the wire shape is what clients parse,
by construction: required-but-null fields come out as explicit ``null``s, not missing keys."""

from typing import Any, Literal, TypedDict

from openai.types.beta import Assistant, AssistantDeleted, Thread, ThreadDeleted
from openai.types.beta.threads import Message, MessageDeleted
from pydantic import BaseModel

from threadline.records.jsonvalue import JsonObject, Metadata
from threadline.records.threads import (
    AssistantRecord,
    Attachment,
    ContentPart,
    IncompleteDetails,
    MessageRecord,
    MessageRole,
    MessageStatus,
    ThreadRecord,
)

__all__ = [
    "Assistant",
    "AssistantDeleted",
    "ListPage",
    "Message",
    "MessageDeleted",
    "Thread",
    "ThreadDeleted",
    "dump",
]

# A row of the run path (``schemas.run_objects``), whose mappers are not typed yet.


class MessageData(TypedDict):
    """A message object as it goes on the wire."""

    id: str
    object: Literal["thread.message"]
    created_at: int
    thread_id: str
    status: MessageStatus
    incomplete_details: IncompleteDetails | None
    completed_at: int | None
    incomplete_at: int | None
    role: MessageRole
    content: list[ContentPart]
    assistant_id: str | None
    run_id: str | None
    attachments: list[Attachment] | None
    metadata: Metadata | None


def assistant(record: AssistantRecord) -> Assistant:
    return Assistant.model_validate(
        {
            "id": record["id"],
            "object": "assistant",
            "created_at": record["created_at"],
            "name": record["name"],
            "description": record["description"],
            "model": record["model"],
            "instructions": record["instructions"],
            "tools": record["tools"],
            "tool_resources": record["tool_resources"],
            "metadata": record["metadata"],
            "temperature": record["temperature"],
            "top_p": record["top_p"],
            "response_format": record["response_format"],
            "reasoning_effort": record["reasoning_effort"],
        }
    )


def thread(record: ThreadRecord) -> Thread:
    return Thread.model_validate(
        {
            "id": record["id"],
            "object": "thread",
            "created_at": record["created_at"],
            "tool_resources": record["tool_resources"],
            "metadata": record["metadata"],
        }
    )


def message(record: MessageRecord) -> Message:
    return Message.model_validate(message_data(record))


def message_data(record: MessageRecord) -> MessageData:
    """The message as it goes on the wire (``dump(message(record))``, without building the
    model): the run engine's stream events are built from it."""
    return {
        "id": record["id"],
        "object": "thread.message",
        "created_at": record["created_at"],
        "thread_id": record["thread_id"],
        "status": record["status"],
        "incomplete_details": record["incomplete_details"],
        "completed_at": record["completed_at"],
        "incomplete_at": record["incomplete_at"],
        "role": record["role"],
        "content": _thread_parts(record["content"]),
        "assistant_id": record["assistant_id"],
        "run_id": record["run_id"],
        "attachments": record["attachments"],
        "metadata": record["metadata"],
    }


# The parts a thread message shows; a message item added through the Conversations API may
# also hold parts only the Responses API has (``input_file``, ``refusal``), kept for that view.
_THREAD_PARTS = frozenset({"text", "image_file", "image_url"})


def _thread_parts(content: list[ContentPart]) -> list[ContentPart]:
    if all(part["type"] in _THREAD_PARTS for part in content):
        return content
    return [part for part in content if part["type"] in _THREAD_PARTS]


def assistant_deleted(object_id: str) -> AssistantDeleted:
    return AssistantDeleted(id=object_id, object="assistant.deleted", deleted=True)


def thread_deleted(object_id: str) -> ThreadDeleted:
    return ThreadDeleted(id=object_id, object="thread.deleted", deleted=True)


def message_deleted(object_id: str) -> MessageDeleted:
    return MessageDeleted(id=object_id, object="thread.message.deleted", deleted=True)


class ListPage(BaseModel):
    """OpenAI's cursor list envelope."""

    object: str = "list"
    data: list[Any]
    first_id: str | None
    last_id: str | None
    has_more: bool


def list_page(items: list[Any], has_more: bool) -> ListPage:
    return ListPage(
        object="list",  # set explicitly: responses leave out fields that were never set
        data=items,
        first_id=items[0].id if items else None,
        last_id=items[-1].id if items else None,
        has_more=has_more,
    )


def dump(model: BaseModel) -> JsonObject:
    """An SDK object as it goes on the wire. ``exclude_unset``: builders pass every required
    key (nulls included) explicitly, so only optional keys never given are left out, as OpenAI
    leaves them out."""
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True)
