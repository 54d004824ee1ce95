"""``tool_resources`` of assistants, threads and runs: their shape, and what they reference.

Referenced files and vector stores must be the project's own (400 naming the param otherwise,
the same for another project's id as for one that never existed). The
``file_search.vector_stores`` helper creates a vector store from files and references it, as
OpenAI did."""

from typing import TypeVar

from threadline import clock
from threadline.errors import InvalidRequest, NotFound
from threadline.records.threads import (
    AssistantChanges,
    AssistantRecord,
    ThreadChanges,
    ThreadRecord,
)
from threadline.records.tools import ToolResourcesRecord
from threadline.schemas.common import ToolResources, dump_tool_resources
from threadline.services.store_membership import (
    FileEntry,
    dump_chunking,
    new_store_record,
    put_files,
)
from threadline.storage.database import Connection
from threadline.storage.files import FileRepository, VectorStoreRepository
from threadline.storage.repositories import ScopedRepository

# An assistant or a thread: what ``tool_resources`` belong to.
Owner = TypeVar("Owner", AssistantRecord, ThreadRecord)

_files = FileRepository()
_stores = VectorStoreRepository()


def check_tool_resources(resources: ToolResources | None) -> None:
    file_search = resources.file_search if resources else None
    if file_search is None:
        return
    if file_search.vector_store_ids and file_search.vector_stores:
        raise InvalidRequest(
            "Only one of 'vector_store_ids' or 'vector_stores' may be provided.",
            param="tool_resources.file_search",
        )


def references_anything(resources: ToolResources | None) -> bool:
    """Whether ``resolve_tool_resources`` has anything to check or create."""
    if resources is None:
        return False
    code, search = resources.code_interpreter, resources.file_search
    return bool(
        (code and code.file_ids) or (search and (search.vector_store_ids or search.vector_stores))
    )


def resolve_tool_resources(
    connection: Connection,
    project_id: str,
    resources: ToolResources | None,
    now: int,
    param: str = "tool_resources",
) -> ToolResourcesRecord:
    """The resources as stored: references checked, helper vector stores created (and their
    files queued for ingestion: the caller wakes the ingestion)."""
    dumped = dump_tool_resources(resources)
    if resources is None or not references_anything(resources):
        return dumped
    code, search = resources.code_interpreter, resources.file_search
    if code and code.file_ids:
        _check_files(
            connection, project_id, code.file_ids, now, f"{param}.code_interpreter.file_ids"
        )
    if search and search.vector_store_ids:
        for index, store_id in enumerate(search.vector_store_ids):
            if not _stores.exists(connection, project_id, store_id):
                raise InvalidRequest(
                    f"No vector store found with id '{store_id}'.",
                    param=f"{param}.file_search.vector_store_ids[{index}]",
                )
    if search and search.vector_stores:
        created = []
        for index, helper in enumerate(search.vector_stores):
            where = f"{param}.file_search.vector_stores[{index}].file_ids"
            file_ids = list(dict.fromkeys(helper.file_ids))
            _check_files(connection, project_id, file_ids, now, where)
            store = new_store_record(project_id, now, metadata=helper.metadata)
            _stores.insert(connection, store)
            chunking = dump_chunking(helper.chunking_strategy)
            put_files(
                connection, project_id, store["id"], [FileEntry(f, chunking) for f in file_ids], now
            )
            created.append(store["id"])
        dumped["file_search"] = {"vector_store_ids": created}
    return dumped


def _check_files(
    connection: Connection, project_id: str, file_ids: list[str], now: int, param: str
) -> None:
    missing = _files.missing(connection, project_id, file_ids, now)
    if missing:
        index = file_ids.index(missing[0])
        raise InvalidRequest(f"No file found with id '{missing[0]}'.", param=f"{param}[{index}]")


def modify_with_resources(
    connection: Connection,
    repository: ScopedRepository[Owner],
    kind: str,
    project_id: str,
    object_id: str,
    changes: AssistantChanges | ThreadChanges,
    resources: ToolResources | None,
) -> Owner:
    """Apply ``changes`` to an assistant or thread (``kind``), with ``resources`` resolved into
    its ``tool_resources`` when given: a missing object is a 404 before any 400 about them."""
    if resources is not None:
        if not repository.exists(connection, project_id, object_id):
            raise NotFound.object(kind, object_id)
        changes["tool_resources"] = resolve_tool_resources(
            connection, project_id, resources, clock.now()
        )
    record = repository.modify(connection, project_id, object_id, changes)
    if record is None:
        raise NotFound.object(kind, object_id)
    return record
