"""Creating a run, as one unit of work: its row (the assistant's settings, overridden by the
request's), the thread taken (or created), the request's messages and attachments, and — when
this server's worker takes the run at once — its claim, so execution starts as soon as the unit
commits, without a second write or a turn of the claim loop in between."""

from dataclasses import dataclass

from threadline.engine.scheduling import Claim, Scheduler
from threadline.errors import InvalidRequest, NotFound
from threadline.records.runs import RunRecord
from threadline.records.threads import MessageRecord, ThreadRecord
from threadline.records.tools import ToolResourcesRecord
from threadline.schemas.common import ToolResources
from threadline.schemas.runs import CreateRun, CreateThreadAndRun
from threadline.services.attachments import attach, check_file_references, references_files
from threadline.services.run_snapshot import Creator, run_record
from threadline.services.tool_gate import ToolGate
from threadline.services.tool_resources import resolve_tool_resources
from threadline.storage.database import Connection
from threadline.storage.repositories import MessageRepository, ThreadRepository
from threadline.storage.runs import Lease, RunRepository, take_thread

_messages = MessageRepository()
_runs = RunRepository()
_threads = ThreadRepository()


@dataclass(frozen=True, slots=True)
class Creation:
    """How a run is being created: when, for how long, with which built-in tools allowed, by
    whom, reserved for which server's worker (``reservation``), and by whom it is then claimed
    (``scheduler``: the engine's side)."""

    now: int
    expiry_seconds: int
    tools: ToolGate
    creator: Creator | None
    reservation: Lease
    scheduler: Scheduler

    def record(
        self,
        connection: Connection,
        project_id: str,
        thread_id: str,
        request: CreateRun | CreateThreadAndRun,
        run_id: str,
    ) -> RunRecord:
        """The new run's row (checked: its tools, the assistant's when not overridden)."""
        record = run_record(
            connection,
            project_id,
            thread_id,
            request,
            run_id,
            self.now,
            self.expiry_seconds,
            self.creator,
        )
        self.tools.check(record["tools"], param="assistant_id")
        record.update(self.reservation)
        return record

    def claim(self, connection: Connection, run_id: str) -> Claim | None:
        """This server's worker's claim on the run just inserted (None: it does not take it at
        once)."""
        return self.scheduler.claim(connection, run_id)


def create_run(
    connection: Connection,
    project_id: str,
    thread_id: str,
    request: CreateRun,
    run_id: str,
    messages: list[MessageRecord],
    creation: Creation,
) -> tuple[RunRecord, Claim | None]:
    """The run as created (``queued``: what the request answers with), and its claim."""
    now = creation.now
    record = creation.record(connection, project_id, thread_id, request, run_id)
    if not take_thread(connection, project_id, thread_id, run_id):
        thread = _threads.get(connection, project_id, thread_id)
        if thread is None:
            raise NotFound.object("thread", thread_id, param="thread_id")
        raise InvalidRequest(
            f"Thread {thread_id} already has an active run {thread['active_run_id']}."
        )
    _messages.insert_many(connection, messages)
    attach_files(connection, project_id, thread_id, messages, now, "additional_messages[{index}].")
    _runs.insert(connection, record)
    return record, creation.claim(connection, run_id)


def attach_files(
    connection: Connection,
    project_id: str,
    thread_id: str,
    messages: list[MessageRecord],
    now: int,
    param: str,
) -> ToolResourcesRecord | None:
    """The messages' attachments checked, and those for file_search put in the thread's store;
    the thread's new ``tool_resources`` when that created the store."""
    if not references_files(messages):
        return None
    check_file_references(connection, project_id, messages, now, param=param)
    return attach(connection, project_id, thread_id, messages, now)


def create_thread_and_run(
    connection: Connection,
    project_id: str,
    thread_record: ThreadRecord,
    messages: list[MessageRecord],
    request: CreateThreadAndRun,
    run_id: str,
    resources: ToolResources | None,
    param: str,
    creation: Creation,
) -> tuple[ThreadRecord, RunRecord, Claim | None]:
    """The thread and the run as created, and the run's claim."""
    thread_id = thread_record["id"]
    now = creation.now
    record = creation.record(connection, project_id, thread_id, request, run_id)
    resolved = resolve_tool_resources(connection, project_id, resources, now, param)
    thread_record = {**thread_record, "tool_resources": resolved}
    _threads.insert(connection, {**thread_record, "active_run_id": run_id})
    _messages.insert_many(connection, messages)
    changed = attach_files(
        connection, project_id, thread_id, messages, now, "thread.messages[{index}]."
    )
    if changed is not None:
        thread_record["tool_resources"] = changed
    _runs.insert(connection, record)
    return thread_record, record, creation.claim(connection, run_id)
