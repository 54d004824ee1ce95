"""Token chunking as OpenAI's file_search did it, and the passages the embedder reads.

A file's text is cut into chunks of ``max_chunk_size_tokens`` o200k tokens that overlap by
``chunk_overlap_tokens`` (``auto``: 800 and 400). Keyword search and the results shown to the
model work on whole chunks.

An embedding model may read less than a chunk (all-MiniLM-L6-v2: 256 word pieces, about 200
o200k tokens), so the text is also cut into *passages* no longer than the model reads well. The
passages tile the text without overlap, along the chunks' own boundaries, so each passage is
embedded once even though the chunks overlap; each passage knows the chunks it lies in. A chunk's
vector score is then its best passage's (see ``engine``)."""

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from threadline.engine.retrieval.base import ChunkingStrategy
from threadline.engine.retrieval.tokens import token_offsets


@dataclass(frozen=True, slots=True)
class Chunk:
    index: int
    text: str


@dataclass(frozen=True, slots=True)
class Passage:
    text: str
    first_chunk: int  # the chunks it lies in: first_chunk..last_chunk
    last_chunk: int


@dataclass(frozen=True, slots=True)
class ChunkedText:
    chunks: list[Chunk]
    passages: list[Passage]


def chunk_text(text: str, strategy: ChunkingStrategy, passage_tokens: int) -> ChunkedText:
    size, overlap = strategy.max_chunk_size_tokens, strategy.chunk_overlap_tokens
    # OpenAI's bounds; the API validates them first, this keeps a bad value from looping forever.
    if not (100 <= size <= 4096 and 0 <= overlap <= size // 2):
        raise ValueError(f"invalid chunking strategy: {size} tokens, {overlap} overlap")
    offsets = token_offsets(text)
    total = len(offsets)
    if total == 0 or not text.strip():
        return ChunkedText([], [])
    size = strategy.max_chunk_size_tokens
    step = size - strategy.chunk_overlap_tokens
    spans: list[tuple[int, int]] = []
    start = 0
    while True:
        spans.append((start, min(start + size, total)))
        if start + size >= total:
            break
        start += step

    def char_slice(a: int, b: int) -> str:
        return text[offsets[a] : offsets[b] if b < total else len(text)]

    chunks = [Chunk(i, char_slice(a, b)) for i, (a, b) in enumerate(spans)]
    passages: list[Passage] = []
    for a, b in _passage_spans(spans, total, min(passage_tokens, size)):
        passage = char_slice(a, b)
        if passage.strip():
            passages.append(Passage(passage, *_chunks_holding(a, b, size, step, len(spans))))
    return ChunkedText(chunks, passages)


def _passage_spans(spans: list[tuple[int, int]], total: int, longest: int) -> list[tuple[int, int]]:
    # Cut where any chunk starts or ends; drop cuts that would leave a sliver (under a quarter of
    # a passage) so odd static settings (e.g. 800/399) make no 2-token passages; then split what
    # is longer than a passage into equal parts.
    cuts = sorted({0, total, *(a for a, _ in spans), *(b for _, b in spans)})
    kept = [0]
    for cut in cuts[1:-1]:
        if cut - kept[-1] >= max(1, longest // 4) and total - cut >= max(1, longest // 4):
            kept.append(cut)
    kept.append(total)
    result: list[tuple[int, int]] = []
    for a, b in itertools.pairwise(kept):
        parts = -(-(b - a) // longest)
        bounds = [a + (b - a) * i // parts for i in range(parts + 1)]
        result.extend(itertools.pairwise(bounds))
    return result


def _chunks_holding(a: int, b: int, size: int, step: int, count: int) -> tuple[int, int]:
    # A passage belongs to every chunk that holds most of it (its middle token), so slivers
    # merged across a chunk boundary are scored with the chunk they mostly lie in. Chunk i holds
    # tokens [i * step, i * step + size).
    middle = (a + b - 1) // 2
    first = max(0, -(-(middle - size + 1) // step))
    last = min(count - 1, middle // step)
    return first, max(first, last)


def join_overlapping(chunks: Sequence[str]) -> str:
    """The text that ``chunks`` were cut from: each chunk begins with the end of the one before
    (the overlap), which is kept once. Chunks that do not overlap are joined by a newline."""
    if not chunks:
        return ""
    text = chunks[0]
    for chunk in chunks[1:]:
        shared = _overlap(text, chunk)
        text += "\n" + chunk if shared is None else chunk[shared:]
    return text


def _overlap(before: str, chunk: str) -> int | None:
    """How many leading characters of ``chunk`` end ``before``; None if it starts afresh."""
    probe = chunk[:64]
    start = before.find(probe, max(0, len(before) - len(chunk) - len(probe)))
    while start != -1:
        if chunk.startswith(before[start:]):
            return len(before) - start
        start = before.find(probe, start + 1)
    return None


def passages_of_chunks(
    chunks: Sequence[str], strategy: ChunkingStrategy, passage_tokens: int
) -> list[Passage]:
    """The passages of a file already chunked, for embedding it again with another model (whose
    passages may be shorter or longer) without parsing it again. The text is rebuilt from the
    chunks and chunked anew; where that gives exactly the stored chunks (it does unless the text
    was unusual), its passages lie in them as at ingestion. Otherwise each stored chunk is cut
    into passages of its own (overlapping text is then embedded twice, but every passage lies in
    the chunk it names)."""
    if not chunks:
        return []
    for text in (join_overlapping(chunks), "".join(chunks)):  # overlapping chunks, or tiling
        chunked = chunk_text(text, strategy, passage_tokens)
        if [c.text for c in chunked.chunks] == list(chunks):
            return chunked.passages
    passages: list[Passage] = []
    for index, chunk in enumerate(chunks):
        offsets = token_offsets(chunk)
        longest = max(1, passage_tokens)
        for start in range(0, len(offsets), longest):
            end = start + longest
            piece = chunk[offsets[start] : offsets[end] if end < len(offsets) else len(chunk)]
            if piece.strip():
                passages.append(Passage(piece, index, index))
    return passages
