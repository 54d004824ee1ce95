"""One model turn, recorded as run steps and messages while it streams.

Text opens a ``message_creation`` step and its assistant message; tool-call fragments open a
``tool_calls`` step. Only one step is open at a time (the SDKs apply deltas to "the current"
snapshot), so text that arrives first is completed before the calls start. Objects are stored
before their ``created`` events go out; deltas go out as they arrive and are stored when their
message or step is done, and a message's text so far at most once a second meanwhile (so that it
reads back mid-stream; a write per token would cost more than the rest of the run). A text answer
is closed by the run's end, in the same unit of work (``last_writes``): one write less per run,
and its events still follow the write."""

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from threadline import clock
from threadline.engine.chat_turns import message_tokens
from threadline.engine.run_tools import RunTools
from threadline.engine.tokens import count_text
from threadline.engine.tools.base import MessageExtras
from threadline.engine.turn_calls import CallAssembly, ToolCall, stored_call
from threadline.engine.turn_reasoning import TurnReasoning
from threadline.engine.turn_rows import (
    insert_message_and_step,
    minus_completion,
    new_assistant_message,
    new_step,
    store_text,
    usage_dict,
)
from threadline.errors import ServiceUnavailable
from threadline.providers.llm.base import ChatDelta, ToolCallDelta, UpstreamFailure, Usage
from threadline.records.runs import RunRecord, StepRecord
from threadline.records.threads import MessageChanges, MessageRecord, TextPart
from threadline.schemas.objects import message_data
from threadline.schemas.run_objects import (
    StreamEvent,
    message_extras_delta,
    message_text_delta,
    run_step,
    run_step_data,
)
from threadline.storage.database import Connection, Database
from threadline.storage.run_messages import update_message
from threadline.storage.steps import StepChanges, StepRepository

logger = logging.getLogger("threadline.engine")

_steps = StepRepository()

Publish = Callable[[StreamEvent], None]

# How often the text of a message being written is stored while it streams.
TEXT_STORED_EVERY_SECONDS = 1.0


@dataclass
class TurnResult:
    finish_reason: str
    usage: Usage
    calls: list[ToolCall] = field(default_factory=list)  # function calls, for the client
    server_calls: list[ToolCall] = field(default_factory=list)  # for the server's own tools
    step: StepRecord | None = None  # the tool_calls step, when there are calls


