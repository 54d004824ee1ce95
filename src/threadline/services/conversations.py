"""Conversations: a conversation is a thread, so each operation here is one unit of work over
the thread, its messages and its ``items`` rows (``storage.items``). A thread made through
``/v1/threads`` is a conversation, and a conversation made here (``conv_…``) is a thread: one
store, two views."""

from threadline import clock, ids
from threadline.errors import InvalidRequest, NotFound
from threadline.ids import creation_key
from threadline.records.items import ItemRow
from threadline.records.jsonvalue import JsonObject, Metadata
from threadline.records.responses import ConversationRecord, Item
from threadline.records.threads import MessageRecord, ThreadRecord
from threadline.schemas import response_objects
from threadline.schemas.response_items import InputItem
from threadline.schemas.response_objects import Conversation, ConversationDeletedResource, ItemList
from threadline.schemas.responses import (
    CreateConversation,
    CreateConversationItems,
    UpdateConversation,
)
from threadline.services.attachments import check_file_references
from threadline.services.conversation_items import (
    container_of,
    entry_item,
    stored_entries,
    with_tokens,
)
from threadline.services.conversation_steps import step_items
from threadline.services.threads import delete_thread
from threadline.storage.database import Connection, Database
from threadline.storage.items import (
    Entry,
    ItemRepository,
    KeyRange,
    hold_idle_thread,
    list_entries,
    read_snapshot,
)
from threadline.storage.pagination import Page, PageRequest
from threadline.storage.repositories import MessageRepository, ThreadRepository
from threadline.storage.responses import ResponseRepository

_threads = ThreadRepository()
_messages = MessageRepository()
_items = ItemRepository()
_responses = ResponseRepository()

LOCKED = (
    "Another process is currently operating on this conversation. Please retry in a few seconds."
)


def not_found(conversation_id: str) -> NotFound:
    return NotFound(f"Conversation with id '{conversation_id}' not found.")


def item_not_found(item_id: str) -> NotFound:
    return NotFound(f"Item with id '{item_id}' not found.")


class ConversationService:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def create(self, project_id: str, request: CreateConversation) -> Conversation:
        now = clock.now()
        thread: ThreadRecord = {
            "id": ids.new_id("conv_"),
            "project_id": project_id,
            "created_at": now,
            "tool_resources": None,
            "metadata": request.metadata or {},
        }
        entries = stored_entries(project_id, thread["id"], list(request.items or ()), now)
        _check_items(entries, thread["id"])
        await self._db.write(_create, thread, entries)
        return response_objects.conversation(_conversation(thread))

    async def retrieve(self, project_id: str, conversation_id: str) -> Conversation:
        thread = await self._db.read(_threads.get, project_id, conversation_id)
        if thread is None:
            raise not_found(conversation_id)
        return response_objects.conversation(_conversation(thread))

    async def update(
        self, project_id: str, conversation_id: str, request: UpdateConversation
    ) -> Conversation:
        metadata: Metadata = request.metadata
        thread = await self._db.write(
            _threads.modify, project_id, conversation_id, {"metadata": metadata}
        )
        if thread is None:
            raise not_found(conversation_id)
        return response_objects.conversation(_conversation(thread))

    async def delete(self, project_id: str, conversation_id: str) -> ConversationDeletedResource:
        if not await self._db.write(delete_thread, project_id, conversation_id):
            raise not_found(conversation_id)
        return response_objects.conversation_deleted(conversation_id)

    async def add_items(
        self,
        project_id: str,
        conversation_id: str,
        request: CreateConversationItems,
        include: frozenset[str],
    ) -> ItemList:
        items: list[InputItem] = list(request.items)
        entries = stored_entries(project_id, conversation_id, items, clock.now())
        added = _check_items(entries, conversation_id)
        await self._db.write(_add, project_id, conversation_id, entries)
        return response_objects.item_list(added, False, include)

    async def list_items(
        self, project_id: str, conversation_id: str, page: PageRequest, include: frozenset[str]
    ) -> ItemList:
        found = await self._db.read(_list, project_id, conversation_id, page)
        container = container_of(conversation_id)
        listed = [entry_item(entry, container) for entry in found.items]
        return response_objects.item_list(listed, found.has_more, include)

    async def retrieve_item(
        self, project_id: str, conversation_id: str, item_id: str, include: frozenset[str]
    ) -> JsonObject:
        entry = await self._db.read(_get_item, project_id, conversation_id, item_id)
        return response_objects.item_data(entry_item(entry, container_of(conversation_id)), include)

    async def delete_item(
        self, project_id: str, conversation_id: str, item_id: str
    ) -> Conversation:
        thread = await self._db.write(_delete_item, project_id, conversation_id, item_id)
        return response_objects.conversation(_conversation(thread))


