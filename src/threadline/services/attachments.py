"""Message attachments: their files (and ``image_file`` content's) must be the project's own,
and files attached for
``file_search`` go into the thread's own vector store, as OpenAI did: the store the thread's
``tool_resources.file_search`` names, or, when it has none (or it is gone or expired), a new one
with a 7-day ``last_active_at`` expiry, recorded there."""

from threadline.errors import InvalidRequest
from threadline.records.threads import MessageRecord
from threadline.records.tools import ToolResourcesRecord
from threadline.services.file_search import file_search_store_ids
from threadline.services.store_membership import (
    AUTO_CHUNKING,
    FileEntry,
    new_store_record,
    put_files,
)
from threadline.storage.database import Connection
from threadline.storage.files import FileRepository, VectorStoreRepository
from threadline.storage.repositories import ThreadRepository

_files = FileRepository()
_stores = VectorStoreRepository()
_threads = ThreadRepository()

THREAD_STORE_EXPIRY_DAYS = 7


def references_files(messages: list[MessageRecord]) -> bool:
    """Whether the messages name files (attachments or ``image_file`` content)."""
    return any(
        message["attachments"] or any(part["type"] == "image_file" for part in message["content"])
        for message in messages
    )


def check_file_references(
    connection: Connection,
    project_id: str,
    messages: list[MessageRecord],
    now: int,
    param: str = "",
) -> None:
    """400 naming the first attachment or ``image_file`` whose file is not a live file of the
    project. ``param`` prefixes the name (``messages[{index}].`` for a thread's messages)."""
    for message_index, message in enumerate(messages):
        where = param.format(index=message_index)
        named = [
            (f"{where}attachments[{i}].file_id", attachment["file_id"])
            for i, attachment in enumerate(message["attachments"] or [])
        ] + [
            (f"{where}content[{i}].image_file.file_id", part["image_file"]["file_id"])
            for i, part in enumerate(message["content"])
            if part["type"] == "image_file"
        ]
        missing = set(_files.missing(connection, project_id, [f for _, f in named], now))
        for name, file_id in named:
            if file_id in missing:
                raise InvalidRequest(f"No file found with id '{file_id}'.", param=name)


def searchable_files(messages: list[MessageRecord]) -> list[str]:
    """The files attached for ``file_search``, each once, in order."""
    found = [
        attachment["file_id"]
        for message in messages
        for attachment in message["attachments"] or []
        if any(tool.get("type") == "file_search" for tool in attachment.get("tools") or [])
    ]
    return list(dict.fromkeys(found))


def add_to_thread_store(
    connection: Connection, project_id: str, thread_id: str, file_ids: list[str], now: int
) -> ToolResourcesRecord | None:
    """Queue ``file_ids`` for ingestion into the thread's store (created on demand); the
    thread's ``tool_resources`` when they changed, else None."""
    if not file_ids:
        return None
    thread = _threads.get_any(connection, project_id, thread_id)
    if thread is None:
        return None
    resources: ToolResourcesRecord = {**(thread["tool_resources"] or {})}
    current = _stores.live_ids(connection, project_id, file_search_store_ids(resources), now)
    changed = None
    if current:
        store_id = current[0]
    else:
        store = new_store_record(project_id, now, expires_after_days=THREAD_STORE_EXPIRY_DAYS)
        _stores.insert(connection, store)
        store_id = store["id"]
        resources["file_search"] = {"vector_store_ids": [store_id]}
        _threads.update(connection, project_id, thread_id, {"tool_resources": resources})
        changed = resources
    entries = [FileEntry(file_id, AUTO_CHUNKING) for file_id in file_ids]
    put_files(connection, project_id, store_id, entries, now, keep_existing=True)
    return changed


def attach(
    connection: Connection,
    project_id: str,
    thread_id: str,
    messages: list[MessageRecord],
    now: int,
) -> ToolResourcesRecord | None:
    """After the messages were written to the thread: their file_search attachments into its
    store. The thread's new ``tool_resources`` if they changed."""
    return add_to_thread_store(connection, project_id, thread_id, searchable_files(messages), now)
