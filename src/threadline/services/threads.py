"""Threads: create (with initial messages), retrieve, modify, delete (with its messages)."""

from threadline import clock, ids
from threadline.errors import NotFound
from threadline.records.threads import MessageRecord, ThreadChanges, ThreadRecord
from threadline.schemas import objects
from threadline.schemas.common import ToolResources, dump_tool_resources
from threadline.schemas.objects import Thread, ThreadDeleted
from threadline.schemas.requests import CreateThread, ModifyThread
from threadline.services.attachments import attach, check_file_references, references_files
from threadline.services.messages import message_record
from threadline.services.store_membership import IngestionQueue
from threadline.services.tool_resources import (
    check_tool_resources,
    modify_with_resources,
    references_anything,
    resolve_tool_resources,
)
from threadline.storage.database import Connection, Database
from threadline.storage.items import ItemRepository
from threadline.storage.repositories import MessageRepository, ThreadRepository

_threads = ThreadRepository()
_messages = MessageRepository()
_items = ItemRepository()


class ThreadService:
    def __init__(self, database: Database, ingestion: IngestionQueue) -> None:
        self._db = database
        self._ingestion = ingestion

    async def create(self, project_id: str, request: CreateThread) -> Thread:
        check_tool_resources(request.tool_resources)
        created_at = clock.now()
        record: ThreadRecord = {
            "id": ids.thread_id(),
            "project_id": project_id,
            "created_at": created_at,
            "tool_resources": dump_tool_resources(request.tool_resources),
            "metadata": request.metadata or {},
        }
        messages = [
            message_record(project_id, record["id"], message, created_at)
            for message in request.messages
        ]
        if references_anything(request.tool_resources) or references_files(messages):
            created = await self._db.write(
                _insert_resolved, record, messages, request.tool_resources
            )
            self._ingestion.wake()
            return created
        # Built before the write: a record the response type rejects is never stored.
        created = objects.thread(record)
        await self._db.write(_insert_thread, record, messages)
        return created

    async def retrieve(self, project_id: str, thread_id: str) -> Thread:
        record = await self._db.read(_threads.get, project_id, thread_id)
        if record is None:
            raise NotFound.object("thread", thread_id)
        return objects.thread(record)

    async def modify(self, project_id: str, thread_id: str, request: ModifyThread) -> Thread:
        check_tool_resources(request.tool_resources)
        changes: ThreadChanges = {}
        if "metadata" in request.model_fields_set:
            changes["metadata"] = request.metadata or {}
        if "tool_resources" in request.model_fields_set:
            changes["tool_resources"] = dump_tool_resources(request.tool_resources)
        resources = request.tool_resources if references_anything(request.tool_resources) else None
        record = await self._db.write(
            modify_with_resources, _threads, "thread", project_id, thread_id, changes, resources
        )
        if resources is not None:
            self._ingestion.wake()
        return objects.thread(record)

    async def delete(self, project_id: str, thread_id: str) -> ThreadDeleted:
        await self._db.write(_delete_thread, project_id, thread_id)
        return objects.thread_deleted(thread_id)


def _insert_thread(
    connection: Connection, record: ThreadRecord, messages: list[MessageRecord]
) -> None:
    _threads.insert(connection, record)
    _messages.insert_many(connection, messages)


def _insert_resolved(
    connection: Connection,
    record: ThreadRecord,
    messages: list[MessageRecord],
    resources: ToolResources | None,
) -> Thread:
    project_id, now = record["project_id"], record["created_at"]
    record["tool_resources"] = resolve_tool_resources(connection, project_id, resources, now)
    check_file_references(connection, project_id, messages, now, param="messages[{index}].")
    objects.thread(record)  # a record the response type rejects is never stored
    _insert_thread(connection, record, messages)
    changed = attach(connection, project_id, record["id"], messages, now)
    if changed is not None:
        record["tool_resources"] = changed
    return objects.thread(record)


def _delete_thread(connection: Connection, project_id: str, thread_id: str) -> None:
    if not delete_thread(connection, project_id, thread_id):
        raise NotFound.object("thread", thread_id)


def delete_thread(connection: Connection, project_id: str, thread_id: str) -> bool:
    """Delete the thread (a conversation too) with its messages and items; False if the
    project has no such thread."""
    if not _threads.exists(connection, project_id, thread_id):
        return False
    # Messages and items first: no orphan survives even where foreign keys are not enforced.
    _messages.delete_all_in_thread(connection, project_id, thread_id)
    _items.delete_all_in_thread(connection, project_id, thread_id)
    _threads.delete(connection, project_id, thread_id)
    return True
