"""Assistants: create, list, retrieve, modify, delete."""

from threadline import clock, ids
from threadline.errors import ModelNotAllowed, NotFound
from threadline.records.threads import AssistantChanges, AssistantRecord
from threadline.schemas import objects
from threadline.schemas.common import (
    ToolResources,
    dump_response_format,
    dump_tool_resources,
    dump_tools,
)
from threadline.schemas.objects import Assistant, AssistantDeleted, ListPage
from threadline.schemas.requests import CreateAssistant, ModifyAssistant
from threadline.services.store_membership import IngestionQueue
from threadline.services.tool_gate import ToolGate
from threadline.services.tool_resources import (
    check_tool_resources,
    modify_with_resources,
    references_anything,
    resolve_tool_resources,
)
from threadline.storage.database import Connection, Database
from threadline.storage.pagination import PageRequest
from threadline.storage.repositories import AssistantRepository

_assistants = AssistantRepository()


class AssistantService:
    def __init__(self, database: Database, tools: ToolGate, ingestion: IngestionQueue) -> None:
        self._db = database
        self._tools = tools
        self._ingestion = ingestion

    async def create(
        self,
        project_id: str,
        request: CreateAssistant,
        allowed_models: tuple[str, ...] | None = None,
    ) -> Assistant:
        _check_model(request.model, allowed_models)
        check_tool_resources(request.tool_resources)
        self._tools.check(request.tools)
        record: AssistantRecord = {
            "id": ids.assistant_id(),
            "project_id": project_id,
            "created_at": clock.now(),
            "name": request.name,
            "description": request.description,
            "model": request.model,
            "instructions": request.instructions,
            "tools": dump_tools(request.tools),
            "tool_resources": dump_tool_resources(request.tool_resources),
            "metadata": request.metadata or {},
            "temperature": 1.0 if request.temperature is None else request.temperature,
            "top_p": 1.0 if request.top_p is None else request.top_p,
            "response_format": dump_response_format(request.response_format),
            "reasoning_effort": request.reasoning_effort,
        }
        if references_anything(request.tool_resources):
            created = await self._db.write(_insert_resolved, record, request.tool_resources)
            self._ingestion.wake()  # a vector_stores helper may have queued files
            return created
        # Built before the write: a record the response type rejects is never stored.
        created = objects.assistant(record)
        await self._db.write(_assistants.insert, record)
        return created

    async def retrieve(self, project_id: str, assistant_id: str) -> Assistant:
        record = await self._db.read(_assistants.get, project_id, assistant_id)
        if record is None:
            raise NotFound.object("assistant", assistant_id)
        return objects.assistant(record)

    async def list(self, project_id: str, page: PageRequest) -> ListPage:
        result = await self._db.read(_assistants.list, project_id, page)
        return objects.list_page([objects.assistant(r) for r in result.items], result.has_more)

    async def modify(
        self,
        project_id: str,
        assistant_id: str,
        request: ModifyAssistant,
        allowed_models: tuple[str, ...] | None = None,
    ) -> Assistant:
        if "model" in request.model_fields_set and request.model is not None:
            _check_model(request.model, allowed_models)
        check_tool_resources(request.tool_resources)
        self._tools.check(request.tools)
        changes = _assistant_changes(request)
        resources = request.tool_resources if references_anything(request.tool_resources) else None
        record = await self._db.write(
            modify_with_resources,
            _assistants,
            "assistant",
            project_id,
            assistant_id,
            changes,
            resources,
        )
        if resources is not None:
            self._ingestion.wake()
        return objects.assistant(record)

    async def delete(self, project_id: str, assistant_id: str) -> AssistantDeleted:
        deleted = await self._db.write(_assistants.delete, project_id, assistant_id)
        if not deleted:
            raise NotFound.object("assistant", assistant_id)
        return objects.assistant_deleted(assistant_id)


def _check_model(model: str, allowed: tuple[str, ...] | None) -> None:
    if allowed is not None and model not in allowed:
        raise ModelNotAllowed(model)


def _insert_resolved(
    connection: Connection, record: AssistantRecord, resources: ToolResources
) -> Assistant:
    record["tool_resources"] = resolve_tool_resources(
        connection, record["project_id"], resources, record["created_at"]
    )
    created = objects.assistant(record)
    _assistants.insert(connection, record)
    return created


def _assistant_changes(request: ModifyAssistant) -> AssistantChanges:
    """Only the fields present in the request change; an explicit null resets to the default."""
    sent = request.model_fields_set
    changes: AssistantChanges = {}
    if "name" in sent:
        changes["name"] = request.name
    if "description" in sent:
        changes["description"] = request.description
    if "instructions" in sent:
        changes["instructions"] = request.instructions
    if "reasoning_effort" in sent:
        changes["reasoning_effort"] = request.reasoning_effort
    if "model" in sent and request.model is not None:
        changes["model"] = request.model
    if "tools" in sent:
        changes["tools"] = dump_tools(request.tools or [])
    if "tool_resources" in sent:
        changes["tool_resources"] = dump_tool_resources(request.tool_resources)
    if "metadata" in sent:
        changes["metadata"] = request.metadata or {}
    if "temperature" in sent:
        changes["temperature"] = 1.0 if request.temperature is None else request.temperature
    if "top_p" in sent:
        changes["top_p"] = 1.0 if request.top_p is None else request.top_p
    if "response_format" in sent:
        changes["response_format"] = dump_response_format(request.response_format)
    return changes
