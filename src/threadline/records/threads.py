"""Rows of assistants, threads and messages (``storage.tables``), keyed by column name."""

from typing import Literal, NotRequired, TypeAlias, TypedDict, final

from threadline.records.jsonvalue import Metadata
from threadline.records.tools import ResponseFormatRecord, ToolDefinition, ToolResourcesRecord


class AssistantRecord(TypedDict):
    id: str
    project_id: str
    created_at: int
    name: str | None
    description: str | None
    model: str
    instructions: str | None
    tools: list[ToolDefinition]
    tool_resources: ToolResourcesRecord | None
    metadata: Metadata | None
    temperature: float | None
    top_p: float | None
    response_format: ResponseFormatRecord
    reasoning_effort: str | None


class AssistantChanges(TypedDict, total=False):
    """What a modify request sets (only the fields it sent)."""

    name: str | None
    description: str | None
    model: str
    instructions: str | None
    tools: list[ToolDefinition]
    tool_resources: ToolResourcesRecord | None
    metadata: Metadata | None
    temperature: float | None
    top_p: float | None
    response_format: ResponseFormatRecord
    reasoning_effort: str | None


# "thread": made by the Assistants API; "conversation": by the Conversations API; "chain": the
# hidden thread a ``previous_response_id`` chain of responses runs on.
ThreadKind: TypeAlias = Literal["thread", "conversation", "chain"]


class ThreadRecord(TypedDict):
    id: str
    project_id: str
    created_at: int
    tool_resources: ToolResourcesRecord | None
    metadata: Metadata | None
    # The run that holds the thread, None when idle (absent from a record not yet inserted).
    active_run_id: NotRequired[str | None]
    # Absent from a record not yet inserted: the column's default, "thread".
    kind: NotRequired[ThreadKind]


class ThreadChanges(TypedDict, total=False):
    tool_resources: ToolResourcesRecord | None
    metadata: Metadata | None
    active_run_id: str | None


# --- message content --------------------------------------------------------------------------

ImageDetail: TypeAlias = Literal["auto", "low", "high"]


class FileId(TypedDict):
    file_id: str


class FileCitationAnnotation(TypedDict):
    type: Literal["file_citation"]
    text: str
    start_index: int
    end_index: int
    file_citation: FileId


class FilePathAnnotation(TypedDict):
    type: Literal["file_path"]
    text: str
    start_index: int
    end_index: int
    file_path: FileId


Annotation: TypeAlias = FileCitationAnnotation | FilePathAnnotation


class Text(TypedDict):
    value: str
    annotations: list[Annotation]


class TextPart(TypedDict):
    type: Literal["text"]
    text: Text


class ImageFile(TypedDict):
    file_id: str
    detail: NotRequired[ImageDetail]


class ImageFilePart(TypedDict):
    type: Literal["image_file"]
    image_file: ImageFile


class ImageUrl(TypedDict):
    url: str
    detail: NotRequired[ImageDetail]


class ImageUrlPart(TypedDict):
    type: Literal["image_url"]
    image_url: ImageUrl


ContentPart: TypeAlias = TextPart | ImageFilePart | ImageUrlPart


class AttachmentTool(TypedDict):
    type: Literal["code_interpreter", "file_search"]


class Attachment(TypedDict):
    file_id: str
    tools: list[AttachmentTool]


# --- messages ---------------------------------------------------------------------------------

MessageStatus: TypeAlias = Literal["in_progress", "incomplete", "completed"]
MessageRole: TypeAlias = Literal["user", "assistant"]


class IncompleteDetails(TypedDict):
    reason: str


class MessageRecord(TypedDict):
    id: str
    project_id: str
    thread_id: str
    created_at: int
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
    # Its prompt tokens (``engine.chat_turns.message_tokens``) once it is finished; None while
    # it is written and for rows older than the column (a run counts those when it reads them).
    tokens: NotRequired[int | None]


@final  # no other keys: told apart from engine.chat_turns' KnownTurn by its keys
class PromptMessageRecord(TypedDict):
    """What a prompt needs of a message (``storage.run_messages.conversation_messages_by_id``)."""

    id: str
    role: MessageRole
    status: MessageStatus
    content: list[ContentPart]
    tokens: NotRequired[int | None]


class MessageChanges(TypedDict, total=False):
    status: MessageStatus
    incomplete_details: IncompleteDetails | None
    completed_at: int | None
    incomplete_at: int | None
    content: list[ContentPart]
    tokens: int | None
    metadata: Metadata | None
