"""An Anthropic answer written as OpenAI's: a ``Message`` as a ``chat.completion``, and a stream
of Anthropic events (read by ``anthropic_stream.AnthropicTurn``) as ``chat.completion.chunk``
server-sent events ending in ``data: [DONE]``. Pure: the gateway's translated pass-through
feeds it bytes and sends what it returns.

Ids are the completion's own (``chatcmpl-…``), ``model`` is the name the client asked for, the
usage counts the cached prompt in ``prompt_tokens`` and reports it as
``prompt_tokens_details.cached_tokens``."""

import secrets
import time

import orjson

from threadline.providers.llm.anthropic_stream import AnthropicTurn, TokenUsage, finish_reason
from threadline.providers.llm.base import ChatDelta, ChatFunctionCall, ChatToolCall
from threadline.providers.llm.chunks import Malformed
from threadline.providers.llm.completion_types import (
    AnswerMessage,
    ChatCompletion,
    ChunkChoice,
    ChunkDelta,
    CompletionChoice,
    ToolCallFragment,
)
from threadline.providers.llm.event_stream import EventStreamDecoder
from threadline.providers.llm.status import InBandError

DONE = b"data: [DONE]\n\n"


def completion_id() -> str:
    return f"chatcmpl-{secrets.token_urlsafe(18)}"


def chat_completion(message: object, model: str) -> tuple[ChatCompletion, TokenUsage]:
    """The ``chat.completion`` for a (non-streamed) Messages answer (parsed JSON, a
    ``records.anthropic.Message`` unless the upstream is broken), and its usage."""
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        raise Malformed("sent an answer that is not a message")
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[ChatToolCall] = []
    for block in message["content"]:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "thinking":
            reasoning.append(str(block.get("thinking") or ""))
        elif kind == "tool_use":
            function: ChatFunctionCall = {
                "name": str(block.get("name") or ""),
                "arguments": orjson.dumps(block.get("input") or {}).decode(),
            }
            call_id = str(block.get("id") or "")
            calls.append({"id": call_id, "type": "function", "function": function})
    reply: AnswerMessage = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
        "refusal": None,
    }
    if reasoning:
        reply["reasoning_content"] = "".join(reasoning)
    if calls:
        reply["tool_calls"] = calls
    usage = TokenUsage()
    usage.update(message.get("usage"))
    finish = finish_reason(message.get("stop_reason"), bool(calls))
    choice: CompletionChoice = {
        "index": 0,
        "message": reply,
        "finish_reason": finish,
        "logprobs": None,
    }
    body: ChatCompletion = {
        "id": completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": usage.openai(),
    }
    return body, usage


class ChunkStream:
    """Anthropic's SSE bytes in, ``chat.completion.chunk`` SSE bytes out, incrementally.

    ``feed`` returns the bytes to send for each read; when the read ends in a failure — an
    ``error`` event (``InBandError``), ``Malformed`` or undecodable data (``ValueError``) — it
    returns what came before it and keeps the failure in ``failure``. ``end`` gives the last
    chunk (finish reason), the usage chunk if the client asked for it, and ``[DONE]``, or raises
    ``Malformed`` for a stream cut off before its end. ``usage`` is the turn's usage, for
    metering."""

    def __init__(self, model: str, *, include_usage: bool) -> None:
        self.turn = AnthropicTurn()
        self._decoder = EventStreamDecoder()
        self._include_usage = include_usage
        self._prefix = b'{"id":"%s","object":"chat.completion.chunk","created":%d,"model":%s,' % (
            completion_id().encode(),
            int(time.time()),
            orjson.dumps(model),
        )
        self._role_sent = False
        self.failure: Exception | None = None

    @property
    def usage(self) -> TokenUsage:
        return self.turn.usage

    def feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        try:
            for event in self._decoder.feed(data):
                if not event.data:
                    continue
                deltas = self.turn.feed(orjson.loads(event.data))
                if not self._role_sent and self.turn.started:
                    self._role_sent = True
                    out.append(self._chunk({"role": "assistant", "content": ""}))
                out += [self._chunk(_delta(delta)) for delta in deltas]
        except (InBandError, Malformed, ValueError) as failure:
            self.failure = failure
        return b"".join(out)

    def end(self) -> bytes:
        last = self.turn.last()
        if last is None:
            raise Malformed("ended the stream before saying how the answer ended (truncated)")
        out = [self._chunk({}, last.finish_reason)]
        if self._include_usage:
            out.append(self._frame(b'"choices":[],"usage":' + orjson.dumps(self.usage.openai())))
        out.append(DONE)
        return b"".join(out)

    def _chunk(self, delta: ChunkDelta, finish: str | None = None) -> bytes:
        choice: ChunkChoice = {
            "index": 0,
            "delta": delta,
            "finish_reason": finish,
            "logprobs": None,
        }
        return self._frame(b'"choices":[' + orjson.dumps(choice) + b"]")

    def _frame(self, rest: bytes) -> bytes:
        return b"data: " + self._prefix + rest + b"}\n\n"


def _delta(delta: ChatDelta) -> ChunkDelta:
    out: ChunkDelta = {}
    if delta.text:
        out["content"] = delta.text
    if delta.reasoning:
        out["reasoning_content"] = delta.reasoning
    if delta.tool_calls:
        calls: list[ToolCallFragment] = []
        for call in delta.tool_calls:
            fragment: ToolCallFragment
            if call.id is not None:  # the first fragment of a call
                fragment = {
                    "index": call.index,
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name or "", "arguments": call.arguments},
                }
            else:
                fragment = {"index": call.index, "function": {"arguments": call.arguments}}
            calls.append(fragment)
        out["tool_calls"] = calls
    return out
