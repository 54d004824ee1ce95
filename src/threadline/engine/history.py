"""A thread as a run reads it: its messages and tool steps, for ``chat_turns.conversation``."""

from typing import TypeAlias, TypedDict, final

from threadline.engine.chat_turns import FINISHED, Turn, item_turns
from threadline.records.runs import StepRecord
from threadline.records.threads import MessageStatus, PromptMessageRecord
from threadline.storage.database import Connection
from threadline.storage.items import context_items
from threadline.storage.run_messages import conversation_messages_by_id, message_statuses
from threadline.storage.steps import StepRepository

_steps = StepRepository()


@final
class KnownTurn(TypedDict):
    """A finished message whose turn ``FINISHED`` holds: its content is not read again."""

    id: str
    status: MessageStatus
    turn: Turn


ConversationMessage: TypeAlias = KnownTurn | PromptMessageRecord
Conversation: TypeAlias = tuple[list[ConversationMessage], list[StepRecord]]  # messages, steps


def load_conversation(connection: Connection, thread_id: str) -> Conversation:
    """The thread's messages, context items (as turns) and tool steps, as
    ``chat_turns.conversation`` takes them. A finished
    message whose turn this process has already built comes as its id, status and that turn:
    only the messages it does not know (or that are still being written) are read in full, so a
    long thread costs a run one narrow query rather than decoding every message again."""
    statuses = message_statuses(connection, thread_id)
    wanted = [id_ for id_, status in statuses if status == "in_progress" or id_ not in FINISHED]
    loaded = {m["id"]: m for m in conversation_messages_by_id(connection, wanted)} if wanted else {}
    messages: list[ConversationMessage] = []
    for id_, status in statuses:
        record: ConversationMessage | None = loaded.get(id_)
        if record is None:
            turn = FINISHED.get(id_)
            if turn is None:  # evicted since the lookup above: read it after all
                found = conversation_messages_by_id(connection, [id_])
                if not found:
                    continue  # deleted meanwhile
                record = found[0]
            else:
                record = {"id": id_, "status": status, "turn": turn}
        messages.append(record)
    for key, turn in item_turns(context_items(connection, thread_id)):
        messages.append({"id": key, "status": "completed", "turn": turn})
    return messages, _steps.tool_steps_of_thread(connection, thread_id)
