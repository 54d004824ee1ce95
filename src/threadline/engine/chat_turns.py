"""A run's thread as chat turns: stored messages, the tool calls of its runs (with their
outputs) and a response's context items (``item_turns``), each turned into the Chat Completions
messages that must be kept or dropped together; what a message counts (``message_tokens``,
stored with it).

The conversation merges them in creation order — ids carry their creation time, so a merge by id
is exact. Finished turns are cached (``FINISHED``): they can no longer change."""

import threading
from dataclasses import dataclass
from typing import TypeAlias, TypedDict, cast, final

from threadline.engine.tokens import Message, count_message, count_text
from threadline.engine.tools.base import CALL_KEY, OUTPUT_KEY
from threadline.ids import creation_key
from threadline.providers.llm.base import ChatContentPart, ChatImageUrl
from threadline.records.jsonvalue import JsonObject
from threadline.records.responses import INPUT_FILE_TEXT
from threadline.records.runs import FunctionCall, StepRecord
from threadline.records.threads import (
    ContentPart,
    ImageUrl,
    MessageRecord,
    MessageStatus,
    PromptMessageRecord,
)


def chat_content(content: list[ContentPart]) -> str | list[ChatContentPart]:
    """A thread message's content parts as Chat Completions content."""
    parts: list[ChatContentPart] = []
    texts: list[str] = []
    for part in content:
        if part["type"] == "text":
            texts.append(part["text"]["value"])
            parts.append({"type": "text", "text": part["text"]["value"]})
        elif part["type"] == "image_url":
            parts.append({"type": "image_url", "image_url": _chat_image_url(part["image_url"])})
        elif part["type"] == "image_file":
            # Files arrive with the files API; until then the model is told an image was here.
            text = f"[image file {part['image_file']['file_id']}]"
            texts.append(text)
            parts.append({"type": "text", "text": text})
        else:
            text = _input_file_text(cast(JsonObject, part), bool(texts))
            if text is not None:
                texts.append(text)
                parts.append({"type": "text", "text": text})
    if len(texts) == len(parts):
        return "".join(texts)
    return parts


def _input_file_text(part: JsonObject, after_text: bool) -> str | None:
    """A response's ``input_file`` part as the model reads it: the file's text, read and
    framed when the response was created (services.input_files)."""
    text = part.get(INPUT_FILE_TEXT) if part.get("type") == "input_file" else None
    if not isinstance(text, str):
        return None
    return "\n\n" + text if after_text else text


def _chat_image_url(value: ImageUrl) -> ChatImageUrl:
    """The image as the model is sent it: no null fields."""
    image: ChatImageUrl = {"url": value["url"]}
    detail = value.get("detail")
    if detail is not None:
        image["detail"] = detail
    return image


def tool_turn(step: StepRecord) -> list[Message]:
    """A tool_calls step as the assistant message that made the calls and the tools' answers.
    Function calls carry their own name, arguments and output; the server's own tools keep the
    function call the model made and the text it read back aside (see engine.tools.base)."""
    made: list[tuple[str, FunctionCall, str]] = []  # (call id, function, output)
    for call in step["step_details"]["tool_calls"]:
        if call["type"] == "function":
            function = call["function"]
            made.append((call["id"], function, function.get("output") or ""))
        elif CALL_KEY in call:
            made.append((call["id"], call[CALL_KEY], call.get(OUTPUT_KEY) or ""))
    if not made:
        return []
    assistant: Message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": function["name"], "arguments": function["arguments"]},
            }
            for call_id, function, _ in made
        ],
    }
    answers: list[Message] = [
        {"role": "tool", "tool_call_id": id_, "content": out} for id_, _, out in made
    ]
    return [assistant, *answers]


@dataclass(frozen=True)
class Reasoning:
    """A model's reasoning, sent back with the assistant message after it (as its
    ``reasoning_content``), and only to the model that produced it: an upstream that streamed
    the field reads it back (vLLM, DeepSeek, llama.cpp), while another could reject it."""

    text: str
    model: str


@dataclass(frozen=True)
class Turn:
    """Messages that must be kept or dropped together, with their token count. A turn with
    ``reasoning`` has no messages of its own: it goes with the assistant message that follows
    (``conversation``)."""

    messages: list[Message]
    tokens: int
    is_thread_message: bool
    reasoning: Reasoning | None = None


class FinishedTurns:
    """Turns that can no longer change (a finished message's content, an answered tool step's
    calls) by id: without them every run would decode and tokenise its whole thread again. The
    process's runs share it (units may run on threads: a lock guards its changes). Bounded by an
    estimate of its size, oldest out first."""

    def __init__(self, max_bytes: int = 64 << 20) -> None:
        self._turns: dict[str, Turn] = {}
        self._bytes = 0
        self._max_bytes = max_bytes
        self._lock = threading.Lock()

    def get(self, key: str) -> "Turn | None":
        return self._turns.get(key)

    def __contains__(self, key: str) -> bool:
        return key in self._turns

    def put(self, key: str, turn: "Turn") -> None:
        with self._lock:
            if key in self._turns:
                return
            self._turns[key] = turn
            self._bytes += _size(turn)
            while self._bytes > self._max_bytes and len(self._turns) > 1:
                oldest = next(iter(self._turns))
                self._bytes -= _size(self._turns.pop(oldest))


