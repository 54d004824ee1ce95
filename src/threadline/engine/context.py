"""What the model is sent: a run's conversation (``chat_turns``) as Chat Completions messages,
cut to fit. Truncation keeps the system message and drops whole turns from the oldest end: an
assistant message that called tools is never kept without the tool results that answer it."""

from dataclasses import dataclass

from threadline.engine.chat_turns import Turn
from threadline.engine.tokens import Message, count_prompt
from threadline.providers.llm.base import ChatTool


@dataclass(frozen=True)
class Prompt:
    messages: list[Message]
    tokens: int


def build_prompt(
    instructions: str | None,
    turns: list[Turn],
    *,
    budget: int,
    last_messages: int | None = None,
    tools: list[ChatTool] | None = None,
) -> Prompt:
    """The prompt: instructions, then the newest turns that fit ``budget`` tokens (and, with
    ``last_messages``, start no earlier than that many thread messages back)."""
    system: list[Message] = [{"role": "system", "content": instructions}] if instructions else []
    used = count_prompt(system, tools)
    if last_messages is not None:
        turns = _from_last_messages(turns, last_messages)
    kept: list[Turn] = []
    for turn in reversed(turns):
        if used + turn.tokens > budget and kept:
            break
        kept.append(turn)
        used += turn.tokens
    kept.reverse()
    return Prompt(system + [m for turn in kept for m in turn.messages], used)


def _from_last_messages(turns: list[Turn], count: int) -> list[Turn]:
    seen = 0
    for index in range(len(turns) - 1, -1, -1):
        if turns[index].is_thread_message:
            seen += 1
            if seen == count:
                return turns[index:]
    return turns
