"""A run's stream events as a response's: ``thread.message.delta``, ``thread.run.step.delta``
and the rest in, the ``response.*`` sequence out, numbered with ``sequence_number``.

Pure: no I/O, no clock. The worker feeds it every event it publishes for a response's run and
stores what comes out (a background response's stream is replayed from the database), so the
same input always gives the same events. The orders are OpenAI's (docs/responses-design.md §d):

- reasoning (a response whose upstream streams ``reasoning_content``): ``output_item.added`` →
  ``content_part.added`` → ``reasoning_text.delta``… → ``reasoning_text.done`` →
  ``content_part.done`` → ``output_item.done``;
- text: ``output_item.added`` → ``content_part.added`` → ``output_text.delta``… →
  ``output_text.annotation.added``… → ``output_text.done`` → ``content_part.done`` →
  ``output_item.done``;
- a function call: ``output_item.added`` → ``function_call_arguments.delta``… → ``.done`` →
  ``output_item.done``;
- file_search: ``output_item.added`` → ``file_search_call.in_progress`` → ``.searching`` →
  ``.completed`` → ``output_item.done``;
- code_interpreter: ``output_item.added`` → ``code_interpreter_call.in_progress`` →
  ``code_interpreter_call_code.delta``… → ``code_interpreter_call_code.done`` →
  ``.interpreting`` → ``.completed`` → ``output_item.done``;

framed by ``response.created`` (``queued`` in the background) and ``response.in_progress``, and
ended by ``response.completed``, ``response.incomplete`` or ``response.failed``. A run that waits
for function outputs is a completed response: its client answers with ``function_call_output``
items in the next one. A cancelled response ends the stream without an event (OpenAI has none)."""

from collections.abc import Callable
from typing import cast

import orjson

from threadline.engine.response_stream_calls import ToolCallEvents
from threadline.engine.response_stream_messages import MessageEvents
from threadline.engine.response_stream_reasoning import (
    REASONING_DELTA,
    REASONING_DONE,
    ReasoningEvents,
)
from threadline.records.jsonvalue import JsonObject
from threadline.records.responses import (
    IncompleteReason,
    ItemStatus,
    ResponseErrorRecord,
    ResponseStatus,
)
from threadline.records.runs import RunUsage
from threadline.schemas.item_mapping import usage
from threadline.schemas.response_objects import response_data
from threadline.schemas.run_objects import StreamEvent

# The codes a response's ``error`` may carry (the SDK's ``ResponseError.code``) that a run's
# ``last_error`` can have; any other is reported as ``server_error``.
_ERROR_CODES = frozenset(
    {"server_error", "rate_limit_exceeded", "invalid_prompt", "vector_store_timeout"}
)
# A run's incomplete reasons as a response's: the completion budget is max_output_tokens.
_INCOMPLETE_REASONS = {"content_filter": "content_filter"}


