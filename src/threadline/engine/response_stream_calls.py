"""A response's tool call items from a run's step events: a function call (``output_item.added``
→ ``function_call_arguments.delta``… → ``.done`` → ``output_item.done``), file_search
(``.in_progress`` → ``.searching`` → ``.completed``) and code_interpreter (``.in_progress`` →
``code_interpreter_call_code.delta``… → ``.done`` → ``.interpreting`` → ``.completed``)."""

from typing import cast

from threadline.engine.response_stream_state import OpenItem, StreamState
from threadline.ids import creation_key
from threadline.records.jsonvalue import JsonObject
from threadline.records.responses import (
    CodeInterpreterCallItem,
    CodeOutputRecord,
    FileSearchCallItem,
    FileSearchResultRecord,
    FunctionCallItem,
)
from threadline.schemas.run_objects import StreamEvent

_ITEM_PREFIX = {"function": "fc_", "file_search": "fs_", "code_interpreter": "ci_"}


class ToolCallEvents(StreamState):
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

    def _open_call(self, key: str, entry: JsonObject, out: list[StreamEvent]) -> OpenItem:
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

    def _call_fragment(self, opened: OpenItem, entry: JsonObject, out: list[StreamEvent]) -> None:
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

    def _code_done(self, opened: OpenItem, out: list[StreamEvent]) -> None:
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

    def _finish_call(self, opened: OpenItem, call: JsonObject, out: list[StreamEvent]) -> None:
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