class TurnRecorder:
    def __init__(
        self,
        db: Database,
        run: RunRecord,
        publish: Publish,
        prompt_tokens: int,
        tools: RunTools,
        response_id: str | None = None,
    ) -> None:
        self._db = db
        self._run = run
        self._publish = publish
        self._prompt_tokens = prompt_tokens
        self._tools = tools
        self._message: MessageRecord | None = None
        self._message_step: StepRecord | None = None
        self._text: list[str] = []
        self._text_started = False
        self._text_stored_at = 0.0  # time.monotonic() of the last store of the message's text
        self._text_store_failed = False  # said once in the log
        self._message_closed = False  # completed before the turn's tool calls
        self._tool_step: StepRecord | None = None
        self._calls = CallAssembly(tools, publish)
        self._finish_reason: str | None = None
        self._usage: Usage | None = None
        self._message_tokens = 0
        # Set by finish() for a text answer: what the run's end must store with it.
        self.last_writes: Callable[[Connection], list[StreamEvent]] | None = None
        # A response's run keeps the model's reasoning; an Assistants run ignores it.
        self._reasoning = (
            TurnReasoning(db, run, response_id, publish) if response_id is not None else None
        )

    async def feed(self, delta: ChatDelta) -> None:
        if self._reasoning is not None:
            if delta.reasoning:
                self._reasoning.feed(delta.reasoning)
            if delta.text or delta.tool_calls:
                await self._reasoning.close()  # the answer starts: its reasoning is done
        if delta.text and self._tool_step is None:
            await self._on_text(delta.text)
        for call in delta.tool_calls:
            await self._on_tool_call(call)
        if delta.finish_reason is not None:
            self._finish_reason = delta.finish_reason
        if delta.usage is not None:
            self._usage = delta.usage

    async def finish(self) -> TurnResult:
        """Close what the turn opened. A text answer is closed by the run's end (``last_writes``);
        a turn cut at its token limit leaves its message open: ending the run marks it
        incomplete."""
        if self._finish_reason is None:
            raise UpstreamFailure("server_error", "The model's response ended unexpectedly.")
        if self._reasoning is not None:
            await self._reasoning.close()
        usage = self._usage or Usage(self._prompt_tokens, self._completion_estimate())
        if self._message is None and self._tool_step is None:
            # An empty answer is an answer still: its step and an assistant message with one
            # empty text part, so a client reading the newest message reads the reply (not its
            # own question) and ``content[0].text.value`` holds, as for any other answer.
            await self._open_message()
        if self._message is not None and self._tool_step is None:
            self._message_tokens = count_text("".join(self._text))
            self.last_writes = functools.partial(self._close_message_in, usage=usage)
        calls = self._calls.in_order()
        if self._tool_step is not None:
            self._calls.check(calls)
            step_usage = minus_completion(usage, self._message_tokens)
            changes: StepChanges = {
                "step_details": {
                    "type": "tool_calls",
                    "tool_calls": [stored_call(c) for c in calls],
                },
                "usage": usage_dict(step_usage),
            }
            await self._db.write(_steps.update_by_id, self._tool_step["id"], changes)
            self._tool_step.update(changes)  # type: ignore[typeddict-item]  # StepRecord's keys
        return TurnResult(
            self._finish_reason,
            usage,
            [c for c in calls if c.server is None],
            [c for c in calls if c.server is not None],
            self._tool_step,
        )

    async def save_partial(self) -> None:
        """Store the text streamed so far (while it streams), if this attempt still holds the
        run. Best effort: the text stays here for the turn's last write if the database is
        unavailable for a moment."""
        if self._message is not None and self._text:
            changes = self._content_changes()
            try:
                await self._db.write(store_text, self._run, self._message["id"], changes)
            except ServiceUnavailable:
                if not self._text_store_failed:
                    self._text_store_failed = True
                    logger.warning("run %s: its text so far could not be stored", self._run["id"])

    def end_writes(self) -> Callable[[Connection], list[StreamEvent]] | None:
        """What the run's end must store in its unit: the text answer and its completion
        (``last_writes``), else the text so far (a turn that failed or stopped)."""
        if self.last_writes is not None:
            return self.last_writes
        return self.partial_writes if self._has_open_text() else None

    def partial_writes(self, connection: Connection) -> list[StreamEvent]:
        """Store the text so far; the run's end closes its message and step."""
        if self._message is not None and self._has_open_text():
            update_message(connection, self._message["id"], self._content_changes())
        return []

    async def keep_text(self) -> None:
        """Store the text so far though this attempt no longer holds the run (another server
        ended it while the database was away from this one): the message is this attempt's
        own, and its text is better kept than lost."""
        if self._message is not None and self._has_open_text():
            await self._db.write(update_message, self._message["id"], self._content_changes())

    def open_objects(self) -> tuple[StepRecord | None, MessageRecord | None]:
        """The turn's open step and its open message with the text so far: what a stream is
        told the run's end closes when the database cannot take that end."""
        message: MessageRecord | None = None
        if self._message is not None and not self._message_closed:
            # With the text so far (MessageChanges: MessageRecord's keys).
            message = {**self._message, **self._content_changes()}  # type: ignore[typeddict-item]
        step = self._tool_step or (None if self._message_closed else self._message_step)
        return step, message

    def _has_open_text(self) -> bool:
        return bool(self._text) and not self._message_closed

    # -- text ---------------------------------------------------------------------------

    async def _on_text(self, fragment: str) -> None:
        if self._message is None:
            await self._open_message()
            self._text_stored_at = time.monotonic()
        assert self._message is not None
        self._text.append(fragment)
        self._publish(message_text_delta(self._message["id"], 0, fragment, not self._text_started))
        self._text_started = True
        now = time.monotonic()
        if now - self._text_stored_at >= TEXT_STORED_EVERY_SECONDS:
            self._text_stored_at = now
            await self.save_partial()

    async def _open_message(self) -> None:
        now = clock.now()
        message = new_assistant_message(self._run, now)
        step = new_step(self._run, now, "message_creation")
        step["step_details"] = {
            "type": "message_creation",
            "message_creation": {"message_id": message["id"]},
        }
        await self._db.write(insert_message_and_step, message, step)
        self._message, self._message_step = message, step
        created = StreamEvent.of("thread.run.step.created", run_step_data(step))
        self._publish(created)
        self._publish(created.renamed("thread.run.step.in_progress"))
        shown = StreamEvent.of("thread.message.created", message_data(message))
        self._publish(shown)
        self._publish(shown.renamed("thread.message.in_progress"))

    def _content_changes(self, extras: MessageExtras | None = None) -> MessageChanges:
        extras = extras or MessageExtras()
        value = "".join(self._text)
        text: TextPart = {
            "type": "text",
            "text": {"value": value, "annotations": extras.annotations},
        }
        return {"content": [text, *extras.parts]}

    async def _close_message(self, usage: Usage | None) -> None:
        self._message_tokens = count_text("".join(self._text))
        for event in await self._db.write(self._close_message_in, usage):
            self._publish(event)
        self._message_closed = True

    def _close_message_in(self, connection: Connection, usage: Usage | None) -> list[StreamEvent]:
        """Store the message's text and complete it and its step (a turn cut at its token limit:
        only the text); the events to publish once that is committed."""
        assert self._message is not None and self._message_step is not None
        # The built-in tools' annotations and parts, sent as one delta before the message ends.
        extras = self._tools.annotate("".join(self._text))
        added = []
        if extras.annotations or extras.parts:
            message_id = self._message["id"]
            added = [message_extras_delta(message_id, extras.annotations, extras.parts)]
        changes = self._content_changes(extras)
        # The worker's copies are left as they were: this unit may yet be rolled back.
        if self._finish_reason == "length" and self._tool_step is None:
            update_message(connection, self._message["id"], changes)
            return added
        now = clock.now()
        changes["status"] = "completed"
        changes["completed_at"] = now
        finished: MessageRecord = {**self._message, **changes}  # type: ignore[typeddict-item]
        changes["tokens"] = message_tokens(finished)  # its count, for the runs that read it
        step_usage = usage or Usage(0, self._message_tokens)
        step_changes: StepChanges = {
            "status": "completed",
            "completed_at": now,
            "usage": usage_dict(step_usage),
        }
        update_message(connection, self._message["id"], changes)
        _steps.update_by_id(connection, self._message_step["id"], step_changes)
        message: MessageRecord = {**self._message, **changes}  # type: ignore[typeddict-item]
        step: StepRecord = {**self._message_step, **step_changes}  # type: ignore[typeddict-item]
        return [
            *added,
            StreamEvent.of("thread.message.completed", message_data(message)),
            StreamEvent.of("thread.run.step.completed", run_step_data(step)),
        ]

    # -- tool calls ---------------------------------------------------------------------

    async def _on_tool_call(self, fragment: ToolCallDelta) -> None:
        if self._tool_step is None:
            if self._message is not None:
                await self._close_message(None)
            step = new_step(self._run, clock.now(), "tool_calls")
            step["step_details"] = {"type": "tool_calls", "tool_calls": []}
            await self._db.write(_steps.insert, step)
            self._tool_step = step
            created = run_step(step)
            self._publish(StreamEvent.of("thread.run.step.created", created))
            self._publish(StreamEvent.of("thread.run.step.in_progress", created))
        self._calls.feed(self._tool_step["id"], fragment)

    def _completion_estimate(self) -> int:
        arguments = self._calls.arguments()
        return count_text("".join(self._text)) + count_text(arguments)