class ResponseStreamTranslator(MessageEvents, ToolCallEvents, ReasoningEvents):
    """Translates one response's run events. ``record`` is the response as created (its status
    ``queued`` for a background response, else ``in_progress``; no output); ``include`` decides
    what ``done`` items show, as for ``GET``; ``container_id`` is the code_interpreter container
    the response's calls run in; ``first_sequence`` continues a numbering (0 for a new stream)."""

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> list[StreamEvent]:
        """The events that open the stream: ``response.created``, then ``response.queued`` for
        a response that waits for a worker, else ``response.in_progress``."""
        out = [self._lifecycle("response.created")]
        if self.record["status"] == "queued":
            out.append(self._lifecycle("response.queued"))
        else:
            self._in_progress_sent = True
            out.append(self._lifecycle("response.in_progress"))
        return out

    def feed(self, event: StreamEvent) -> list[StreamEvent]:
        return self.feed_data(event.name, orjson.loads(event.data))

    def feed_data(self, name: str, data: JsonObject) -> list[StreamEvent]:
        """The response events for one run event (none for most of the run's bookkeeping)."""
        if self.finished:
            return []
        handler = _HANDLERS.get(name)
        if handler is None:
            return []
        for stamp in (data.get("created_at"), data.get("completed_at")):
            if isinstance(stamp, int) and stamp > self._latest:
                self._latest = stamp
        out: list[StreamEvent] = []
        handler(self, data, out)
        return out

    def _on_run_in_progress(self, data: JsonObject, out: list[StreamEvent]) -> None:
        if not self._in_progress_sent:
            self._in_progress_sent = True
            self.record["status"] = "in_progress"
            out.append(self._lifecycle("response.in_progress"))

    def _on_run_completed(self, data: JsonObject, out: list[StreamEvent]) -> None:
        self._on_required_calls(data, out)
        self._close_all("completed", out)
        self._end(data, "completed", out)
        # The run's own end, else (a run that waits for function outputs has none) the latest
        # time its events told: the same events always give the same response.
        ended = data.get("completed_at")
        self.record["completed_at"] = ended if isinstance(ended, int) else self._latest
        out.append(self._lifecycle("response.completed"))

    def _on_run_incomplete(self, data: JsonObject, out: list[StreamEvent]) -> None:
        self._close_all("incomplete", out)
        self._end(data, "incomplete", out)
        details = data.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        mapped = _INCOMPLETE_REASONS.get(str(reason), "max_output_tokens")
        self.record["incomplete_details"] = cast(IncompleteReason, {"reason": mapped})
        out.append(self._lifecycle("response.incomplete"))

    def _on_run_failed(self, data: JsonObject, out: list[StreamEvent]) -> None:
        self._end(data, "failed", out)
        last_error = data.get("last_error")
        code, message = "server_error", "The response failed."
        if isinstance(last_error, dict):
            given = str(last_error.get("code") or "")
            code = given if given in _ERROR_CODES else "server_error"
            message = str(last_error.get("message") or message)
        self.record["error"] = cast(ResponseErrorRecord, {"code": code, "message": message})
        out.append(self._lifecycle("response.failed"))

    def _on_run_cancelled(self, data: JsonObject, out: list[StreamEvent]) -> None:
        self._end(data, "cancelled", out)

    def _on_error(self, data: JsonObject, out: list[StreamEvent]) -> None:
        # Both shapes: the spec's flat fields (which the SDK yields) and live OpenAI's nested
        # ``error`` (which makes the SDK raise APIError).
        inner = data.get("error")
        detail = inner if isinstance(inner, dict) else data
        error = {
            "type": "server_error",
            "code": detail.get("code") or "server_error",
            "message": detail.get("message") or "The server had an error.",
            "param": detail.get("param"),
        }
        out.append(
            self._event(
                "error", {**{k: error[k] for k in ("code", "message", "param")}, "error": error}
            )
        )
        self.finished = True

    def _end(self, run: JsonObject, status: ResponseStatus, out: list[StreamEvent]) -> None:
        self.finished = True
        self.record["status"] = status
        self.record["usage"] = usage(cast(RunUsage | None, run.get("usage")))
        self.record["output"] = list(self._items)

    def _lifecycle(self, kind: str) -> StreamEvent:
        return self._event(kind, {"response": response_data(self.record, self._include)})

    def _close_all(self, status: ItemStatus, out: list[StreamEvent]) -> None:
        """Items still open when the run ends (a message cut at its token limit) are done with
        ``status``: the SDK completes no response with unfinished items."""
        for key in list(self._open):
            opened = self._open.pop(key)
            if opened.item["type"] == "message":
                self._finish_message(opened, "".join(opened.text), [], status, out)
                continue
            if opened.item["type"] == "reasoning":
                self._finish_reasoning(opened, "".join(opened.text), status, out)
                continue
            if opened.item["type"] == "function_call":
                opened.item["status"] = status
            self._finish_call(opened, {}, out)


Handler = Callable[[ResponseStreamTranslator, JsonObject, list[StreamEvent]], None]
T = ResponseStreamTranslator
_HANDLERS: dict[str, Handler] = {
    "thread.run.in_progress": T._on_run_in_progress,
    "thread.run.completed": T._on_run_completed,
    "thread.run.requires_action": T._on_run_completed,
    "thread.run.incomplete": T._on_run_incomplete,
    "thread.run.failed": T._on_run_failed,
    "thread.run.expired": T._on_run_failed,
    "thread.run.cancelled": T._on_run_cancelled,
    "thread.message.created": T._on_message_created,
    "thread.message.delta": T._on_message_delta,
    "thread.message.completed": lambda t, d, o: t._on_message_done(d, o, "completed"),
    "thread.message.incomplete": lambda t, d, o: t._on_message_done(d, o, "incomplete"),
    "thread.run.step.delta": T._on_step_delta,
    "thread.run.step.completed": T._on_step_completed,
    REASONING_DELTA: T._on_reasoning_delta,
    REASONING_DONE: T._on_reasoning_done,
    "error": T._on_error,
}
