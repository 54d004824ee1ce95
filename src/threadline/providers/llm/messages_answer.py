"""A Chat Completions answer as an Anthropic ``Message`` (pure functions), and what the stream
translator shares with it: stop reasons, usage, tool-call ids.

The message gets its own ``msg_`` id and the model name the client asked for (never the
upstream's ``chatcmpl-`` id or model id). Its content is the text (left out when empty), then
one ``tool_use`` block per tool call, whose arguments must be a JSON object. Tool-call ids are
made safe for Anthropic (``[A-Za-z0-9_-]``, the pattern it checks when a client sends them back)
the same way every time, so a conversation's ids stay stable; a missing one is made up."""

import re

import orjson

from threadline import ids
from threadline.providers.llm.chunks import Malformed
from threadline.records.anthropic import (
    AnswerBlock,
    Message,
    StopReason,
    ToolUseBlock,
    Usage,
)
from threadline.records.jsonvalue import JsonObject

_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_STOP_REASONS: dict[str, StopReason] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


class ToolIds:
    """Upstream tool-call ids → ids Anthropic accepts, one answer at a time: stable (the same
    text gives the same id), and two ids that clean up alike are told apart."""

    def __init__(self) -> None:
        self._given: dict[str, str] = {}
        self._taken: set[str] = set()

    def __call__(self, upstream_id: str | None) -> str:
        if not upstream_id:
            return ids.new_id("toolu_")
        known = self._given.get(upstream_id)
        if known is not None:
            return known
        safe = _UNSAFE_ID_CHARS.sub("_", upstream_id)
        if safe in self._taken:
            safe = f"{safe}_{len(self._taken)}"
        self._given[upstream_id] = safe
        self._taken.add(safe)
        return safe


def stop_reason(
    finish_reason: str | None, matched: object, stop_sequences: object
) -> tuple[StopReason, str | None]:
    """The stop reason and sequence of a finish reason. ``matched``: what some servers (vLLM)
    report as the choice's ``stop_reason``; a stop sequence is named only when it is known to
    be the one that fired."""
    if (
        finish_reason == "stop"
        and isinstance(matched, str)
        and isinstance(stop_sequences, list)
        and matched in stop_sequences
    ):
        return "stop_sequence", matched
    return _STOP_REASONS.get(finish_reason or "stop", "end_turn"), None


def usage_of(raw: object) -> Usage | None:
    """A Chat Completions ``usage`` object as Anthropic's: the cached part of the prompt is
    ``cache_read_input_tokens``, the rest ``input_tokens``."""
    if not isinstance(raw, dict):
        return None
    prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    details = raw.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    cached = cached if isinstance(cached, int) and 0 <= cached <= prompt else 0
    return {
        "input_tokens": prompt - cached,
        "output_tokens": completion,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def prompt_tokens(usage: Usage) -> int:
    """The whole prompt of an Anthropic usage (what the gateway meters as input)."""
    return (
        usage["input_tokens"]
        + (usage.get("cache_creation_input_tokens") or 0)
        + (usage.get("cache_read_input_tokens") or 0)
    )


def tool_input(arguments: object) -> JsonObject:
    """A tool call's arguments as the ``input`` object; empty arguments are ``{}``."""
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    if isinstance(arguments, dict):
        return arguments
    try:
        parsed = orjson.loads(arguments) if isinstance(arguments, str) else None
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise Malformed("sent tool call arguments that are not a JSON object")
    return parsed


def message_from_completion(
    completion: object, *, model: str, stop_sequences: object, estimated_input: int
) -> Message:
    """The ``Message`` of a whole ``chat.completion`` object. Raises ``Malformed`` when it is
    not one."""
    if not isinstance(completion, dict):
        raise Malformed("sent an answer without choices")
    choices = completion.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise Malformed("sent an answer without choices")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise Malformed("sent a choice without a message")
    content: list[AnswerBlock] = []
    text = _text_of(message.get("content"))
    if text:
        content.append({"type": "text", "text": text})
    tool_ids = ToolIds()
    calls = message.get("tool_calls") or []
    if not isinstance(calls, list):
        raise Malformed("sent tool_calls that are not a list")
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            raise Malformed("sent a tool call without a function")
        block: ToolUseBlock = {
            "type": "tool_use",
            "id": tool_ids(call.get("id")),
            "name": str(function.get("name") or ""),
            "input": tool_input(function.get("arguments")),
        }
        content.append(block)
    finish = choice.get("finish_reason")
    if calls and finish in (None, "stop"):
        finish = "tool_calls"
    reason, sequence = stop_reason(finish, choice.get("stop_reason"), stop_sequences)
    usage = usage_of(completion.get("usage")) or {
        "input_tokens": estimated_input,
        "output_tokens": 0,
    }
    return {
        "id": ids.message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": usage,
    }


def _text_of(content: object) -> str:
    """A message's content: a string, or (some servers) a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""
