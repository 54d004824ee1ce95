"""A response's ``input`` as rows of the thread it runs on, in the order given: a string is one
user message; user and assistant message items are thread messages; every other item (system
and developer messages, function calls and their outputs) is a row of ``items``
(``services.conversation_items``); an ``item_reference`` is a copy of the item it names.

A ``function_call_output`` answers a function call the thread's last response left open (the
step that holds the call gets the output, and the row keeps its ``step_id``: the step is the
model's context for it), or a ``function_call`` sent in the same input by a client that keeps
its own state (both rows are then context). A call sent back that the thread already holds is
not stored twice."""

from dataclasses import dataclass, field
from typing import cast

from threadline import ids
from threadline.errors import InvalidRequest
from threadline.records.items import ItemRow
from threadline.records.runs import StepRecord, ToolCall
from threadline.records.threads import MessageRecord
from threadline.schemas.response_items import ItemReference, MessageInput
from threadline.schemas.responses import ContextInput
from threadline.services.conversation_items import stored_entries, with_tokens
from threadline.services.conversations import item_not_found
from threadline.storage.database import Connection
from threadline.storage.items import Entry, ItemRepository
from threadline.storage.repositories import MessageRepository
from threadline.storage.steps import StepChanges, StepRepository

_steps = StepRepository()
_messages = MessageRepository()
_items = ItemRepository()


@dataclass(frozen=True, slots=True)
class Reference:
    """An ``item_reference``, with the creation key its copy will have (minted in the input's
    order, so the copy sorts where the reference was)."""

    item_id: str
    key: str


@dataclass
class CompiledInput:
    """What the input becomes, before the thread is known (``place`` sets it): its rows in
    order, references still to resolve (``settle``)."""

    entries: list[Entry | Reference] = field(default_factory=list)

    @property
    def rows(self) -> list[Entry]:
        return [entry for entry in self.entries if not isinstance(entry, Reference)]

    @property
    def messages(self) -> list[MessageRecord]:
        return [entry for entry in self.rows if "body" not in entry]

    @property
    def items(self) -> list[ItemRow]:
        return [entry for entry in self.rows if "body" in entry]

    def place(self, thread_id: str, response_id: str | None = None) -> None:
        for entry in self.rows:
            entry["thread_id"] = thread_id
            if "body" in entry:
                entry["response_id"] = response_id


def compile_input(project_id: str, request: ContextInput, now: int) -> CompiledInput:
    compiled = CompiledInput()
    given = request.input
    if given is None:
        return compiled
    given_items = [MessageInput(role="user", content=given)] if isinstance(given, str) else given
    for item in given_items:
        if isinstance(item, ItemReference):
            key = ids.creation_key(ids.new_id("ref_"))
            compiled.entries.append(Reference(item.id, key))
        else:
            compiled.entries.extend(stored_entries(project_id, "", [item], now))
    return compiled


def settle(
    connection: Connection,
    project_id: str,
    thread_id: str,
    compiled: CompiledInput,
    *,
    new_thread: bool = False,
) -> None:
    """Resolve the input against the thread, in the unit that stores it: references become
    copies, function outputs answer the thread's open calls, calls already stored are
    dropped, and every call is answered. A ``new_thread`` (made in this unit) has no calls."""
    _resolve_references(connection, project_id, thread_id, compiled)
    steps = [] if new_thread else _steps.tool_steps_of_thread(connection, thread_id)
    stored_calls: set[str] = set()
    open_calls: dict[str, StepRecord] = {}
    for step in steps:
        for call in step["step_details"].get("tool_calls", []):
            stored_calls.add(call["id"])
            if (
                step["status"] == "completed"
                and call["type"] == "function"
                and call["function"].get("output") is None
            ):
                open_calls[call["id"]] = step
    kept: list[Entry | Reference] = []
    sent_calls: dict[str, None] = {}  # calls sent in the input, until their output is
    answers: dict[str, dict[str, str]] = {}  # step id -> call id -> output
    for entry in compiled.entries:
        if isinstance(entry, Reference) or "body" not in entry:
            kept.append(entry)
            continue
        call_id = entry["call_id"]
        if entry["type"] == "function_call" and call_id is not None:
            if call_id in stored_calls:
                continue  # the thread holds it already
            sent_calls[call_id] = None
        elif entry["type"] == "function_call_output" and call_id is not None:
            step = open_calls.get(call_id)
            if step is not None:
                entry["step_id"] = step["id"]
                answers.setdefault(step["id"], {})[call_id] = _output_text(entry)
            elif call_id not in sent_calls:
                raise InvalidRequest(
                    f"No tool call found for function call output with call_id {call_id}.",
                    param="input",
                )
            else:
                del sent_calls[call_id]
        kept.append(entry)
    compiled.entries = kept
    answered = {call_id for outputs in answers.values() for call_id in outputs}
    unanswered = [call_id for call_id in open_calls if call_id not in answered]
    for call_id in [*unanswered, *sent_calls]:
        raise InvalidRequest(f"No tool output found for function call {call_id}.", param="input")
    for step in steps:
        outputs = answers.get(step["id"])
        if outputs:
            calls = step["step_details"].get("tool_calls", [])
            _steps.update_by_id(connection, step["id"], _with_outputs(calls, outputs))


def _resolve_references(
    connection: Connection, project_id: str, thread_id: str, compiled: CompiledInput
) -> None:
    resolved: list[Entry | Reference] = []
    for entry in compiled.entries:
        if not isinstance(entry, Reference):
            resolved.append(entry)
            continue
        found: Entry | None = _messages.get(connection, project_id, entry.item_id)
        if found is None:
            found = _items.get(connection, project_id, entry.item_id)
        if found is None:
            raise item_not_found(entry.item_id)
        if found["thread_id"] == thread_id:
            continue  # already in the context it would be copied into
        resolved.append(_copy(found, thread_id, entry.key))
    compiled.entries = resolved


def _copy(found: Entry, thread_id: str, key: str) -> Entry:
    prefix = found["id"][: len(found["id"]) - len(ids.creation_key(found["id"]))]
    new_id = prefix + key
    if "body" in found:
        row = cast(ItemRow, found)
        return {
            **row,
            "id": new_id,
            "thread_id": thread_id,
            "position": key,
            "run_id": None,
            "step_id": None,
            "body": {**row["body"], "id": new_id},  # type: ignore[typeddict-item]
        }
    message = cast(MessageRecord, found)
    return {**message, "id": new_id, "thread_id": thread_id, "run_id": None}


def _with_outputs(calls: list[ToolCall], outputs: dict[str, str]) -> StepChanges:
    answered: list[ToolCall] = [
        {**call, "function": {**call["function"], "output": outputs[call["id"]]}}
        if call["type"] == "function" and call["id"] in outputs
        else call
        for call in calls
    ]
    return {"step_details": {"type": "tool_calls", "tool_calls": answered}}


def _output_text(row: ItemRow) -> str:
    output = cast(dict[str, object], row["body"]).get("output")
    if isinstance(output, str):
        return output
    parts = output if isinstance(output, list) else []
    return "".join(str(part.get("text") or "") for part in parts if isinstance(part, dict))


def insert_input(connection: Connection, compiled: CompiledInput) -> None:
    """Store the settled input: its messages and items."""
    _messages.insert_many(connection, with_tokens(compiled.messages))
    _items.insert_many(connection, compiled.items)
