"""The state a response's stream is translated with (``engine.response_stream``): its output
items, those still open, and the numbering of its events. The kinds of run events are handled
by the mixins built on it: messages (``response_stream_messages``) and tool calls
(``response_stream_calls``)."""

from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from threadline.records.jsonvalue import JsonObject
from threadline.records.responses import (
    OutputAnnotation,
    OutputItem,
    OutputTextPart,
    ResponseRecord,
)
from threadline.schemas.response_objects import item_data
from threadline.schemas.run_objects import StreamEvent


def _default_image_url(file_id: str) -> str:
    return f"/v1/files/{file_id}/content"


@dataclass
class OpenItem:
    """An output item being streamed: its index, and what its ``done`` event needs."""

    index: int
    item: OutputItem
    text: list[str] = field(default_factory=list)  # a message's text so far
    annotations_sent: int = 0
    code_done: bool = False  # a code_interpreter call's code is complete


class StreamState:
    """One response's stream being translated. ``record`` is the response as created (its status
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
        self._open: dict[str, OpenItem] = {}  # by message id, or by "step id:call index"
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

    def _add(self, key: str, item: OutputItem, out: list[StreamEvent]) -> OpenItem:
        opened = OpenItem(index=len(self._items), item=item)
        self._items.append(item)
        self._open[key] = opened
        out.append(
            self._event(
                "response.output_item.added",
                {"output_index": opened.index, "item": item_data(item, self._include)},
            )
        )
        return opened

    def _done(self, opened: OpenItem, out: list[StreamEvent]) -> None:
        out.append(
            self._event(
                "response.output_item.done",
                {"output_index": opened.index, "item": item_data(opened.item, self._include)},
            )
        )

    @staticmethod
    def _where(opened: OpenItem) -> JsonObject:
        return {"item_id": opened.item["id"], "output_index": opened.index}

    def _event(self, kind: str, fields: JsonObject) -> StreamEvent:
        payload = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return StreamEvent(kind, orjson.dumps(payload))


def text_part(text: str, annotations: list[OutputAnnotation]) -> OutputTextPart:
    return {"type": "output_text", "text": text, "annotations": annotations, "logprobs": []}
