"""A response's reasoning items from a run's reasoning events (engine.turn_reasoning):
``output_item.added`` → ``content_part.added`` (``reasoning_text``) →
``reasoning_text.delta``… → ``reasoning_text.done`` → ``content_part.done`` →
``output_item.done``."""

from threadline.engine.response_stream_state import OpenItem, StreamState
from threadline.records.items import ItemRow
from threadline.records.jsonvalue import JsonObject
from threadline.records.responses import ItemStatus, ReasoningItem
from threadline.schemas.run_objects import StreamEvent

# The run bus's events for reasoning (not Assistants events: only a response's run has them).
REASONING_DELTA = "threadline.reasoning.delta"  # {"id": "rs_…", "delta": "…"}
REASONING_DONE = "threadline.reasoning.done"  # {"id": "rs_…", "text": "…"}


class ReasoningEvents(StreamState):
    def _on_reasoning_delta(self, data: JsonObject, out: list[StreamEvent]) -> None:
        key, delta = str(data["id"]), data.get("delta")
        opened = self._open.get(key)
        if opened is None:
            item: ReasoningItem = {
                "id": key,
                "type": "reasoning",
                "summary": [],
                "content": [],
                "encrypted_content": None,
                "status": "in_progress",
            }
            opened = self._add(key, item, out)
            out.append(
                self._event(
                    "response.content_part.added",
                    {**self._where(opened), "content_index": 0, "part": _part("")},
                )
            )
        if isinstance(delta, str) and delta:
            opened.text.append(delta)
            out.append(
                self._event(
                    "response.reasoning_text.delta",
                    {**self._where(opened), "content_index": 0, "delta": delta},
                )
            )

    def _on_reasoning_done(self, data: JsonObject, out: list[StreamEvent]) -> None:
        opened = self._open.pop(str(data["id"]), None)
        if opened is not None:
            text = data.get("text")
            self._finish_reasoning(opened, text if isinstance(text, str) else "", "completed", out)

    def _finish_reasoning(
        self, opened: OpenItem, text: str, status: ItemStatus, out: list[StreamEvent]
    ) -> None:
        where = {**self._where(opened), "content_index": 0}
        out.append(self._event("response.reasoning_text.done", {**where, "text": text}))
        out.append(self._event("response.content_part.done", {**where, "part": _part(text)}))
        item = opened.item
        assert item["type"] == "reasoning"
        item["content"] = [{"type": "reasoning_text", "text": text}]
        item["status"] = status
        self._done(opened, out)


def _part(text: str) -> JsonObject:
    return {"type": "reasoning_text", "text": text}


def reasoning_events(row: ItemRow) -> list[tuple[str, JsonObject]]:
    """The run events that told a stored reasoning item (for a response read back)."""
    body = row["body"]
    parts = body.get("content") if body["type"] == "reasoning" else None
    text = "".join(part["text"] for part in parts or [])
    return [
        (REASONING_DELTA, {"id": row["id"], "delta": text}),
        (REASONING_DONE, {"id": row["id"], "text": text}),
    ]
