"""Token counts of what the model is sent, with the o200k vocabulary: a message, a prompt
with its tools, a text."""

from collections.abc import Iterable
from functools import lru_cache
from typing import Any, TypeAlias

import bpe_openai
import orjson

from threadline.providers.llm.base import ChatMessage, ChatTool

Message: TypeAlias = ChatMessage

# Chat format overhead, as OpenAI's cookbook counts it: per message, and to prime the reply.
_PER_MESSAGE = 3
_REPLY_PRIMING = 3
_IMAGE_TOKENS = 765  # a high-detail 512x512 tile set; the count only needs to be safe


@lru_cache(maxsize=1)
def _encoding() -> Any:
    return bpe_openai.get_encoding("o200k_base")


def warm_tokenizer() -> None:
    """Load the vocabulary now (about half a second) rather than in the first run."""
    _encoding()


def count_text(text: str) -> int:
    return len(_encoding().encode_ordinary(text)) if text else 0


def count_message(message: Message) -> int:
    tokens = _PER_MESSAGE
    content = message.get("content")
    if isinstance(content, str):
        tokens += count_text(content)
    elif isinstance(content, list):
        for part in content:
            tokens += count_text(part["text"]) if part["type"] == "text" else _IMAGE_TOKENS
    for call in message.get("tool_calls") or ():
        tokens += count_text(call["function"]["name"]) + count_text(call["function"]["arguments"])
    reasoning = message.get("reasoning_content")
    if reasoning:
        tokens += count_text(reasoning)
    return tokens


def count_prompt(messages: Iterable[Message], tools: list[ChatTool] | None = None) -> int:
    tokens = _REPLY_PRIMING + sum(count_message(m) for m in messages)
    if tools:
        tokens += count_text(orjson.dumps(tools).decode())
    return tokens
