"""A run's stream events as a response's: ``thread.message.delta``, ``thread.run.step.delta``
and the rest in, the ``response.*`` sequence out, numbered with ``sequence_number``.

Pure: no I/O, no clock. The worker feeds it every event it publishes for a response's run and
stores what comes out (a background response's stream is replayed from the database), so the
same input always gives the same events. The orders are OpenAI's (docs/responses-design.md §d):

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
from dataclasses import dataclass, field
from typing import cast

import orjson

from threadline.ids import creation_key
from threadline.records.jsonvalue import JsonObject
from threadline.records.responses import (
    CodeInterpreterCallItem,
    CodeOutputRecord,
    FileSearchCallItem,
    FileSearchResultRecord,
    FunctionCallItem,
    IncompleteReason,
    ItemStatus,
    MessageItem,
    OutputAnnotation,
    OutputItem,
    OutputTextPart,
    ResponseErrorRecord,
    ResponseRecord,
    ResponseStatus,
)
from threadline.records.runs import RunUsage
from threadline.records.threads import Annotation
from threadline.schemas.item_mapping import output_annotation, usage
from threadline.schemas.response_objects import item_data, response_data
from threadline.schemas.run_objects import StreamEvent

# The codes a response's ``error`` may carry (the SDK's ``ResponseError.code``) that a run's
# ``last_error`` can have; any other is reported as ``server_error``.
_ERROR_CODES = frozenset(
    {"server_error", "rate_limit_exceeded", "invalid_prompt", "vector_store_timeout"}
)
# A run's incomplete reasons as a response's: the completion budget is max_output_tokens.
_INCOMPLETE_REASONS = {"content_filter": "content_filter"}
_ITEM_PREFIX = {"function": "fc_", "file_search": "fs_", "code_interpreter": "ci_"}


def _default_image_url(file_id: str) -> str:
    return f"/v1/files/{file_id}/content"


@dataclass
class _Open:
    """An output item being streamed: its index, and what its ``done`` event needs."""

    index: int
    item: OutputItem
    text: list[str] = field(default_factory=list)  # a message's text so far
    annotations_sent: int = 0
    code_done: bool = False  # a code_interpreter call's code is complete


class ResponseStreamTranslator:
    """Translates one response's run events. ``record`` is the response as created (its status
    ``queued`` for a background response, else ``in_progress``; no output); ``include`` decides
    what ``done`` items show, as for ``GET``; ``container_id`` is the code_interpreter container
    the response's calls run in; ``first_sequence`` continues a numbering (0 for a new stream)."""

    def __init__(
        self,
        record: ResponseRecord,
        *,
        include: frozenset[str] = frozenset(),
        container_id: str | None = None,
        first_sequence: int = 0,
        image_url: Callable[[str], str] = _default_image_url,
    ) -> None:
        self.record: ResponseRecord = {**record, "output": list(record["output"])}
        self._include = include
        self._container_id = container_id or ""
        self._sequence = first_sequence
        self._image_url = image_url
        self._items: list[OutputItem] = list(record["output"])
        self._open: dict[str, _Open] = {}  # by message id, or by "step id:call index"
        self._filenames: dict[str, str] = {}  # file id -> name, from this response's searches
        self._in_progress_sent = False
        self._latest = record["created_at"]  # the latest timestamp the run's events carried
        self.finished = False

    @property
    def next_sequence(self) -> int:
        return self._sequence

    @property
    def items(self) -> list[OutputItem]:
        """The output items so far, open ones included (in their current state)."""
        return list(self._items)

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

    # -- messages --------------------------------------------------------------------------

    def _on_message_created(self, data: JsonObject, out: list[StreamEvent]) -> None:
        if data.get("role") != "assistant":
            return
        item: MessageItem = {
            "id": str(data["id"]),
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        opened = self._add(str(data["id"]), item, out)
        part = _text_part("", [])
        item["content"].append(part)
        out.append(
            self._event(
                "response.content_part.added",
                {**self._where(opened), "content_index": 0, "part": dict(part)},
            )
        )

    def _on_message_delta(self, data: JsonObject, out: list[StreamEvent]) -> None:
        opened = self._open.get(str(data["id"]))
        delta = data.get("delta")
        if opened is None or not isinstance(delta, dict):
            return
        for entry in cast(list[JsonObject], delta.get("content") or []):
            text = entry.get("text")
            if entry.get("type") != "text" or entry.get("index") != 0 or not isinstance(text, dict):
                continue  # an image part a code_interpreter call drew: its call shows it
            value = text.get("value")
            if isinstance(value, str) and value:
                opened.text.append(value)
                out.append(
                    self._event(
                        "response.output_text.delta",
                        {**self._where(opened), "content_index": 0, "delta": value, "logprobs": []},
                    )
                )
            annotations = cast(list[Annotation], text.get("annotations") or [])
            self._annotations_added(opened, annotations, out)

    def _on_message_done(
        self, data: JsonObject, out: list[StreamEvent], status: ItemStatus
    ) -> None:
        opened = self._open.pop(str(data["id"]), None)
        if opened is None:
            return
        text, annotations = "".join(opened.text), []
        for part in cast(list[JsonObject], data.get("content") or []):
            if part.get("type") == "text":
                body = cast(JsonObject, part["text"])
                text = str(body["value"])
                annotations = cast(list[Annotation], body.get("annotations") or [])
                break
        self._finish_message(opened, text, annotations, status, out)

    def _finish_message(
        self,
        opened: _Open,
        text: str,
        annotations: list[Annotation],
        status: ItemStatus,
        out: list[StreamEvent],
    ) -> None:
        self._annotations_added(opened, annotations, out)
        part_done = _text_part(text, self._converted(annotations))
        where = {**self._where(opened), "content_index": 0}
        out.append(
            self._event("response.output_text.done", {**where, "text": text, "logprobs": []})
        )
        out.append(self._event("response.content_part.done", {**where, "part": dict(part_done)}))
        item = cast(MessageItem, opened.item)
        item["content"] = [part_done]
        item["status"] = status
        self._done(opened, out)

    def _annotations_added(
        self, opened: _Open, annotations: list[Annotation], out: list[StreamEvent]
    ) -> None:
        """``annotation.added`` for each annotation not told yet (they come after the text)."""
        converted = self._converted(annotations)
        for number in range(opened.annotations_sent, len(converted)):
            out.append(
                self._event(
                    "response.output_text.annotation.added",
                    {
                        **self._where(opened),
                        "content_index": 0,
                        "annotation_index": number,
                        "annotation": dict(converted[number]),
                    },
                )
            )
        opened.annotations_sent = max(opened.annotations_sent, len(converted))

    def _converted(self, annotations: list[Annotation]) -> list[OutputAnnotation]:
        out: list[OutputAnnotation] = []
        for annotation in annotations:
            plain = cast(Annotation, {k: v for k, v in annotation.items() if k != "index"})
            converted = output_annotation(plain, self._filenames, self._container_id or None)
            if converted is not None:
                out.append(converted)
        return out

    # -- tool calls ------------------------------------------------------------------------

    def _on_step_delta(self, data: JsonObject, out: list[StreamEvent]) -> None:
        delta = data.get("delta")
        details = delta.get("step_details") if isinstance(delta, dict) else None
        if not isinstance(details, dict):
            return
        for entry in cast(list[JsonObject], details.get("tool_calls") or []):
            key = f"{data['id']}:{entry['index']}"
            opened = self._open.get(key)
            if opened is None:
                if "id" not in entry:
                    continue
                opened = self._open_call(key, entry, out)
            self._call_fragment(opened, entry, out)

    def _open_call(self, key: str, entry: JsonObject, out: list[StreamEvent]) -> _Open:
        kind, call_id = str(entry["type"]), str(entry["id"])
        item_id = _ITEM_PREFIX[kind] + creation_key(call_id)
        if kind == "function":
            function = cast(JsonObject, entry.get("function") or {})
            call: FunctionCallItem = {
                "id": item_id,
                "type": "function_call",
                "call_id": call_id,
                "name": str(function.get("name") or ""),
                "arguments": "",
                "status": "in_progress",
            }
            return self._add(key, call, out)
        if kind == "file_search":
            search: FileSearchCallItem = {
                "id": item_id,
                "type": "file_search_call",
                "status": "in_progress",
                "queries": [],
                "results": None,
            }
            opened = self._add(key, search, out)
            out.append(self._event("response.file_search_call.in_progress", self._where(opened)))
            search["status"] = "searching"
            out.append(self._event("response.file_search_call.searching", self._where(opened)))
            return opened
        code: CodeInterpreterCallItem = {
            "id": item_id,
            "type": "code_interpreter_call",
            "status": "in_progress",
            "container_id": self._container_id,
            "code": "",
            "outputs": None,
        }
        opened = self._add(key, code, out)
        out.append(self._event("response.code_interpreter_call.in_progress", self._where(opened)))
        return opened

    def _call_fragment(self, opened: _Open, entry: JsonObject, out: list[StreamEvent]) -> None:
        item = opened.item
        if item["type"] == "function_call":
            function = cast(JsonObject, entry.get("function") or {})
            fragment = function.get("arguments")
            if isinstance(fragment, str) and fragment:
                item["arguments"] += fragment
                out.append(
                    self._event(
                        "response.function_call_arguments.delta",
                        {**self._where(opened), "delta": fragment},
                    )
                )
        elif item["type"] == "file_search_call":
            search = cast(JsonObject, entry.get("file_search") or {})
            queries = search.get("queries")
            if isinstance(queries, list):
                item["queries"] = [str(query) for query in queries]
        elif item["type"] == "code_interpreter_call":
            details = cast(JsonObject, entry.get("code_interpreter") or {})
            fragment = details.get("input")
            if isinstance(fragment, str) and fragment and not opened.code_done:
                item["code"] = (item["code"] or "") + fragment
                out.append(
                    self._event(
                        "response.code_interpreter_call_code.delta",
                        {**self._where(opened), "delta": fragment},
                    )
                )
            if details.get("outputs"):
                self._code_done(opened, out)

    def _code_done(self, opened: _Open, out: list[StreamEvent]) -> None:
        """The code is complete: it is told, and the call runs (``interpreting``)."""
        if opened.code_done:
            return
        opened.code_done = True
        item = cast(CodeInterpreterCallItem, opened.item)
        code = item["code"] or ""
        out.append(
            self._event(
                "response.code_interpreter_call_code.done", {**self._where(opened), "code": code}
            )
        )
        item["status"] = "interpreting"
        out.append(self._event("response.code_interpreter_call.interpreting", self._where(opened)))

    def _on_step_completed(self, data: JsonObject, out: list[StreamEvent]) -> None:
        details = data.get("step_details")
        if not isinstance(details, dict) or details.get("type") != "tool_calls":
            return
        calls = cast(list[JsonObject], details.get("tool_calls") or [])
        for position, call in enumerate(calls):
            opened = self._open.pop(f"{data['id']}:{position}", None)
            if opened is not None:
                self._finish_call(opened, call, out)

    def _on_required_calls(self, data: JsonObject, out: list[StreamEvent]) -> None:
        """Function calls the run waits on (``requires_action``): complete, as their step will
        not be before the response ends."""
        required = data.get("required_action")
        if not isinstance(required, dict):
            return
        submit = cast(JsonObject, required.get("submit_tool_outputs") or {})
        by_call = {
            str(call["id"]): call for call in cast(list[JsonObject], submit.get("tool_calls") or [])
        }
        for key, opened in list(self._open.items()):
            item = opened.item
            if item["type"] == "function_call" and item["call_id"] in by_call:
                del self._open[key]
                self._finish_call(opened, by_call[item["call_id"]], out)

    def _finish_call(self, opened: _Open, call: JsonObject, out: list[StreamEvent]) -> None:
        item = opened.item
        where = self._where(opened)
        if item["type"] == "function_call":
            function = cast(JsonObject, call.get("function") or {})
            item["arguments"] = str(function.get("arguments", item["arguments"]))
            item["name"] = str(function.get("name") or item["name"])
            item["status"] = "completed"
            out.append(
                self._event(
                    "response.function_call_arguments.done",
                    {**where, "name": item["name"], "arguments": item["arguments"]},
                )
            )
        elif item["type"] == "file_search_call":
            search = cast(JsonObject, call.get("file_search") or {})
            queries = search.get("queries")
            if isinstance(queries, list):
                item["queries"] = [str(query) for query in queries]
            item["results"] = self._results(cast(list[JsonObject], search.get("results") or []))
            item["status"] = "completed"
            out.append(self._event("response.file_search_call.completed", where))
        elif item["type"] == "code_interpreter_call":
            details = cast(JsonObject, call.get("code_interpreter") or {})
            if isinstance(details.get("input"), str) and details["input"]:
                item["code"] = str(details["input"])
            self._code_done(opened, out)
            item["outputs"] = self._outputs(cast(list[JsonObject], details.get("outputs") or []))
            item["status"] = "completed"
            out.append(self._event("response.code_interpreter_call.completed", where))
        self._done(opened, out)

    def _results(self, results: list[JsonObject]) -> list[FileSearchResultRecord]:
        converted: list[FileSearchResultRecord] = []
        for result in results:
            file_id, name = str(result["file_id"]), str(result.get("file_name") or "")
            self._filenames[file_id] = name
            content = cast(list[JsonObject], result.get("content") or [])
            converted.append(
                {
                    "file_id": file_id,
                    "filename": name,
                    "score": float(cast(float, result.get("score") or 0.0)),
                    "text": "".join(str(part.get("text") or "") for part in content),
                    "attributes": {},
                }
            )
        return converted

    def _outputs(self, outputs: list[JsonObject]) -> list[CodeOutputRecord]:
        converted: list[CodeOutputRecord] = []
        for output in outputs:
            if output.get("type") == "logs":
                converted.append({"type": "logs", "logs": str(output.get("logs") or "")})
            elif output.get("type") == "image":
                image = cast(JsonObject, output.get("image") or {})
                converted.append(
                    {"type": "image", "url": self._image_url(str(image.get("file_id")))}
                )
        return converted

    # -- items -----------------------------------------------------------------------------

    def _add(self, key: str, item: OutputItem, out: list[StreamEvent]) -> _Open:
        opened = _Open(index=len(self._items), item=item)
        self._items.append(item)
        self._open[key] = opened
        out.append(
            self._event(
                "response.output_item.added",
                {"output_index": opened.index, "item": item_data(item, self._include)},
            )
        )
        return opened

    def _done(self, opened: _Open, out: list[StreamEvent]) -> None:
        out.append(
            self._event(
                "response.output_item.done",
                {"output_index": opened.index, "item": item_data(opened.item, self._include)},
            )
        )

    def _close_all(self, status: ItemStatus, out: list[StreamEvent]) -> None:
        """Items still open when the run ends (a message cut at its token limit) are done with
        ``status``: the SDK completes no response with unfinished items."""
        for key in list(self._open):
            opened = self._open.pop(key)
            if opened.item["type"] == "message":
                self._finish_message(opened, "".join(opened.text), [], status, out)
                continue
            if opened.item["type"] == "function_call":
                opened.item["status"] = status
            self._finish_call(opened, {}, out)

    @staticmethod
    def _where(opened: _Open) -> JsonObject:
        return {"item_id": opened.item["id"], "output_index": opened.index}

    def _event(self, kind: str, fields: JsonObject) -> StreamEvent:
        payload = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return StreamEvent(kind, orjson.dumps(payload))


def _text_part(text: str, annotations: list[OutputAnnotation]) -> OutputTextPart:
    return {"type": "output_text", "text": text, "annotations": annotations, "logprobs": []}


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
    "error": T._on_error,
}
