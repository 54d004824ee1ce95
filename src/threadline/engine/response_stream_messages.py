"""A response's message items from a run's ``thread.message.*`` events: ``output_item.added``
→ ``content_part.added`` → ``output_text.delta``… → ``output_text.annotation.added``… →
``output_text.done`` → ``content_part.done`` → ``output_item.done``."""

from typing import cast

from threadline.engine.response_stream_state import OpenItem, StreamState, text_part
from threadline.records.jsonvalue import JsonObject
from threadline.records.responses import (
    ItemStatus,
    MessageItem,
    OutputAnnotation,
)
from threadline.records.threads import Annotation
from threadline.schemas.item_mapping import output_annotation
from threadline.schemas.run_objects import StreamEvent


class MessageEvents(StreamState):
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
        part = text_part("", [])
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
        opened: OpenItem,
        text: str,
        annotations: list[Annotation],
        status: ItemStatus,
        out: list[StreamEvent],
    ) -> None:
        self._annotations_added(opened, annotations, out)
        part_done = text_part(text, self._converted(annotations))
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
        self, opened: OpenItem, annotations: list[Annotation], out: list[StreamEvent]
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
