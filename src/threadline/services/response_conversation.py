"""A response on a conversation runs on the conversation's thread (a conversation is a
thread): it takes the thread as a run does, so a response or run already on it makes this one
``conversation_locked``, as OpenAI answers a busy conversation."""

from threadline.errors import InvalidRequest
from threadline.services.conversations import LOCKED, not_found
from threadline.storage.database import Connection
from threadline.storage.repositories import ThreadRepository
from threadline.storage.runs import take_thread

_threads = ThreadRepository()


def take_conversation(
    connection: Connection, project_id: str, conversation_id: str, run_id: str
) -> None:
    """Make ``run_id`` the conversation's active run. A thread of another project, or the
    hidden thread of a ``previous_response_id`` chain, is not a conversation (404)."""
    thread = _threads.get(connection, project_id, conversation_id)
    if thread is None or thread.get("kind") == "chain":
        raise not_found(conversation_id)
    if not take_thread(connection, project_id, conversation_id, run_id):
        raise InvalidRequest(LOCKED, code="conversation_locked")
