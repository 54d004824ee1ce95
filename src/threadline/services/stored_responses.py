"""The units of work on a stored response: find it, read it as it is answered (its echo, run,
messages, steps and reasoning), delete it, and forget one created with ``store: false``."""

from threadline.errors import NotFound
from threadline.records.response_rows import StoredResponse
from threadline.records.responses import ResponseRecord
from threadline.services.response_view import response_record
from threadline.storage.database import Connection
from threadline.storage.items import reasoning_of_run
from threadline.storage.repositories import ThreadRepository
from threadline.storage.responses import ResponseRepository, messages_of_run
from threadline.storage.runs import RunRepository
from threadline.storage.steps import StepRepository

_responses = ResponseRepository()
_runs = RunRepository()
_steps = StepRepository()
_threads = ThreadRepository()


def find_stored(connection: Connection, project_id: str, response_id: str) -> StoredResponse:
    stored = _responses.get(connection, project_id, response_id)
    if stored is None or not stored["store"]:
        raise NotFound(f"Response with id '{response_id}' not found.")
    return stored


def read_response(
    connection: Connection,
    project_id: str,
    response_id: str,
    include: frozenset[str],
    unstored: bool,
) -> ResponseRecord:
    stored = _responses.get(connection, project_id, response_id)
    if stored is None or (not stored["store"] and not unstored):
        raise NotFound(f"Response with id '{response_id}' not found.")
    run = _runs.get_by_id(connection, stored["run_id"])
    if run is None:
        raise NotFound(f"Response with id '{response_id}' not found.")
    messages = messages_of_run(connection, run["id"])
    steps = _steps.of_run(connection, run["id"])
    reasoning = reasoning_of_run(connection, run["thread_id"], run["id"])
    return response_record(stored, run, messages, steps, include, reasoning)


def delete_response(connection: Connection, project_id: str, response_id: str) -> bool:
    stored = _responses.get(connection, project_id, response_id)
    if stored is None or not stored["store"]:
        return False
    return _responses.delete(connection, project_id, response_id)


def forget_response(connection: Connection, stored: StoredResponse) -> None:
    """A response with ``store: false`` has ended: its thread goes when it was its own (a new
    chain), else only its echo (its turn stays in the thread it continued)."""
    if stored["previous_response_id"] is None and stored["conversation_id"] is None:
        _threads.delete_any(connection, stored["project_id"], stored["thread_id"])
    else:
        _responses.delete(connection, stored["project_id"], stored["id"])