def _conversation(thread: ThreadRecord) -> ConversationRecord:
    return {"id": thread["id"], "created_at": thread["created_at"], "metadata": thread["metadata"]}


def _check_items(entries: list[Entry], conversation_id: str) -> list[Item]:
    """The entries as the items they will be shown as: one the SDK's types reject is refused
    here, before anything is stored."""
    container = container_of(conversation_id)
    items = [entry_item(entry, container) for entry in entries]
    for index, item in enumerate(items):
        try:
            response_objects.conversation_item(item)
        except ValueError:
            raise InvalidRequest(
                "This item is not a valid conversation item.",
                param=f"items[{index}]",
                code="invalid_value",
            ) from None
    return items


def _split(entries: list[Entry]) -> tuple[list[MessageRecord], list[ItemRow]]:
    messages: list[MessageRecord] = []
    rows: list[ItemRow] = []
    for entry in entries:
        if "body" in entry:
            rows.append(entry)
        else:
            messages.append(entry)
    return messages, rows


def _insert_entries(connection: Connection, project_id: str, entries: list[Entry]) -> None:
    messages, rows = _split(entries)
    for index, entry in enumerate(entries):
        if "body" not in entry:
            now = entry["created_at"]
            check_file_references(connection, project_id, [entry], now, param=f"items[{index}].")
    _messages.insert_many(connection, with_tokens(messages))
    _items.insert_many(connection, rows)


def _create(connection: Connection, thread: ThreadRecord, entries: list[Entry]) -> None:
    _threads.insert(connection, thread)
    _insert_entries(connection, thread["project_id"], entries)


def _add(
    connection: Connection, project_id: str, conversation_id: str, entries: list[Entry]
) -> None:
    if not hold_idle_thread(connection, project_id, conversation_id):
        if not _threads.exists(connection, project_id, conversation_id):
            raise not_found(conversation_id)
        raise InvalidRequest(LOCKED, code="conversation_locked")
    _insert_entries(connection, project_id, entries)


def _list(
    connection: Connection, project_id: str, conversation_id: str, page: PageRequest
) -> Page[Entry]:
    """A page of the conversation as it was before the run now on it, if any: a response's
    input and output appear together when it ends (one snapshot of both tables)."""
    read_snapshot(connection)
    thread = _threads.get(connection, project_id, conversation_id)
    if thread is None:
        raise not_found(conversation_id)
    within = KeyRange()
    running = thread["active_run_id"]
    if running is not None:
        response = _responses.of_run(connection, running)
        first = response["input_first"] if response is not None else None
        within = KeyRange(stop=creation_key(first or running))
    steps = step_items(container_of(conversation_id))
    return list_entries(connection, project_id, conversation_id, page, within, steps)


def _get_item(connection: Connection, project_id: str, conversation_id: str, item_id: str) -> Entry:
    if not _threads.exists(connection, project_id, conversation_id):
        raise not_found(conversation_id)
    found: Entry | None = _messages.get_in_thread(connection, project_id, conversation_id, item_id)
    if found is None:
        found = _items.get_in_thread(connection, project_id, conversation_id, item_id)
    if found is None:
        raise item_not_found(item_id)
    return found


def _delete_item(
    connection: Connection, project_id: str, conversation_id: str, item_id: str
) -> ThreadRecord:
    thread = _threads.get(connection, project_id, conversation_id)
    if thread is None:
        raise not_found(conversation_id)
    deleted = _messages.delete_in_thread(connection, project_id, conversation_id, item_id)
    if not deleted and not _items.delete_in_thread(
        connection, project_id, conversation_id, item_id
    ):
        raise item_not_found(item_id)
    return thread
