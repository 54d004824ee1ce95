"""A thread as a run reads it: the newest messages, tool steps and context items its prompt can
hold, for ``chat_turns.conversation``.

A prompt is the newest turns that fit a budget (``context.build_prompt``), so a run reads its
thread newest first, a page at a time (each twice the last), until the turns read hold more
than the budget, or as many thread messages as ``last_messages`` keeps, plus the turn before
them. Messages come as id, status and stored token count (``messages.tokens``; counted here for
rows that have none), and only those the prompt can use are read in full — and only if
``FINISHED`` does not hold their turn already. A run's cost follows its window, not its thread's
length, and the turns it is given are the newest turns of the whole thread, unchanged:

- each page is a key range complete in all three sources (messages, tool steps, context items:
  a source's page that fills its limit ends the range at its oldest row);
- a client's function calls and their outputs are grouped in order (``item_turns``), so turns
  are counted only from an item whose group cannot have begun earlier (``_first_whole_item``);
- the turn before the oldest one counted comes too: the reasoning there goes with it."""

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from threadline.engine.chat_turns import (
    FINISHED,
    ConversationMessage,
    Turn,
    message_turn,
    step_turn,
)
from threadline.engine.item_turns import item_turns
from threadline.ids import creation_key
from threadline.records.items import ContextItemRow
from threadline.records.runs import StepRecord
from threadline.storage.database import Connection
from threadline.storage.items import context_items_page
from threadline.storage.pagination import KeyRange
from threadline.storage.run_messages import (
    MessageTokens,
    conversation_messages_by_id,
    message_page,
    store_message_tokens,
)
from threadline.storage.steps import StepRepository

_steps = StepRepository()
RowT = TypeVar("RowT")

Conversation = tuple[list[ConversationMessage], list[StepRecord]]  # messages, steps

_FIRST_PAGE = 64
_LARGEST_PAGE = 2048
_ABOVE_EVERY_KEY = "~"  # keys are base 36: digits and lower-case letters
# Item rows after which a function call begins a new group of calls (see ``item_turns``).
_ENDS_A_GROUP = frozenset({"message", "function_call_output"})


@dataclass(frozen=True, slots=True)
class Needed:
    """How much of a thread a prompt can hold: the newest turns up to ``tokens``, and with
    ``last_messages``, no more thread messages than that."""

    tokens: int
    last_messages: int | None = None


def load_conversation(
    connection: Connection,
    thread_id: str,
    needed: Needed | None = None,
    *,
    run_id: str | None = None,
    store_counts: bool = False,
) -> Conversation:
    """The thread's newest messages (a finished one whose turn ``FINISHED`` holds comes as its
    id, status and that turn), context items (as turns) and tool steps: all that ``needed``
    can use (all of them without it). ``run_id``: that run's tool steps come too, however old
    (its tools annotate its answer with them). ``store_counts``: store the token counts made
    of messages that had none (in a write unit)."""
    reader = _NewestFirst(connection, thread_id, needed)
    limit = _FIRST_PAGE
    while reader.start is None and reader.read_page(limit):
        limit = min(2 * limit, _LARGEST_PAGE)
    if store_counts:
        store_message_tokens(connection, reader.counted)
    return reader.conversation(run_id)


@dataclass(frozen=True, slots=True)
class _Size:
    key: str
    tokens: int
    is_thread_message: bool


