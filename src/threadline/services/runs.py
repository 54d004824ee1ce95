"""Runs as the API sees them: create (on a thread, or with a new thread), list, retrieve,
modify, cancel, submit tool outputs. Executing a run is the engine's job; this module writes the
run and tells the engine (``wake``) that there is work. The units of work that create a run are
``run_creation.py``'s; those on a run that exists, ``run_units.py``'s."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from threadline import clock, ids
from threadline.engine.event_bus import Subscription
from threadline.engine.run_state import Ending
from threadline.engine.scheduling import Scheduler
from threadline.errors import InvalidRequest, NotFound
from threadline.records.threads import MessageRecord, ThreadRecord
from threadline.schemas import objects
from threadline.schemas.common import ToolResources, dump_tool_resources
from threadline.schemas.objects import ListPage
from threadline.schemas.run_objects import Run, StreamEvent, run, run_step
from threadline.schemas.runs import CreateRun, CreateThreadAndRun, ModifyRun, SubmitToolOutputs
from threadline.services.attachments import references_files
from threadline.services.messages import message_record
from threadline.services.run_creation import Creation, create_run, create_thread_and_run
from threadline.services.run_snapshot import Creator
from threadline.services.run_units import cancel_run, list_runs, modify_run, submit_outputs
from threadline.services.store_membership import IngestionQueue
from threadline.services.tool_gate import ToolGate
from threadline.services.tool_resources import check_tool_resources
from threadline.storage.database import Database
from threadline.storage.pagination import PageRequest
from threadline.storage.runs import RunChanges, RunRepository

_runs = RunRepository()


@dataclass(frozen=True, slots=True)
class QueuedRun:
    """What a request that queued a run answers: the run; for a stream, also the events that
    open it (the request's own) and the subscription the worker's events come from, taken
    before the run was queued so that none is missed."""

    run: Run
    first_events: tuple[StreamEvent, ...] = ()
    subscription: Subscription | None = None


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
        creator: Creator | None = None,
    ) -> QueuedRun:
        self._tools.check(request.tools)
        now = clock.now()
        messages = [
            message_record(project_id, thread_id, message, now)
            for message in request.additional_messages or []
        ]
        run_id = ids.run_id()
        with self._subscription(run_id, request.stream) as subscription:
            record, claim = await self._db.write(
                create_run,
                project_id,
                thread_id,
                request,
                run_id,
                messages,
                self._creation(now, creator),
            )
            await self._scheduler.dispatch(run_id, claim)
        self._wake_ingestion(messages)
        created = run(record)
        if subscription is None:
            return QueuedRun(created)
        return QueuedRun(created, _opening(created), subscription)

    async def create_thread_and_run(
        self,
        project_id: str,
        request: CreateThreadAndRun,
        creator: Creator | None = None,
    ) -> QueuedRun:
        thread_request = request.thread
        self._tools.check(request.tools)
        check_tool_resources(request.tool_resources)
        if thread_request is not None:
            check_tool_resources(thread_request.tool_resources)
        now = clock.now()
        resources = request.tool_resources or (
            thread_request.tool_resources if thread_request else None
        )
        thread_record: ThreadRecord = {
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
        run_id = ids.run_id()
        with self._subscription(run_id, request.stream) as subscription:
            thread_record, record, claim = await self._db.write(
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
            await self._scheduler.dispatch(run_id, claim)
        self._wake_ingestion(messages, resources)
        created = run(record)
        if subscription is None:
            return QueuedRun(created)
        thread_created = StreamEvent.of("thread.created", objects.thread(thread_record))
        return QueuedRun(created, (thread_created, *_opening(created)), subscription)

    def _creation(self, now: int, creator: Creator | None) -> Creation:
        scheduler = self._scheduler
        return Creation(
            now, self._expiry_seconds, self._tools, creator, scheduler.reservation(), scheduler
        )

    @contextmanager
    def _subscription(self, run_id: str, stream: bool | None) -> Iterator[Subscription | None]:
        """With ``stream``, the run's events from before it is queued (closed again if queuing
        it fails)."""
        subscription = self._scheduler.subscribe(run_id) if stream else None
        try:
            yield subscription
        except BaseException:
            if subscription is not None:
                subscription.close()
            raise

    def _wake_ingestion(
        self, messages: list[MessageRecord], resources: ToolResources | None = None
    ) -> None:
        if self._ingestion is not None and (references_files(messages) or resources is not None):
            self._ingestion.wake()

    async def retrieve(self, project_id: str, thread_id: str, run_id: str) -> Run:
        record = await self._db.read(_runs.get_in_thread, project_id, thread_id, run_id)
        if record is None:
            raise NotFound.object("run", run_id)
        return run(record)

    async def list(self, project_id: str, thread_id: str, page: PageRequest) -> ListPage:
        result = await self._db.read(list_runs, project_id, thread_id, page)
        return objects.list_page([run(r) for r in result.items], result.has_more)

    async def modify(self, project_id: str, thread_id: str, run_id: str, request: ModifyRun) -> Run:
        changes: RunChanges = (
            {"metadata": request.metadata or {}} if request.model_fields_set else {}
        )
        record = await self._db.write(modify_run, project_id, thread_id, run_id, changes)
        return run(record)

    async def cancel(self, project_id: str, thread_id: str, run_id: str) -> Run:
        ending = Ending("cancelled", clock.now())
        record = await self._db.write(cancel_run, project_id, thread_id, run_id, ending)
        for event in ending.events:  # ended here: a stream still open on it hears so
            self._scheduler.publish(run_id, event)
        if record["status"] == "cancelling":
            # Executed here: stopped at once. Elsewhere: its worker sees it at its next renewal.
            self._scheduler.cancel(run_id)
        return run(record)

    async def submit_tool_outputs(
        self, project_id: str, thread_id: str, run_id: str, request: SubmitToolOutputs
    ) -> QueuedRun:
        outputs = {o.tool_call_id: o.output for o in request.tool_outputs}
        if len(outputs) != len(request.tool_outputs):
            raise InvalidRequest(
                "Each tool call may be given one output only.", param="tool_outputs"
            )
        with self._subscription(run_id, request.stream) as subscription:
            step, record = await self._db.write(
                submit_outputs,
                project_id,
                thread_id,
                run_id,
                outputs,
                clock.now(),
                self._scheduler.reservation(),
            )
            await self._scheduler.dispatch(run_id, None)
        requeued = run(record)
        if subscription is None:
            return QueuedRun(requeued)
        step_done = StreamEvent.of("thread.run.step.completed", run_step(step))
        queued = StreamEvent.of("thread.run.queued", requeued)
        return QueuedRun(requeued, (step_done, queued), subscription)


def _opening(created: Run) -> tuple[StreamEvent, ...]:
    """A stream's first events for a run just created (then the worker's)."""
    event = StreamEvent.of("thread.run.created", created)
    return event, event.renamed("thread.run.queued")
