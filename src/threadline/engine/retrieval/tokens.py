"""Token counting for chunking, with OpenAI's o200k vocabulary (offline, tiktoken-compatible).

``token_offsets`` gives where each token starts in the text, so that a chunk of tokens maps back
to an exact slice of the original text (no re-decoding, no broken characters)."""

import itertools
from functools import lru_cache
from typing import Any

import bpe_openai

# The tokenizer refuses single inputs of a million characters or more; long texts are encoded in
# pieces cut at a line break or a space (a token never spans those, except runs of whitespace).
_PIECE_CHARS = 100_000


@lru_cache(maxsize=1)
def _encoding() -> Any:
    return bpe_openai.get_encoding("o200k_base")


def token_offsets(text: str) -> list[int]:
    """The character offset where each o200k token of ``text`` starts."""
    encoding = _encoding()
    offsets: list[int] = []
    start = 0
    while start < len(text):
        end = _piece_end(text, start)
        tokens = encoding.encode_ordinary(text[start:end])
        _, piece_offsets = encoding.decode_with_offsets(tokens)
        offsets.extend(start + offset for offset in piece_offsets)
        start = end
    return offsets


def count_tokens(text: str) -> int:
    return len(token_offsets(text))


def split_by_tokens(text: str, max_tokens: int) -> list[str]:
    """``text`` cut into consecutive windows of at most ``max_tokens`` tokens."""
    offsets = token_offsets(text)
    if len(offsets) <= max_tokens:
        return [text] if text else []
    bounds = [*offsets[::max_tokens], len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds) if a < b]


def _piece_end(text: str, start: int) -> int:
    end = start + _PIECE_CHARS
    if end >= len(text):
        return len(text)
    for separator in ("\n", " "):
        cut = text.rfind(separator, start + _PIECE_CHARS // 2, end)
        if cut > start:
            return cut + 1
    return end
