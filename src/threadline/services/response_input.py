"""A response's ``input`` as rows of the thread it runs on: a string is one user message;
user and assistant message items are messages; system and developer messages join the
instructions; ``function_call_output`` items answer the function calls the thread's last
response left open (the step that holds them gets their outputs)."""

from dataclasses import dataclass, field
from typing import cast

from threadline import ids
from threadline.errors import InvalidRequest
from threadline.records.responses import ContentPart
from threadline.records.runs import StepRecord, ToolCall
from threadline.records.threads import ContentPart as ThreadPart
from threadline.records.threads import MessageRecord
from threadline.schemas.item_mapping import thread_content
from threadline.schemas.response_items import (
    FunctionCallOutputInput,
    InputText,
    MessageInput,
)
from threadline.schemas.responses import ContextInput
from threadline.storage.database import Connection
from threadline.storage.runs import StepChanges, StepRepository

_steps = StepRepository()


@dataclass
class CompiledInput:
    """What the input becomes, before the thread is known: messages (their ``thread_id`` set
    by ``place``), the system texts, and the outputs of function calls, by call id."""

    messages: list[MessageRecord] = field(default_factory=list)
    system_texts: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)

    def place(self, thread_id: str) -> None:
        for message in self.messages:
            message["thread_id"] = thread_id


def compile_input(project_id: str, request: ContextInput, now: int) -> CompiledInput:
    compiled = CompiledInput()
    given = request.input
    if isinstance(given, str):
        compiled.messages.append(_message(project_id, "user", given, now))
        return compiled
    for item in given or ():
        if isinstance(item, MessageInput):
            if item.role in ("system", "developer"):
                compiled.system_texts.append(_plain_text(item))
                continue
            content: str | list[ContentPart] = (
                item.content
                if isinstance(item.content, str)
                else [
                    cast(ContentPart, part.model_dump(exclude_none=True)) for part in item.content
                ]
            )
            compiled.messages.append(_message(project_id, item.role, content, now))
        elif isinstance(item, FunctionCallOutputInput):
            compiled.outputs[item.call_id] = _output_text(item)
        # Other items (function calls and tool calls sent back, references) name what the
        # thread already holds.
    return compiled


def answer_open_calls(connection: Connection, thread_id: str, outputs: dict[str, str]) -> None:
    """Give the thread's open function calls their outputs (in the step that made them).
    Every open call needs one, and every output an open call."""
    answered: set[str] = set()
    for step in _steps.tool_steps_of_thread(connection, thread_id):
        calls = step["step_details"].get("tool_calls", [])
        pending = [
            c["id"]
            for c in calls
            if c["type"] == "function" and c["function"].get("output") is None
        ]
        if not pending:
            continue
        for call_id in pending:
            if call_id not in outputs:
                raise InvalidRequest(
                    f"No tool output found for function call {call_id}.", param="input"
                )
        _steps.update_by_id(connection, step["id"], _with_outputs(step, calls, outputs))
        answered.update(pending)
    for call_id in outputs:
        if call_id not in answered:
            raise InvalidRequest(
                f"No tool call found for function call output with call_id {call_id}.",
                param="input",
            )


def _with_outputs(step: StepRecord, calls: list[ToolCall], outputs: dict[str, str]) -> StepChanges:
    answered: list[ToolCall] = [
        {**call, "function": {**call["function"], "output": outputs[call["id"]]}}
        if call["type"] == "function" and call["id"] in outputs
        else call
        for call in calls
    ]
    return {"step_details": {"type": "tool_calls", "tool_calls": answered}}


def _message(
    project_id: str, role: str, content: str | list[ContentPart], now: int
) -> MessageRecord:
    parts = cast(list[ThreadPart], thread_content(content, role))
    return cast(
        MessageRecord,
        {
            "id": ids.message_id(),
            "project_id": project_id,
            "thread_id": "",
            "created_at": now,
            "status": "completed",
            "incomplete_details": None,
            "completed_at": now,
            "incomplete_at": None,
            "role": role,
            "content": parts,
            "assistant_id": None,
            "run_id": None,
            "attachments": [],
            "metadata": {},
        },
    )


def _plain_text(item: MessageInput) -> str:
    if isinstance(item.content, str):
        return item.content
    return "".join(part.text for part in item.content if isinstance(part, InputText))


def _output_text(item: FunctionCallOutputInput) -> str:
    if isinstance(item.output, str):
        return item.output
    return "".join(part.text for part in item.output if isinstance(part, InputText))
