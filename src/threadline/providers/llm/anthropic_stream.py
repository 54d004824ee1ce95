"""Anthropic's stream events read as a Chat Completions turn: pure and incremental, for the run
engine's provider (``ChatDelta``s) and the gateway's translated pass-through (which writes the
same deltas as ``chat.completion.chunk``s, ``anthropic_completions``).

Events arrive as the Messages API sends them (``message_start``, per block ``content_block_start``
/ ``_delta`` / ``_stop``, ``message_delta``, ``message_stop``, ``ping`` anywhere, ``error``).
Text deltas become text, thinking deltas reasoning, each ``tool_use`` block one tool call (its
position among the turn's calls is its index; its ``input_json_delta``s its arguments, ``{}``
for a call without input), and ``message_delta`` the finish reason and usage, given out once at
the end (``last``). An ``error`` event is raised as ``InBandError``; a shape the engine cannot
rely on as ``Malformed``; unknown events and block types are skipped, as Anthropic's SDK does."""

from dataclasses import dataclass

import orjson

from threadline.providers.llm.base import ChatDelta, ToolCallDelta, Usage
from threadline.providers.llm.chunks import Malformed
from threadline.providers.llm.completion_types import CompletionUsage
from threadline.providers.llm.status import InBandError
from threadline.records.jsonvalue import JsonObject

# stop_reason -> finish_reason. A refusal is OpenAI's content filter; a pause (server tools,
# which are never sent) ends the turn as it is.
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: str | None, has_tool_calls: bool) -> str:
    finish = FINISH_REASONS.get(stop_reason or "", "stop")
    return "tool_calls" if finish == "stop" and has_tool_calls else finish


@dataclass(slots=True)
class TokenUsage:
    """Anthropic's usage: ``input_tokens`` excludes the cached prompt, which is counted apart."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0

    def update(self, raw: object) -> None:
        """Takes every count ``raw`` carries (later counts are cumulative: they replace)."""
        if not isinstance(raw, dict):
            return
        for name in self.__slots__:
            value = raw.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                setattr(self, name, value)

    @property
    def prompt_tokens(self) -> int:
        """The whole prompt, as OpenAI counts it (cached tokens included)."""
        return self.input_tokens + self.cache_read_input_tokens + self.cache_creation_input_tokens

    def chat_usage(self) -> Usage:
        return Usage(prompt_tokens=self.prompt_tokens, completion_tokens=self.output_tokens)

    def openai(self) -> CompletionUsage:
        """As a chat completion's ``usage``, the cache reads as ``cached_tokens``."""
        prompt = self.prompt_tokens
        return {
            "prompt_tokens": prompt,
            "completion_tokens": self.output_tokens,
            "total_tokens": prompt + self.output_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cache_read_input_tokens},
        }


@dataclass(slots=True)
class _Block:
    kind: str  # "text", "thinking", "tool_use", or another type (skipped)
    call: int = -1  # tool_use: its index among the turn's calls
    has_input: bool = False


class AnthropicTurn:
    """Feed it events (parsed JSON); it returns the deltas each one makes."""

    __slots__ = ("_blocks", "_calls", "ended", "message_id", "started", "stop_reason", "usage")

    def __init__(self) -> None:
        self.usage = TokenUsage()
        self.stop_reason: str | None = None
        self.message_id = ""
        self.started = False  # message_start seen
        self.ended = False  # message_stop seen: nothing more is due
        self._blocks: dict[int, _Block] = {}
        self._calls = 0

    @property
    def has_tool_calls(self) -> bool:
        return self._calls > 0

    def feed(self, event: object) -> list[ChatDelta]:
        """``event``: one event's data, parsed (a ``records.anthropic.StreamEvent`` unless the
        upstream is broken)."""
        if not isinstance(event, dict):
            raise Malformed("sent an event that is not an object")
        kind = event.get("type")
        if kind == "content_block_delta":
            return self._delta(event)
        if kind == "content_block_start":
            return self._start(event)
        if kind == "content_block_stop":
            return self._stop(event)
        if kind == "message_start":
            message = event.get("message")
            if not isinstance(message, dict):
                raise Malformed("sent a message_start without its message")
            self.started = True
            self.message_id = str(message.get("id") or "")
            self.usage.update(message.get("usage"))
        elif kind == "message_delta":
            delta = event.get("delta")
            reason = delta.get("stop_reason") if isinstance(delta, dict) else None
            if isinstance(reason, str):
                self.stop_reason = reason
            self.usage.update(event.get("usage"))
        elif kind == "message_stop":
            self.ended = True
        elif kind == "error":
            raise InBandError(event.get("error"))
        return []  # ping, and events this version does not know

    def last(self) -> ChatDelta | None:
        """The finish reason and usage; None while no ``message_delta`` said how it ended."""
        if self.stop_reason is None:
            return None
        finish = finish_reason(self.stop_reason, self.has_tool_calls)
        return ChatDelta(finish_reason=finish, usage=self.usage.chat_usage())

    def _start(self, event: JsonObject) -> list[ChatDelta]:
        index, block = event.get("index"), event.get("content_block")
        if not isinstance(index, int) or not isinstance(block, dict):
            raise Malformed("sent a content_block_start without its index or block")
        kind = str(block.get("type"))
        state = self._blocks[index] = _Block(kind)
        if kind == "text":
            text = block.get("text")
            return [ChatDelta(text=text)] if isinstance(text, str) and text else []
        if kind == "thinking":
            thinking = block.get("thinking")
            return [ChatDelta(reasoning=thinking)] if isinstance(thinking, str) and thinking else []
        if kind != "tool_use":
            return []
        call_id, name = block.get("id"), block.get("name")
        if not isinstance(call_id, str) or not call_id or not isinstance(name, str):
            raise Malformed("sent a tool_use block without its id or name")
        state.call, self._calls = self._calls, self._calls + 1
        arguments = ""
        start_input = block.get("input")
        if isinstance(start_input, dict) and start_input:  # given whole, not streamed
            arguments = orjson.dumps(start_input).decode()
            state.has_input = True
        return [ChatDelta(tool_calls=(ToolCallDelta(state.call, call_id, name, arguments),))]

    def _delta(self, event: JsonObject) -> list[ChatDelta]:
        block = self._blocks.get(event.get("index"))  # type: ignore[arg-type]
        delta = event.get("delta")
        if block is None or not isinstance(delta, dict):
            raise Malformed("sent a content_block_delta for a block it never started")
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            if not isinstance(text, str):
                raise Malformed("sent a text_delta without text")
            return [ChatDelta(text=text)] if text else []
        if kind == "input_json_delta":
            partial = delta.get("partial_json")
            if not isinstance(partial, str) or block.kind != "tool_use":
                raise Malformed("sent an input_json_delta outside a tool_use block")
            if not partial:
                return []
            block.has_input = True
            return [ChatDelta(tool_calls=(ToolCallDelta(block.call, arguments=partial),))]
        thinking = delta.get("thinking") if kind == "thinking_delta" else None
        if isinstance(thinking, str):
            return [ChatDelta(reasoning=thinking)] if thinking else []
        return []  # signature_delta, citations_delta: nothing OpenAI's shape carries

    def _stop(self, event: JsonObject) -> list[ChatDelta]:
        block = self._blocks.get(event.get("index"))  # type: ignore[arg-type]
        if block is None or block.kind != "tool_use" or block.has_input:
            return []
        block.has_input = True  # a call without input: its arguments are an empty object
        return [ChatDelta(tool_calls=(ToolCallDelta(block.call, arguments="{}"),))]
