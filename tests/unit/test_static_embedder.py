"""The ``static`` preset's embedder: WordLlama's table read from the installed wheel, offline,
256-dimension unit vectors equal to wordllama's own, embedded off the event loop."""

import asyncio
import importlib.util
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from threadline.providers.embeddings import static
from threadline.providers.embeddings.base import EmbeddingFailed
from threadline.providers.embeddings.static import StaticEmbedder

SAMPLES = [
    "How do I bake bread?",
    "Return a new list containing all items from the iterable in ascending order.",
    "Copyright (c) 2001-2023 Python Software Foundation; all rights reserved. " * 40,
    "Ünïcödé, “quotes” and 中文",
]


@pytest.fixture(scope="module")
def embedder() -> StaticEmbedder:
    return StaticEmbedder()


def test_it_loads_and_embeds_without_the_network(monkeypatch):
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the static preset must never open a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    vectors = StaticEmbedder().embed_now(["offline"])
    assert vectors.shape == (1, 256)


def test_vectors_are_256_dimensions_of_unit_length(embedder):
    vectors = embedder.embed_now(SAMPLES)
    assert vectors.shape == (len(SAMPLES), 256) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.model == "wordllama-l2-supercat-256"


def test_vectors_equal_wordllamas_own(embedder):
    import wordllama

    # Its loader, pointed at the wheel's own files (its cache layout) and never downloading.
    model = wordllama.WordLlama.load(
        cache_dir=Path(wordllama.__file__).parent, disable_download=True
    )
    expected = model.embed(SAMPLES, norm=True)
    assert np.allclose(embedder.embed_now(SAMPLES), expected, atol=1e-6)


def test_batching_does_not_change_vectors(embedder):
    together = embedder.embed_now(SAMPLES)
    alone = np.stack([embedder.embed_now([t])[0] for t in SAMPLES])
    assert np.allclose(together, alone, atol=1e-6)


def test_related_texts_are_closer(embedder):
    query, near, far = embedder.embed_now(
        ["sort a list of numbers", "sorting lists in ascending order", "the ferry leaves at dawn"]
    )
    assert query @ near > query @ far + 0.1


def test_empty_inputs(embedder):
    assert embedder.embed_now([]).shape == (0, 256)
    assert np.linalg.norm(embedder.embed_now([""])[0]) == pytest.approx(1.0, abs=1e-5)


def test_async_embed_runs_off_the_loop(embedder, monkeypatch):
    threads: list[str] = []
    real = embedder.embed_now

    def recording(texts: list[str]) -> np.ndarray:
        threads.append(threading.current_thread().name)
        return real(texts)

    monkeypatch.setattr(embedder, "embed_now", recording)
    vectors = asyncio.run(embedder.embed(["one", "two"]))
    assert vectors.shape == (2, 256)
    assert threads and threads[0].startswith("threadline-embed")


def test_passages_are_100_tokens(embedder):
    # Chosen on the tuned set's dev split; a static model has no window, so it is a granularity.
    assert embedder.passage_tokens == 100


def test_a_missing_package_fails_at_first_use_with_a_clear_message(monkeypatch):
    monkeypatch.setattr(static.importlib.util, "find_spec", lambda name: None)
    embedder = StaticEmbedder()  # the server still starts
    with pytest.raises(EmbeddingFailed) as caught:
        embedder.embed_now(["text"])
    assert "'wordllama' is not installed" in str(caught.value)
    assert "THREADLINE_EMBEDDING_PRESET=fast" in str(caught.value)


def test_a_missing_file_is_never_downloaded(monkeypatch, tmp_path):
    (tmp_path / "wordllama").mkdir()
    (tmp_path / "wordllama" / "__init__.py").write_text("")
    spec = importlib.util.spec_from_file_location(
        "wordllama",
        tmp_path / "wordllama" / "__init__.py",
        submodule_search_locations=[str(tmp_path / "wordllama")],
    )
    monkeypatch.setattr(static.importlib.util, "find_spec", lambda name: spec)
    with pytest.raises(EmbeddingFailed) as caught:
        StaticEmbedder().embed_now(["text"])
    assert "l2_supercat_256.safetensors" in str(caught.value)
    assert "never downloaded" in str(caught.value)
