"""A Chat Completions stream as Anthropic's Messages stream: chunks (parsed JSON) in, events
out, one translator per answer.

The order is Anthropic's: ``message_start`` (with an estimate of the input tokens: the real
count comes with the last chunk) and a ``ping``; then each content block in index order,
``content_block_start``, its deltas, ``content_block_stop``; then ``message_delta`` (stop
reason, the final usage) and ``message_stop``. Text fragments become ``text_delta``s of a text
block; each tool call (keyed on its Chat Completions index) becomes a ``tool_use`` block whose
arguments stream as ``input_json_delta``s. Blocks must follow one another, so a fragment of
another block than the open one is held back until the open one is over: a text block is over
as soon as something else arrives, a tool call once its arguments form a JSON object (a
server interleaving calls thus still gives whole blocks, one after the other). A stream that
ends without a finish reason is not an answer: ``finish`` raises ``Malformed``."""

from dataclasses import dataclass, field
from typing import Literal

import orjson

from threadline.providers.llm.chunks import ChunkNormalizer, Malformed
from threadline.providers.llm.messages_answer import (
    ToolIds,
    prompt_tokens,
    stop_reason,
    usage_of,
)
from threadline.records.anthropic import AnswerBlock, BlockDelta, Message, StreamEvent, Usage

TEXT = "text"
_PING: StreamEvent = {"type": "ping"}


@dataclass(slots=True)
class _Block:
    """Where one content block's fragments come from, and what is held back of it."""

    key: object  # TEXT, or the tool call's index
    kind: Literal["text", "tool_use"]
    call_id: str = ""
    name: str | None = None
    held: list[str] = field(default_factory=list)  # fragments not sent yet
    arguments: str = ""  # a tool call's arguments so far
    index: int = -1  # its place in the content, once started


class StreamTranslator:
    def __init__(
        self, *, message_id: str, model: str, estimated_input: int, stop_sequences: object
    ) -> None:
        self.message_id = message_id
        self.model = model
        self.estimated_input = estimated_input
        self.stop_sequences = stop_sequences
        self.upstream_usage: Usage | None = None  # the usage the upstream reported, if it did
        self._chunks = ChunkNormalizer()
        self._tool_ids = ToolIds()
        self._calls: dict[int, _Block] = {}
        self._open: _Block | None = None
        self._waiting: dict[object, _Block] = {}  # held back, in arrival order
        self._next_index = 0
        self._matched: object = None  # the stop sequence that fired, when the server says (vLLM)
        self._output_chars = 0

    def start(self) -> list[StreamEvent]:
        usage: Usage = {
            "input_tokens": self.estimated_input,
            "output_tokens": 1,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }
        message: Message = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        return [{"type": "message_start", "message": message}, _PING]

    def feed(self, chunk: object) -> list[StreamEvent]:
        """The events of one chunk; raises ``Malformed`` for what is not a chunk."""
        if isinstance(chunk, dict):
            if "error" in chunk and "choices" not in chunk:
                raise Malformed("reported an error in the middle of the answer")
            usage = usage_of(chunk.get("usage"))
            if usage is not None:
                self.upstream_usage = usage
            choices = chunk.get("choices")
            if choices and isinstance(choices[0], dict) and choices[0].get("stop_reason"):
                self._matched = choices[0]["stop_reason"]
        events: list[StreamEvent] = []
        for delta in self._chunks.feed(chunk):
            if delta.text:
                self._output_chars += len(delta.text)
                self._fragment(events, TEXT, delta.text)
            for call in delta.tool_calls:
                self._output_chars += len(call.arguments)
                block = self._calls.get(call.index)
                if block is None:
                    block = self._calls[call.index] = _Block(
                        call.index, "tool_use", self._tool_ids(call.id)
                    )
                block.name = block.name or call.name
                block.arguments += call.arguments
                self._fragment(events, call.index, call.arguments, block)
        return events

    def finish(self) -> list[StreamEvent]:
        """The events that end the answer: the open and held-back blocks, the stop reason and
        the final usage."""
        last = self._chunks.last()
        if last is None:
            raise Malformed("ended the answer without a finish reason")
        events: list[StreamEvent] = []
        self._close(events)
        for block in list(self._waiting.values()):
            self._begin(events, block)
            self._close(events)
        self._waiting.clear()
        reason, sequence = stop_reason(last.finish_reason, self._matched, self.stop_sequences)
        usage = self.upstream_usage or {
            "input_tokens": self.estimated_input,
            "output_tokens": max(1, self._output_chars // 4),
        }
        events.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": reason, "stop_sequence": sequence},
                "usage": {
                    "output_tokens": usage["output_tokens"],
                    "input_tokens": usage["input_tokens"],
                    "cache_creation_input_tokens": usage.get("cache_creation_input_tokens") or 0,
                    "cache_read_input_tokens": usage.get("cache_read_input_tokens") or 0,
                },
            }
        )
        events.append({"type": "message_stop"})
        return events

    def metered_usage(self) -> tuple[int, int] | None:
        """(prompt, completion) tokens as the upstream reported them, for the gateway."""
        usage = self.upstream_usage
        return (prompt_tokens(usage), usage["output_tokens"]) if usage is not None else None

    # -- blocks ----------------------------------------------------------------------------

    def _fragment(
        self, events: list[StreamEvent], key: object, piece: str, block: _Block | None = None
    ) -> None:
        current = self._open
        if current is not None and current.key == key:
            if piece:
                events.append(self._delta(current, piece))
            return
        if block is None:  # text: a new text block, unless one is held back already
            block = self._waiting.get(key) or _Block(key, "text")
        self._waiting.setdefault(key, block)
        if piece:
            block.held.append(piece)
        self._advance(events)

    def _advance(self, events: list[StreamEvent]) -> None:
        """Start held-back blocks while the open one is over."""
        while self._waiting:
            if self._open is not None and not _over(self._open):
                return
            following = next(iter(self._waiting.values()))
            if following.kind == "tool_use" and following.name is None:
                return  # its start needs the name, still to come
            self._close(events)
            del self._waiting[following.key]
            self._begin(events, following)

    def _begin(self, events: list[StreamEvent], block: _Block) -> None:
        block.index = self._next_index
        self._next_index += 1
        self._open = block
        start: AnswerBlock
        if block.kind == "text":
            start = {"type": "text", "text": ""}
        else:
            start = {"type": "tool_use", "id": block.call_id, "name": block.name or "", "input": {}}
        events.append({"type": "content_block_start", "index": block.index, "content_block": start})
        for piece in block.held:
            events.append(self._delta(block, piece))
        block.held.clear()

    def _close(self, events: list[StreamEvent]) -> None:
        if self._open is not None:
            events.append({"type": "content_block_stop", "index": self._open.index})
            self._open = None

    @staticmethod
    def _delta(block: _Block, piece: str) -> StreamEvent:
        delta: BlockDelta
        if block.kind == "text":
            delta = {"type": "text_delta", "text": piece}
        else:
            delta = {"type": "input_json_delta", "partial_json": piece}
        return {"type": "content_block_delta", "index": block.index, "delta": delta}


def _over(block: _Block) -> bool:
    """Whether nothing more can come for the open block (see the module's rules)."""
    if block.kind == "text":
        return True
    try:
        return isinstance(orjson.loads(block.arguments), dict)
    except orjson.JSONDecodeError:
        return False


def encode_events(events: list[StreamEvent]) -> bytes:
    """``event: <type>`` and ``data: <json>`` lines and a blank line, per event."""
    return b"".join(
        b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"
        for event in events
    )
