"""Which thread a new response runs on, in its creation unit: a new hidden ``chain`` thread,
or, with ``previous_response_id``, the thread that response ran on when it is that thread's
newest response (its context is already there: nothing is walked). A previous response that is
not the newest (a fork) has its thread's rows up to its end copied into a new chain thread,
once; later turns continue that thread."""

from dataclasses import dataclass, field
from typing import cast

from threadline import ids
from threadline.errors import InvalidRequest
from threadline.ids import creation_key
from threadline.records.response_rows import StoredResponse
from threadline.records.runs import StepRecord
from threadline.records.threads import MessageRecord, ThreadRecord
from threadline.storage.database import Connection
from threadline.storage.pagination import PageRequest
from threadline.storage.repositories import MessageRepository, ThreadRepository
from threadline.storage.responses import ResponseRepository, messages_of_run
from threadline.storage.runs import take_thread
from threadline.storage.steps import StepRepository

_responses = ResponseRepository()
_threads = ThreadRepository()
_messages = MessageRepository()
_steps = StepRepository()


def previous_response(connection: Connection, project_id: str, response_id: str) -> StoredResponse:
    stored = _responses.get(connection, project_id, response_id)
    if stored is None or not stored["store"]:
        raise InvalidRequest(
            f"Previous response with id '{response_id}' not found.",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    return stored


def new_chain_thread(connection: Connection, project_id: str, run_id: str, now: int) -> str:
    thread: ThreadRecord = {
        "id": ids.thread_id(),
        "project_id": project_id,
        "created_at": now,
        "tool_resources": None,
        "metadata": {},
        "active_run_id": run_id,
        "kind": "chain",
    }
    _threads.insert(connection, thread)
    return thread["id"]


@dataclass(frozen=True, slots=True)
class ChainPlace:
    """Where the response after another runs: its thread, whether that is the previous
    response's own (else a fork), and a fork's copied tool steps, inserted once the new run
    (which they belong to) is."""

    thread_id: str
    continued: bool
    fork_steps: list[StepRecord] = field(default_factory=list)


def continue_chain(
    connection: Connection, previous: StoredResponse, run_id: str, now: int
) -> ChainPlace:
    """The thread the response after ``previous`` runs on, taken for ``run_id``."""
    thread_id = previous["thread_id"]
    if _responses.head_of_thread(connection, thread_id) != previous["id"]:
        return _fork(connection, previous, run_id, now)
    if not take_thread(connection, previous["project_id"], thread_id, run_id):
        raise InvalidRequest(
            f"Previous response with id '{previous['id']}' is still in progress.",
            param="previous_response_id",
            code="conversation_locked",
        )
    return ChainPlace(thread_id, True)


def _fork(connection: Connection, previous: StoredResponse, run_id: str, now: int) -> ChainPlace:
    """A new chain thread holding ``previous``'s thread as it was when ``previous`` ended: its
    messages and answered tool steps up to the last one ``previous``'s run wrote, with new ids
    in the same order. Tool steps are kept under the new run (a step belongs to a run); they
    were made before it, so they are never read as its output."""
    project_id = previous["project_id"]
    source = previous["thread_id"]
    own = messages_of_run(connection, previous["run_id"])
    own_steps = _steps.of_run(connection, previous["run_id"])
    last = max(
        [creation_key(previous["run_id"])]
        + [creation_key(m["id"]) for m in own]
        + [creation_key(s["id"]) for s in own_steps]
    )
    thread_id = new_chain_thread(connection, project_id, run_id, now)
    rows: list[tuple[str, MessageRecord | StepRecord]] = []
    for message in _messages_of_thread(connection, project_id, source):
        if creation_key(message["id"]) <= last:
            rows.append((creation_key(message["id"]), message))
    for step in _steps.tool_steps_of_thread(connection, source):
        if creation_key(step["id"]) <= last and step["status"] == "completed":
            rows.append((creation_key(step["id"]), step))
    copies: list[MessageRecord] = []
    step_copies: list[StepRecord] = []
    for _, row in sorted(rows, key=lambda row: row[0]):
        if "role" in row:
            message = cast(MessageRecord, row)
            copies.append(
                {**message, "id": ids.copied_id("msg_", message["id"]), "thread_id": thread_id}
            )
        else:
            step = cast(StepRecord, row)
            step_copies.append(
                {
                    **step,
                    "id": ids.copied_id("step_", step["id"]),
                    "thread_id": thread_id,
                    "run_id": run_id,
                }
            )
    _messages.insert_many(connection, copies)
    return ChainPlace(thread_id, False, step_copies)


def insert_fork_steps(connection: Connection, place: ChainPlace) -> None:
    _steps.insert_many(connection, place.fork_steps)


def _messages_of_thread(
    connection: Connection, project_id: str, thread_id: str
) -> list[MessageRecord]:
    found: list[MessageRecord] = []
    after: str | None = None
    while True:
        page = _messages.list(
            connection,
            project_id,
            PageRequest(limit=100, order="asc", after=after),
            thread_id=thread_id,
        )
        found.extend(cast(list[MessageRecord], page.items))
        if not page.has_more:
            return found
        after = found[-1]["id"]
