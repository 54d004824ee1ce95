"""Chat Completions stream chunks (parsed JSON) turned into ``ChatDelta``s.

Chunks are plain dicts straight from ``orjson``: building the SDK's models for every chunk cost
more CPU than the rest of a run. So the shape is checked here, field by field, as far as the run
engine relies on it; anything else is ignored, as the SDK would."""

from collections.abc import Mapping
from typing import Any

from threadline.ids import tool_call_id
from threadline.providers.llm.base import ChatDelta, ToolCallDelta, Usage


class Malformed(Exception):
    """The upstream sent something that is not a Chat Completions chunk. The message completes
    "The upstream model server (name) …"."""


class ChunkNormalizer:
    """Turns chunks into ``ChatDelta``s. Holds back ``finish_reason`` and ``usage`` for one last
    delta, gives each tool call its ``id``/``name`` once, and rejects shapes that are not Chat
    Completions chunks."""

    def __init__(self) -> None:
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self._call_ids: dict[int, str] = {}
        self._named: set[int] = set()
        self._by_id: dict[str, int] = {}
        self._last_index = -1

    def feed(self, chunk: Any) -> list[ChatDelta]:
        if not isinstance(chunk, dict):
            raise Malformed("sent a chunk without a choices list")
        usage = chunk.get("usage")
        if usage is not None:
            self.usage = _usage(usage) or self.usage
        choices = chunk.get("choices")
        if choices is None and usage is not None:
            return []
        if not isinstance(choices, list):
            raise Malformed("sent a chunk without a choices list")
        deltas = []
        for choice in choices:
            if not isinstance(choice, dict):
                raise Malformed("sent a choice that is not an object")
            if choice.get("index", 0) not in (0, None):
                continue  # only the first choice is ours
            delta = choice.get("delta")
            if delta is not None and not isinstance(delta, dict):
                raise Malformed("sent a delta that is not an object")
            text = delta.get("content") if delta else None
            if text is not None and not isinstance(text, str):
                raise Malformed("sent a non-text content fragment")
            reasoning = _reasoning(delta) if delta else None
            raw_calls = delta.get("tool_calls") if delta else None
            calls = self._tool_calls(raw_calls) if raw_calls else ()
            finish = choice.get("finish_reason")
            if finish is not None:
                if not isinstance(finish, str):
                    raise Malformed("sent a non-text finish_reason")
                self.finish_reason = self.finish_reason or finish
            if text or calls or reasoning:
                deltas.append(
                    ChatDelta(text=text or "", tool_calls=calls, reasoning=reasoning or "")
                )
        return deltas

    def _tool_calls(self, raw: Any) -> tuple[ToolCallDelta, ...]:
        if not isinstance(raw, list):
            raise Malformed("sent tool_calls that are not a list")
        out = []
        for call in raw:
            if not isinstance(call, dict):
                raise Malformed("sent a tool call fragment that is not an object")
            index, call_id = call.get("index"), call.get("id")
            function = call.get("function")
            if function is not None and not isinstance(function, dict):
                raise Malformed("sent a tool call fragment with non-text fields")
            name = function.get("name") if function else None
            arguments = function.get("arguments") if function else None
            if not all(isinstance(v, str | None) for v in (call_id, name, arguments)):
                raise Malformed("sent a tool call fragment with non-text fields")
            if index is None:  # some servers send whole calls without an index
                known = self._by_id.get(call_id) if call_id else self._last_index
                index = known if known is not None else self._last_index + 1
                index = max(index, 0)
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 1024:
                raise Malformed("sent a tool call fragment with a bad index")
            self._last_index = max(self._last_index, index)
            first = index not in self._call_ids
            if first:
                self._call_ids[index] = call_id or tool_call_id()
                self._by_id[self._call_ids[index]] = index
            # The name goes out once, on the first fragment that has one (normally the first).
            if name and index not in self._named:
                self._named.add(index)
            else:
                name = None
            call_id = self._call_ids[index] if first else None
            out.append(ToolCallDelta(index, call_id, name, arguments or ""))
        return tuple(out)

    def last(self) -> ChatDelta | None:
        if self.finish_reason is None:
            return None
        finish = self.finish_reason
        if finish == "function_call" or (finish == "stop" and self._call_ids):
            finish = "tool_calls"
        return ChatDelta(finish_reason=finish, usage=self.usage)


def _reasoning(delta: Mapping[str, object]) -> str | None:
    """The reasoning fragment of a delta: vLLM, DeepSeek and llama.cpp name it
    ``reasoning_content``, Ollama and newer vLLM ``reasoning``. Not text: ignored, as the SDK
    would ignore a field it does not know."""
    value = delta.get("reasoning_content")
    if value is None:
        value = delta.get("reasoning")
    return value if isinstance(value, str) else None


def _usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    prompt = raw.get("prompt_tokens")
    completion = raw.get("completion_tokens")
    valid = all(isinstance(v, int) and not isinstance(v, bool) for v in (prompt, completion))
    if valid and min(prompt, completion) >= 0:
        return Usage(prompt_tokens=prompt, completion_tokens=completion)
    return None