class _NewestFirst:
    """A thread read newest first, page by page, and its turns counted newest first as they
    become whole, until they hold what is ``needed``: then ``start`` is the key of the oldest
    turn to give (None until then, and for the whole thread)."""

    def __init__(self, connection: Connection, thread_id: str, needed: Needed | None) -> None:
        self._connection = connection
        self._thread_id = thread_id
        self._needed = needed
        # Every row read, newest first, and how many of each are counted (those first).
        self._messages: list[MessageTokens] = []
        self._steps: list[StepRecord] = []
        self._items: list[ContextItemRow] = []
        self._counted_rows = [0, 0, 0]  # messages, steps, items
        self._item_turns: list[tuple[str, Turn]] = []  # by item id, from ``_counted_from`` on
        self._sizes: dict[str, int | None] = {}  # uncounted messages' turns (None: no turn)
        self.counted: dict[str, int] = {}  # counts made of finished messages that had none
        self._read_from: str | None = _ABOVE_EVERY_KEY  # None: the whole thread is read
        self._counted_from = _ABOVE_EVERY_KEY  # turns from this key on are counted
        self._tokens = self._thread_messages = 0
        self._enough = False
        self.start: str | None = None

    def read_page(self, limit: int) -> bool:
        """Read the next page and count the turns it completes; False once the whole thread
        is read."""
        if self._read_from is None:
            return False
        connection, thread_id = self._connection, self._thread_id
        high = None if self._read_from == _ABOVE_EVERY_KEY else self._read_from
        messages = message_page(connection, thread_id, KeyRange(None, high), limit)
        low = creation_key(messages[-1].id) if len(messages) == limit else None
        steps = _steps.tool_steps_page(connection, thread_id, KeyRange(low, high), limit)
        if len(steps) == limit:
            low = _later(low, creation_key(steps[-1]["id"]))
        items = context_items_page(connection, thread_id, KeyRange(low, high), limit)
        if len(items) == limit:
            low = _later(low, items[-1]["position"])
        if low is not None:  # what is older than ``low`` is read again with the next page
            messages = [m for m in messages if creation_key(m.id) >= low]
            steps = [s for s in steps if creation_key(s["id"]) >= low]
            items = [i for i in items if i["position"] >= low]
        self._size_uncounted(messages)
        self._messages += messages
        self._steps += steps
        self._items += items
        self._read_from = low
        self._count_turns()
        return low is not None

    def _size_uncounted(self, messages: list[MessageTokens]) -> None:
        """Size the messages that have no stored count (rows older than the column, and those
        still being written) from their content."""
        unknown = [m.id for m in messages if m.tokens is None or m.status == "in_progress"]
        if not unknown:
            return
        for record in conversation_messages_by_id(self._connection, unknown):
            turn = message_turn(record)
            self._sizes[record["id"]] = turn.tokens if turn is not None else None
            if turn is not None and record["status"] != "in_progress":
                self.counted[record["id"]] = turn.tokens
                FINISHED.put(record["id"], turn)

    # -- counting -----------------------------------------------------------------------

    def _count_turns(self) -> None:
        """Count, newest first, the turns that became whole with the last page."""
        whole_from = "" if self._read_from is None else self._first_whole_item()
        if whole_from >= self._counted_from:
            return
        self._counted_from = whole_from
        new_items = _take_from(self._items, self._counted_rows, 2, whole_from, _item_key)
        item_turns_now = item_turns(new_items[::-1])  # oldest first; no group ends later
        self._item_turns = item_turns_now + self._item_turns
        item_sizes = [
            _Size(creation_key(item_id), turn.tokens, turn.is_thread_message)
            for item_id, turn in reversed(item_turns_now)
        ]
        for size in heapq.merge(
            self._message_sizes(
                _take_from(self._messages, self._counted_rows, 0, whole_from, _message_key)
            ),
            self._step_sizes(_take_from(self._steps, self._counted_rows, 1, whole_from, _step_key)),
            item_sizes,
            key=_size_key,
            reverse=True,
        ):
            if self._enough:
                self.start = size.key  # the turn before those that hold what is needed
                return
            self._tokens += size.tokens
            self._thread_messages += size.is_thread_message
            self._enough = self._holds_enough()

    def _holds_enough(self) -> bool:
        needed = self._needed
        if needed is None:
            return False
        last = needed.last_messages or None  # 0 keeps every message, as build_prompt does
        return self._tokens > needed.tokens or (last is not None and self._thread_messages >= last)

    def _message_sizes(self, messages: list[MessageTokens]) -> list[_Size]:
        sizes = []
        for message in messages:
            tokens = message.tokens
            if tokens is None or message.status == "in_progress":
                tokens = self._sizes.get(message.id)
                if tokens is None:
                    continue  # deleted meanwhile, or being written and still empty
            sizes.append(_Size(creation_key(message.id), tokens, True))
        return sizes

    @staticmethod
    def _step_sizes(steps: list[StepRecord]) -> list[_Size]:
        sizes = []
        for step in steps:
            turn = step_turn(step)
            if turn is not None:
                sizes.append(_Size(creation_key(step["id"]), turn.tokens, False))
        return sizes

    def _first_whole_item(self) -> str:
        """The key from which the items not counted yet make the turns the whole thread's
        make. A function call joins the calls just before it, and an output the calls before
        it: items count from a system or developer message, or from a call after an output or
        such a message (with no item to count: from where the read reaches)."""
        assert self._read_from is not None
        uncounted = self._items[self._counted_rows[2] :]
        before: str | None = None  # the type of the item just older, reasoning aside
        for row in reversed(uncounted):  # oldest first
            kind = row["type"]
            if kind == "message" or (kind == "function_call" and before in _ENDS_A_GROUP):
                return row["position"]
            if kind != "reasoning":
                before = kind
        if not uncounted:
            return self._read_from
        # No key sorts between a key and that key followed by a character: the one after.
        return uncounted[0]["position"] + "0"

    # -- the conversation ---------------------------------------------------------------

    def conversation(self, run_id: str | None) -> Conversation:
        """The turns from ``start`` on (all of them when it is None), oldest first."""
        start = self.start or ""
        in_range = [m for m in reversed(self._messages) if creation_key(m.id) >= start]
        wanted = [m.id for m in in_range if m.status == "in_progress" or m.id not in FINISHED]
        loaded = {m["id"]: m for m in conversation_messages_by_id(self._connection, wanted)}
        messages: list[ConversationMessage] = []
        for message in in_range:
            record: ConversationMessage | None = loaded.get(message.id)
            if record is None:
                turn = FINISHED.get(message.id)
                if turn is None:  # evicted since the lookup above: read it after all
                    found = conversation_messages_by_id(self._connection, [message.id])
                    if not found:
                        continue  # deleted meanwhile
                    record = found[0]
                else:
                    record = {"id": message.id, "status": message.status, "turn": turn}
            messages.append(record)
        for item_id, turn in self._item_turns:
            if creation_key(item_id) >= start:
                messages.append({"id": item_id, "status": "completed", "turn": turn})
        steps = [s for s in reversed(self._steps) if creation_key(s["id"]) >= start]
        if run_id is not None and start > creation_key(run_id):
            # The run's own calls older than its window: its tools annotate its answer.
            steps[:0] = [
                s
                for s in _steps.of_run(self._connection, run_id)
                if s["type"] == "tool_calls" and creation_key(s["id"]) < start
            ]
        return messages, steps


def _take_from(
    rows: list[RowT], counted: list[int], source: int, low: str, key: Callable[[RowT], str]
) -> list[RowT]:
    """The rows not counted yet (those after the first ``counted[source]``) down to key
    ``low``, newest first; they are counted from now on."""
    first = end = counted[source]
    while end < len(rows) and key(rows[end]) >= low:
        end += 1
    counted[source] = end
    return rows[first:end]


def _message_key(message: MessageTokens) -> str:
    return creation_key(message.id)


def _step_key(step: StepRecord) -> str:
    return creation_key(step["id"])


def _item_key(item: ContextItemRow) -> str:
    return item["position"]


def _size_key(size: _Size) -> str:
    return size.key


def _later(key: str | None, other: str) -> str:
    return other if key is None or other > key else key