def _size(turn: "Turn") -> int:
    # About 4 characters a token, plus the dicts around them: an estimate is enough for a bound.
    return 4 * turn.tokens + 200 * len(turn.messages)


FINISHED = FinishedTurns()


@final
class KnownTurn(TypedDict):
    """A finished message whose turn ``FINISHED`` holds: its content is not read again."""

    id: str
    status: MessageStatus
    turn: Turn


ConversationMessage: TypeAlias = KnownTurn | PromptMessageRecord


def conversation(
    messages: list[ConversationMessage],
    tool_steps: list[StepRecord],
    *,
    remember: bool = True,
    reasoning_of: str | None = None,
) -> list[Turn]:
    """Thread messages and answered tool calls, oldest first. A message record may carry its
    ``turn`` already (``FINISHED``'s, looked up when it was loaded) instead of its content.
    ``remember``: finished turns go into ``FINISHED`` (not for rows that are never stored).
    ``reasoning_of``: the model whose own reasoning is sent back (none is, without)."""
    items: list[tuple[str, Turn]] = []
    for message in messages:
        if "turn" in message:
            items.append((message["id"], message["turn"]))
            continue
        turn = message_turn(message)
        if turn is None:
            continue
        if remember and message["status"] != "in_progress":  # its content is final
            FINISHED.put(message["id"], turn)
        items.append((message["id"], turn))
    for step in tool_steps:
        known = step_turn(step, remember=remember)
        if known is not None:
            items.append((step["id"], known))
    items.sort(key=lambda item: creation_key(item[0]))
    return _with_reasoning([turn for _, turn in items], reasoning_of)


def message_turn(message: PromptMessageRecord) -> Turn | None:
    """A message as its turn (None: one still being written that has no content yet). A
    finished message's stored count (``message_tokens``, made when it was written) is taken
    as it is: counting its text again is the cost it is stored to save."""
    if message["status"] == "in_progress" and not message["content"]:
        return None
    chat: Message = {"role": message["role"], "content": chat_content(message["content"])}
    tokens = message.get("tokens") if message["status"] != "in_progress" else None
    return Turn([chat], count_message(chat) if tokens is None else tokens, True)


def message_tokens(message: PromptMessageRecord | MessageRecord) -> int | None:
    """What a message counts in a prompt, stored with it (``messages.tokens``) when it is
    written finished; None while it is being written (its content still grows)."""
    if message["status"] == "in_progress":
        return None
    known = FINISHED.get(message["id"])  # counted already, e.g. by a response's size check
    if known is not None:
        return known.tokens
    chat: Message = {"role": message["role"], "content": chat_content(message["content"])}
    return count_message(chat)


def step_turn(step: StepRecord, *, remember: bool = True) -> Turn | None:
    """A completed tool step as its turn (None: not completed, or no call the model made).
    ``remember``: kept in ``FINISHED`` once every call has its output."""
    if step["status"] != "completed":
        return None
    known = FINISHED.get(step["id"])
    if known is None:
        messages_of_step = tool_turn(step)
        if not messages_of_step:
            return None
        known = Turn(messages_of_step, sum(map(count_message, messages_of_step)), False)
        if remember and _answered(step):
            FINISHED.put(step["id"], known)
    return known


def _with_reasoning(turns: list[Turn], model: str | None) -> list[Turn]:
    """``turns`` with each reasoning turn folded into the assistant message right after it
    (a copy: the cached turns stay as they are), if the reasoning is ``model``'s; else left
    out."""
    if not any(turn.reasoning is not None for turn in turns):
        return turns
    out: list[Turn] = []
    pending: Reasoning | None = None
    for turn in turns:
        if turn.reasoning is not None:
            pending = turn.reasoning if turn.reasoning.model == model else None
            continue
        first = turn.messages[0] if turn.messages else None
        if pending is not None and first is not None and first["role"] == "assistant":
            answered: Message = {**first, "reasoning_content": pending.text}
            tokens = turn.tokens + count_text(pending.text)
            turn = Turn([answered, *turn.messages[1:]], tokens, turn.is_thread_message)
        pending = None
        out.append(turn)
    return out


def _answered(step: StepRecord) -> bool:
    """Whether every function call of a completed step has its output: a response's step is
    completed before the next response brings the outputs, and must not be cached without."""
    return all(
        call["function"].get("output") is not None
        for call in step["step_details"]["tool_calls"]
        if call["type"] == "function"
    )
