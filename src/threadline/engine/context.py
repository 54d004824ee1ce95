"""What the model is sent: a run's conversation (``chat_turns``) as Chat Completions messages,
cut to fit. Truncation keeps the system message and drops whole turns from the oldest end: an
assistant message that called tools is never kept without the tool results that answer it."""

from collections.abc import Callable
from dataclasses import dataclass

from threadline.engine.chat_turns import Turn
from threadline.engine.history import Needed
from threadline.engine.tokens import Message, count_prompt
from threadline.providers.llm.base import ChatTool, ModelRoute, UpstreamFailure
from threadline.records.runs import RunRecord

# Room kept free in the context window for the reply when no completion budget is set.
REPLY_RESERVE = 4096


@dataclass(frozen=True, slots=True)
class PromptLimits:
    """What a run's next prompt may hold: ``budget`` tokens, and, with ``last_messages``, no
    more thread messages than that; what is left of its completion and prompt budgets (None:
    unlimited)."""

    budget: int
    last_messages: int | None
    completion_left: int | None
    prompt_left: int | None

    @property
    def needed(self) -> Needed:
        """How much of its thread the run reads for that prompt."""
        return Needed(self.budget, self.last_messages)


def prompt_limits(run: RunRecord, context_window: int) -> PromptLimits:
    """The run's limits for its next prompt, in a model's ``context_window``: the window less
    the reply's room, within the run's ``max_prompt_tokens`` left, and its truncation."""
    used = run["usage"]
    completion_left = _left(run["max_completion_tokens"], used["completion_tokens"] if used else 0)
    prompt_left = _left(run["max_prompt_tokens"], used["prompt_tokens"] if used else 0)
    window = context_window - (completion_left or REPLY_RESERVE)
    budget = min(window, prompt_left) if prompt_left is not None else window
    truncation = run["truncation_strategy"] or {"type": "auto"}
    last = truncation.get("last_messages") if truncation.get("type") == "last_messages" else None
    return PromptLimits(budget, last, completion_left, prompt_left)


def first_turn_needs(route: Callable[[str], ModelRoute], run: RunRecord) -> Needed:
    """How much of its thread a run's first turn reads (at its claim). A model the engine
    cannot route fails that turn before any prompt is built: it needs none."""
    try:
        window = route(run["model"]).context_window
    except UpstreamFailure:
        return Needed(0)
    return prompt_limits(run, window).needed


def _left(limit: int | None, used: int) -> int | None:
    return None if limit is None else limit - used


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
