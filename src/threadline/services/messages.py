"""Messages: create, list (with ``run_id`` filter), retrieve, modify, delete."""

from collections.abc import Sequence
from typing import cast

from threadline import clock, ids
from threadline.engine.chat_turns import message_tokens
from threadline.errors import InvalidRequest, NotFound
from threadline.records.jsonvalue import Metadata
from threadline.records.threads import Attachment, ContentPart, ImageFile, ImageUrl, MessageRecord
from threadline.schemas import objects
from threadline.schemas.objects import ListPage, Message, MessageDeleted
from threadline.schemas.requests import ContentPart as RequestPart
from threadline.schemas.requests import CreateMessage, ModifyMessage
from threadline.services.attachments import attach, check_file_references, references_files
from threadline.services.store_membership import IngestionQueue
from threadline.storage.database import Connection, Database
from threadline.storage.pagination import Page, PageRequest
from threadline.storage.repositories import MessageRepository, ThreadRepository

_messages = MessageRepository()
_threads = ThreadRepository()


def content_parts(content: str | Sequence[RequestPart]) -> list[ContentPart]:
    """A request's content (a string or parts) as the message object's content array."""
    if isinstance(content, str):
        return [{"type": "text", "text": {"value": content, "annotations": []}}]
    parts: list[ContentPart] = []
    for part in content:
        if part.type == "text":
            parts.append({"type": "text", "text": {"value": part.text, "annotations": []}})
        # A detail not given is left out: the spec's detail is an enum, never null.
        elif part.type == "image_file":
            image_file = cast(ImageFile, part.image_file.model_dump(exclude_none=True))
            parts.append({"type": "image_file", "image_file": image_file})
        else:
            image_url = cast(ImageUrl, part.image_url.model_dump(exclude_none=True))
            parts.append({"type": "image_url", "image_url": image_url})
    return parts


def message_record(
    project_id: str, thread_id: str, request: CreateMessage, created_at: int
) -> MessageRecord:
    attachments = (
        [cast(Attachment, a.model_dump()) for a in request.attachments]
        if request.attachments is not None
        else []
    )
    record: MessageRecord = {
        "id": ids.message_id(),
        "project_id": project_id,
        "thread_id": thread_id,
        "created_at": created_at,
        "status": "completed",
        "incomplete_details": None,
        "completed_at": created_at,
        "incomplete_at": None,
        "role": request.role,
        "content": content_parts(request.content),
        "assistant_id": None,
        "run_id": None,
        "attachments": attachments,
        "metadata": request.metadata or {},
    }
    record["tokens"] = message_tokens(record)
    return record


class MessageService:
    def __init__(self, database: Database, ingestion: IngestionQueue) -> None:
        self._db = database
        self._ingestion = ingestion

    async def create(self, project_id: str, thread_id: str, request: CreateMessage) -> Message:
        record = message_record(project_id, thread_id, request, clock.now())
        # Built before the write: a record the response type rejects is never stored.
        created = objects.message(record)
        if references_files([record]):
            await self._db.write(_insert_with_attachments, project_id, thread_id, record)
            self._ingestion.wake()  # files attached for file_search are being indexed
        elif not await self._db.write(_messages.insert_into_thread, record):
            await self._db.read(_refuse_insert, project_id, thread_id)
        return created

    async def retrieve(self, project_id: str, thread_id: str, message_id: str) -> Message:
        record = await self._db.read(_messages.get_in_thread, project_id, thread_id, message_id)
        if record is None:
            raise NotFound.object("message", message_id)
        return objects.message(record)

    async def list(
        self, project_id: str, thread_id: str, page: PageRequest, run_id: str | None = None
    ) -> ListPage:
        result = await self._db.read(_list_in_thread, project_id, thread_id, page, run_id)
        return objects.list_page([objects.message(r) for r in result.items], result.has_more)

    async def modify(
        self, project_id: str, thread_id: str, message_id: str, request: ModifyMessage
    ) -> Message:
        sent = "metadata" in request.model_fields_set
        metadata = (request.metadata or {}) if sent else None
        record = await self._db.write(_modify_metadata, project_id, thread_id, message_id, metadata)
        return objects.message(record)

    async def delete(self, project_id: str, thread_id: str, message_id: str) -> MessageDeleted:
        deleted = await self._db.write(
            _messages.delete_in_thread, project_id, thread_id, message_id
        )
        if not deleted:
            raise NotFound.object("message", message_id)
        return objects.message_deleted(message_id)


def _refuse_insert(connection: Connection, project_id: str, thread_id: str) -> None:
    """Why a message could not be added to the thread."""
    thread = _threads.get(connection, project_id, thread_id)
    if thread is None:
        raise NotFound.object("thread", thread_id, param="thread_id")
    raise InvalidRequest(
        f"Can't add messages to {thread_id} while a run {thread['active_run_id']} is active."
    )


def _insert_with_attachments(
    connection: Connection, project_id: str, thread_id: str, record: MessageRecord
) -> None:
    if not _messages.insert_into_thread(connection, record):
        _refuse_insert(connection, project_id, thread_id)
    check_file_references(connection, project_id, [record], record["created_at"])
    attach(connection, project_id, thread_id, [record], record["created_at"])


def _list_in_thread(
    connection: Connection, project_id: str, thread_id: str, page: PageRequest, run_id: str | None
) -> Page:
    if not _threads.exists(connection, project_id, thread_id):
        raise NotFound.object("thread", thread_id, param="thread_id")
    return _messages.list(connection, project_id, page, thread_id=thread_id, run_id=run_id)


def _modify_metadata(
    connection: Connection,
    project_id: str,
    thread_id: str,
    message_id: str,
    metadata: Metadata | None,
) -> MessageRecord:
    record = _messages.get_in_thread(connection, project_id, thread_id, message_id)
    if record is None:
        raise NotFound.object("message", message_id)
    if metadata is not None:
        record["metadata"] = metadata
        _messages.update(connection, project_id, message_id, {"metadata": metadata})
    return record
