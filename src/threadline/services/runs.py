"""Runs as the API sees them: create (on a thread, or with a new thread), list, retrieve,
modify, cancel, submit tool outputs. Executing a run is the engine's job; this module writes the
run and tells the engine (``wake``) that there is work."""

from dataclasses import dataclass
from typing import Any, Protocol

from threadline import clock, ids
from threadline.engine.run_state import Ending, end_run
from threadline.errors import InvalidRequest, NotFound
from threadline.schemas import objects
from threadline.schemas.common import ToolResources, dump_tool_resources
from threadline.schemas.objects import ListPage, Thread
from threadline.schemas.run_objects import Run, RunStep, StreamEvent, run, run_step
from threadline.schemas.runs import CreateRun, CreateThreadAndRun, ModifyRun, SubmitToolOutputs
from threadline.services.attachments import references_files
from threadline.services.messages import message_record
from threadline.services.run_creation import (
    ClaimInUnit,
    Creation,
    create_run,
    create_thread_and_run,
)
from threadline.services.run_snapshot import Creator
from threadline.services.store_membership import IngestionQueue
from threadline.services.tool_gate import ToolGate
from threadline.services.tool_resources import check_tool_resources
from threadline.storage.database import Connection, Database
from threadline.storage.pagination import PageRequest
from threadline.storage.repositories import (
    AssistantRepository,
    MessageRepository,
    ThreadRepository,
)
from threadline.storage.runs import RunRepository, StepRepository

_assistants = AssistantRepository()
_messages = MessageRepository()
_runs = RunRepository()
_steps = StepRepository()
_threads = ThreadRepository()


@dataclass(frozen=True)
class Submitted:
    """What accepting tool outputs changed: the completed step and the re-queued run."""

    step: RunStep
    run: Run


class Scheduler(Protocol):
    """The engine's side: there is work to look at; this run should stop."""

    def reservation(self) -> dict[str, Any]:
        """Lease columns that keep a run just queued here for this server's worker for a
        moment: the replica that answers with its stream must be the one that runs it."""
        ...

    def claim_in_unit(self) -> ClaimInUnit | None:
        """How to claim a run for this server's worker in the unit that queues it (None: the
        worker takes no new run now; the run is queued and woken as usual)."""
        ...

    async def start_claimed(self, run_id: str, claimed: Any) -> None:
        """Execute a run ``claim_in_unit`` claimed, now its unit is committed; a run it did not
        (``claimed`` None) is woken as just queued."""
        ...

    def wake(self, run_id: str | None = None) -> None: ...

    def cancel(self, run_id: str) -> None: ...

    def publish(self, run_id: str, event: StreamEvent) -> None: ...


class RunService:
    def __init__(
        self,
        database: Database,
        scheduler: Scheduler,
        tools: ToolGate,
        expiry_seconds: int = 600,
        ingestion: IngestionQueue | None = None,
    ) -> None:
        self._db = database
        self._scheduler = scheduler
        self._tools = tools
        self._expiry_seconds = expiry_seconds
        self._ingestion = ingestion

    async def create(
        self,
        project_id: str,
        thread_id: str,
        request: CreateRun,
        run_id: str,
        creator: Creator | None = None,
    ) -> Run:
        self._tools.check(request.tools)
        now = clock.now()
        messages = [
            message_record(project_id, thread_id, message, now)
            for message in request.additional_messages or []
        ]
        record, claimed = await self._db.write(
            create_run,
            project_id,
            thread_id,
            request,
            run_id,
            messages,
            self._creation(now, creator),
        )
        await self._scheduler.start_claimed(run_id, claimed)
        self._wake_ingestion(messages)
        return run(record)

    async def create_thread_and_run(
        self,
        project_id: str,
        request: CreateThreadAndRun,
        run_id: str,
        creator: Creator | None = None,
    ) -> tuple[Thread, Run]:
        thread_request = request.thread
        self._tools.check(request.tools)
        check_tool_resources(request.tool_resources)
        if thread_request is not None:
            check_tool_resources(thread_request.tool_resources)
        now = clock.now()
        resources = request.tool_resources or (thread_request and thread_request.tool_resources)
        thread_record = {
            "id": ids.thread_id(),
            "project_id": project_id,
            "created_at": now,
            "tool_resources": dump_tool_resources(resources),
            "metadata": (thread_request.metadata if thread_request else None) or {},
            "active_run_id": None,
        }
        messages = [
            message_record(project_id, thread_record["id"], message, now)
            for message in (thread_request.messages if thread_request else [])
        ]
        param = "tool_resources" if request.tool_resources else "thread.tool_resources"
        thread_record, record, claimed = await self._db.write(
            create_thread_and_run,
            project_id,
            thread_record,
            messages,
            request,
            run_id,
            resources,
            param,
            self._creation(now, creator),
        )
        await self._scheduler.start_claimed(run_id, claimed)
        self._wake_ingestion(messages, resources)
        return objects.thread(thread_record), run(record)

    def _creation(self, now: int, creator: Creator | None) -> Creation:
        scheduler = self._scheduler
        return Creation(
            now,
            self._expiry_seconds,
            self._tools,
            creator,
            scheduler.reservation(),
            scheduler.claim_in_unit(),
        )

    def _wake_ingestion(
        self, messages: list[dict[str, Any]], resources: ToolResources | None = None
    ) -> None:
        if self._ingestion is not None and (references_files(messages) or resources is not None):
            self._ingestion.wake()

    async def retrieve(self, project_id: str, thread_id: str, run_id: str) -> Run:
        record = await self._db.read(_runs.get_in_thread, project_id, thread_id, run_id)
        if record is None:
            raise NotFound.object("run", run_id)
        return run(record)

    async def list(self, project_id: str, thread_id: str, page: PageRequest) -> ListPage:
        result = await self._db.read(_list_runs, project_id, thread_id, page)
        return objects.list_page([run(r) for r in result.items], result.has_more)

    async def modify(self, project_id: str, thread_id: str, run_id: str, request: ModifyRun) -> Run:
        # Null keeps the metadata, as leaving it out does (see assistants.py).
        changes = {"metadata": request.metadata} if request.metadata is not None else {}
        record = await self._db.write(_modify_run, project_id, thread_id, run_id, changes)
        return run(record)

    async def cancel(self, project_id: str, thread_id: str, run_id: str) -> Run:
        ending = Ending("cancelled", clock.now())
        record = await self._db.write(_cancel, project_id, thread_id, run_id, ending)
        for event in ending.events:  # ended here: a stream still open on it hears so
            self._scheduler.publish(run_id, event)
        if record["status"] == "cancelling":
            # Executed here: stopped at once. Elsewhere: its worker sees it at its next renewal.
            self._scheduler.cancel(run_id)
        return run(record)

    async def submit_tool_outputs(
        self, project_id: str, thread_id: str, run_id: str, request: SubmitToolOutputs
    ) -> Submitted:
        outputs = {o.tool_call_id: o.output for o in request.tool_outputs}
        if len(outputs) != len(request.tool_outputs):
            raise InvalidRequest(
                "Each tool call may be given one output only.", param="tool_outputs"
            )
        step, record = await self._db.write(
            _submit,
            project_id,
            thread_id,
            run_id,
            outputs,
            clock.now(),
            self._scheduler.reservation(),
        )
        self._scheduler.wake(run_id)
        return Submitted(step=run_step(step), run=run(record))


