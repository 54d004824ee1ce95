"""Token chunking: OpenAI's auto and static strategies, and the passages the embedder reads."""

import pytest

from threadline.engine.retrieval.base import ChunkingStrategy
from threadline.engine.retrieval.chunking import chunk_text, passages_of_chunks
from threadline.engine.retrieval.tokens import count_tokens, split_by_tokens, token_offsets

WORDS = " ".join(f"word{i} alpha beta gamma." for i in range(3000))


def test_auto_chunks_are_800_tokens_overlapping_by_400():
    chunked = chunk_text(WORDS, ChunkingStrategy(), passage_tokens=200)
    sizes = [count_tokens(c.text) for c in chunked.chunks]
    assert all(abs(size - 800) <= 2 for size in sizes[:-1])  # a cut may merge a boundary token
    assert sizes[-1] <= 800
    first, second = chunked.chunks[0].text, chunked.chunks[1].text
    assert second.startswith(first[token_offsets(first)[400] :])  # its last 400 tokens
    assert [c.index for c in chunked.chunks] == list(range(len(chunked.chunks)))


@pytest.mark.parametrize(("size", "overlap"), [(100, 0), (100, 50), (4096, 2048), (1000, 300)])
def test_static_chunking_honours_size_and_overlap(size, overlap):
    chunked = chunk_text(WORDS, ChunkingStrategy(size, overlap), passage_tokens=200)
    assert all(count_tokens(c.text) <= size + 2 for c in chunked.chunks)
    total = count_tokens(WORDS)
    expected = 1 + max(0, -(-(total - size) // (size - overlap)))
    assert len(chunked.chunks) == expected


def test_passages_tile_the_text_and_know_their_chunks():
    chunked = chunk_text(WORDS, ChunkingStrategy(800, 400), passage_tokens=200)
    assert "".join(p.text for p in chunked.passages) == WORDS
    assert all(count_tokens(p.text) <= 201 for p in chunked.passages)
    for passage in chunked.passages:
        for index in range(passage.first_chunk, passage.last_chunk + 1):
            assert passage.text.strip()[:50] in chunked.chunks[index].text


def test_odd_static_settings_make_no_slivers():
    chunked = chunk_text(WORDS, ChunkingStrategy(800, 399), passage_tokens=200)
    assert min(count_tokens(p.text) for p in chunked.passages) >= 50


@pytest.mark.parametrize(("size", "overlap"), [(99, 0), (4097, 0), (800, 401), (100, -1)])
def test_out_of_bounds_strategies_are_refused(size, overlap):
    with pytest.raises(ValueError):
        chunk_text(WORDS, ChunkingStrategy(size, overlap), passage_tokens=200)


def test_empty_and_blank_text_make_no_chunks():
    assert chunk_text("", ChunkingStrategy(), 200).chunks == []
    assert chunk_text("  \n\n ", ChunkingStrategy(), 200).chunks == []


def test_short_text_is_one_chunk_and_one_passage():
    chunked = chunk_text("Just a sentence.", ChunkingStrategy(), 200)
    assert [c.text for c in chunked.chunks] == ["Just a sentence."]
    assert [(p.first_chunk, p.last_chunk) for p in chunked.passages] == [(0, 0)]


def test_offsets_survive_texts_longer_than_the_tokenizer_accepts_at_once():
    text = "x" * 10 + ("lorem ipsum dolor sit amet " * 50_000)  # 1.35M characters
    offsets = token_offsets(text)
    assert offsets[0] == 0 and offsets == sorted(offsets)
    assert len(offsets) == pytest.approx(250_000, rel=0.2)


def test_multibyte_text_slices_cleanly():
    text = "日本語のテキスト。" * 400 + " émoji 🙂 " * 200
    chunked = chunk_text(text, ChunkingStrategy(100, 20), passage_tokens=50)
    assert "".join(p.text for p in chunked.passages) == text
    assert all(c.text in text for c in chunked.chunks)


def test_split_by_tokens_keeps_every_character():
    windows = split_by_tokens(WORDS, 300)
    assert "".join(windows) == WORDS
    assert all(count_tokens(w) <= 300 for w in windows)


def test_overlapping_chunks_join_back_into_the_text() -> None:
    from threadline.engine.retrieval.base import ChunkingStrategy
    from threadline.engine.retrieval.chunking import chunk_text, join_overlapping

    text = " ".join(f"Sentence number {i} says something different." for i in range(600))
    chunked = chunk_text(text, ChunkingStrategy(200, 100), passage_tokens=100)
    assert len(chunked.chunks) > 3
    assert join_overlapping([chunk.text for chunk in chunked.chunks]) == text
    assert join_overlapping(["first part", "second part"]) == "first part\nsecond part"
    assert join_overlapping([]) == ""


@pytest.mark.parametrize(
    ("size", "overlap"), [(800, 400), (100, 50), (100, 0), (800, 399), (300, 150)]
)
def test_passages_of_stored_chunks_are_those_of_the_text(size: int, overlap: int) -> None:
    # Re-embedding rebuilds a file's passages from its stored chunks, for any passage length.
    strategy = ChunkingStrategy(size, overlap)
    text = " ".join(f"word{i % 97} café, naïve — {i}" for i in range(3000))
    for passage_tokens in (64, 200, 8191):
        chunked = chunk_text(text, strategy, passage_tokens)
        chunks = [c.text for c in chunked.chunks]
        assert passages_of_chunks(chunks, strategy, passage_tokens) == chunked.passages


def test_passages_of_chunks_that_cannot_be_rebuilt_lie_in_one_chunk_each() -> None:
    chunks = ["alpha beta gamma " * 40, "delta epsilon " * 30]  # not from one chunking
    passages = passages_of_chunks(chunks, ChunkingStrategy(100, 50), 32)
    assert passages and all(p.first_chunk == p.last_chunk for p in passages)
    for index, chunk in enumerate(chunks):
        assert "".join(p.text for p in passages if p.first_chunk == index) == chunk
    assert passages_of_chunks([], ChunkingStrategy(), 200) == []