def get_run(
    connection: Connection, project_id: str, thread_id: str, run_id: str, *, lock: bool = False
) -> dict[str, Any]:
    """The run, or 404. With ``lock``, held against concurrent changes (a worker claiming it,
    the reaper) until the unit ends: the caller's write depends on the status it read."""
    get = _runs.get_for_update if lock else _runs.get_in_thread
    record = get(connection, project_id, thread_id, run_id)
    if record is None:
        raise NotFound.object("run", run_id)
    return record


def _list_runs(connection: Connection, project_id: str, thread_id: str, page: PageRequest) -> Any:
    if not _threads.exists(connection, project_id, thread_id):
        raise NotFound.object("thread", thread_id, param="thread_id")
    return _runs.list(connection, project_id, page, thread_id=thread_id)


def _modify_run(
    connection: Connection, project_id: str, thread_id: str, run_id: str, changes: dict[str, Any]
) -> dict[str, Any]:
    record = get_run(connection, project_id, thread_id, run_id)
    if changes:
        _runs.update(connection, project_id, run_id, changes)
        record.update(changes)
    return record


def _cancel(
    connection: Connection, project_id: str, thread_id: str, run_id: str, ending: Ending
) -> dict[str, Any]:
    record = get_run(connection, project_id, thread_id, run_id, lock=True)
    status = record["status"]
    if status == "cancelling":
        return record
    if status in ("requires_action", "queued"):
        # Nobody executes it (a claim starts a run in the same statement that takes it): it
        # ends here and now, and no worker can claim it after.
        return end_run(connection, record, ending)
    if status == "in_progress":
        # Its worker stops the upstream call and ends it (see engine.execution).
        _runs.update(connection, project_id, run_id, {"status": "cancelling"})
        return {**record, "status": "cancelling"}
    raise InvalidRequest(f"Cannot cancel run with status '{status}'.")


def _submit(
    connection: Connection,
    project_id: str,
    thread_id: str,
    run_id: str,
    outputs: dict[str, str],
    now: int,
    reservation: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    record = get_run(connection, project_id, thread_id, run_id, lock=True)
    if record["status"] != "requires_action" or (
        record["expires_at"] is not None and record["expires_at"] <= now
    ):
        status = "expired" if record["status"] == "requires_action" else record["status"]
        raise InvalidRequest(f'Runs in status "{status}" do not accept tool outputs.')
    pending = [
        call["id"] for call in record["required_action"]["submit_tool_outputs"]["tool_calls"]
    ]
    missing = [call_id for call_id in pending if call_id not in outputs]
    unknown = [call_id for call_id in outputs if call_id not in pending]
    if missing or unknown:
        raise InvalidRequest(
            f"Expected tool outputs for call_ids {pending}, got {list(outputs)}.",
            param="tool_outputs",
        )
    (step,) = [
        s for s in _steps.of_run(connection, run_id, "in_progress") if s["type"] == "tool_calls"
    ]
    calls = [
        {**call, "function": {**call["function"], "output": outputs[call["id"]]}}
        if call["type"] == "function"
        else call
        for call in step["step_details"]["tool_calls"]
    ]
    step_changes = {
        "status": "completed",
        "completed_at": now,
        "step_details": {"type": "tool_calls", "tool_calls": calls},
    }
    _steps.update_by_id(connection, step["id"], step_changes)
    run_changes = {"status": "queued", "required_action": None, **reservation}
    _runs.update(connection, project_id, run_id, run_changes)
    return {**step, **step_changes}, {**record, **run_changes}
