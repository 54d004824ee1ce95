"""The embedded all-MiniLM-L6-v2 (its three runtimes) and the OpenAI-compatible embeddings
client."""

import asyncio

import numpy as np
import pytest

from tests.upstream import EMBEDDING_DIMENSIONS, ScriptedUpstream, bag_of_words_vector
from threadline.engine.retrieval.tokens import split_by_tokens
from threadline.providers.embeddings.base import EmbeddingFailed
from threadline.providers.embeddings.local import LocalEmbedder
from threadline.providers.embeddings.openai_compatible import OpenAICompatibleEmbedder

# sentence-transformers' all-MiniLM-L6-v2 (torch) gives these first six dimensions for this text.
REFERENCE_TEXT = "This is an example sentence"
REFERENCE_START = [0.0676569, 0.0634959, 0.0487131, 0.0793049, 0.0374480, 0.0026528]


# Texts of several lengths (a longer one in two windows) on which the runtimes are compared.
SAMPLES = [
    "How do I bake bread?",
    "Return a new list containing all items from the iterable in ascending order.",
    "The subprocess module allows you to spawn new processes, connect to their pipes. " * 8,
    "Copyright (c) 2001-2023 Python Software Foundation; all rights reserved. " * 40,
]


@pytest.fixture(scope="module", params=["onnx-int8", "onnx", "numpy"])
def local(request) -> LocalEmbedder:
    return LocalEmbedder(runtime=request.param)


@pytest.fixture(scope="module")
def reference() -> LocalEmbedder:
    return LocalEmbedder(runtime="numpy")


def test_local_model_matches_the_reference_implementation(local):
    vector = local.embed_now([REFERENCE_TEXT])[0]
    assert vector.shape == (384,)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    if local.runtime == "onnx-int8":
        start = np.array(REFERENCE_START)
        assert vector[:6] @ start / np.linalg.norm(vector[:6]) / np.linalg.norm(start) > 0.98
    else:
        assert np.allclose(vector[:6], REFERENCE_START, atol=2e-5)


def test_runtimes_give_the_reference_vectors(local, reference):
    expected = reference.embed_now(SAMPLES)
    vectors = local.embed_now(SAMPLES)
    if local.runtime == "onnx-int8":
        # int8 weights: the same model, slightly moved (cosine ~0.99 on the corpus passages).
        assert np.min(np.sum(vectors * expected, axis=1)) > 0.97
    else:
        assert np.allclose(vectors, expected, atol=1e-5)


def test_every_runtime_records_the_same_model(local):
    # Same model, interchangeable vectors: a store embedded by one runtime is searched with
    # another's queries, so a preset change re-embeds nothing.
    assert local.model == "all-MiniLM-L6-v2"


def test_local_model_ranks_by_meaning(local):
    query, near, far = local.embed_now(
        ["How do I bake bread?", "A recipe for baking a loaf", "The stock market fell today"]
    )
    assert query @ near > query @ far + 0.2


def test_batching_does_not_change_vectors(local):
    texts = ["short", "a somewhat longer sentence about tea", "x " * 300]
    together = local.embed_now(texts)
    alone = np.stack([local.embed_now([t])[0] for t in texts])
    assert np.allclose(together, alone, atol=1e-5)


def test_long_text_is_embedded_whole_not_truncated(local):
    start = "The lighthouse keeper logs each passing ship. " * 40  # well past 256 word pieces
    end = "Volcanic eruptions reshape islands. " * 40
    head, whole = local.embed_now([start, start + end])
    topic = local.embed_now(["volcanoes and islands"])[0]
    assert not np.allclose(head, whole, atol=1e-3)  # the tail counted
    assert whole @ topic > head @ topic + 0.05


def test_empty_inputs(local):
    assert local.embed_now([]).shape == (0, 384)
    assert np.linalg.norm(local.embed_now([""])[0]) == pytest.approx(1.0, abs=1e-5)


def test_async_embed_runs_off_the_loop(local):
    vectors = asyncio.run(local.embed(["one", "two"]))
    assert vectors.shape == (2, 384)


def _remote(server: ScriptedUpstream, **options) -> OpenAICompatibleEmbedder:
    return OpenAICompatibleEmbedder(
        base_url=server.base_url,
        api_key=server.api_key,
        model="text-embedding-test",
        split=split_by_tokens,
        max_retries=0,
        **options,
    )


def test_remote_embeddings_in_batches(upstream):
    async def run() -> np.ndarray:
        embedder = _remote(upstream, batch_size=2)
        try:
            return await embedder.embed(["alpha beta", "gamma", "delta epsilon", "zeta"])
        finally:
            await embedder.aclose()

    vectors = asyncio.run(run())
    assert vectors.shape == (4, EMBEDDING_DIMENSIONS)
    assert np.allclose(vectors[0], bag_of_words_vector("alpha beta"), atol=1e-6)
    calls = [r for r in upstream.requests if r["_path"] == "/v1/embeddings"]
    assert [len(c["input"]) for c in calls] == [2, 2]
    assert all(c["model"] == "text-embedding-test" for c in calls)


def test_remote_long_inputs_are_windowed_not_cut(upstream):
    async def run() -> np.ndarray:
        embedder = _remote(upstream, max_input_tokens=20)
        try:
            return await embedder.embed(["word " * 100])
        finally:
            await embedder.aclose()

    vectors = asyncio.run(run())
    sent = [r["input"] for r in upstream.requests if r["_path"] == "/v1/embeddings"]
    assert sent[0] == split_by_tokens("word " * 100, 20) and len(sent[0]) > 4
    assert "".join(sent[0]) == "word " * 100
    assert vectors.shape == (1, EMBEDDING_DIMENSIONS)


def test_remote_failures_are_clear_and_keep_the_key_out(upstream):
    upstream.fail_embeddings(503)

    async def run() -> None:
        embedder = _remote(upstream)
        try:
            await embedder.embed(["anything"])
        finally:
            await embedder.aclose()

    with pytest.raises(EmbeddingFailed) as caught:
        asyncio.run(run())
    assert "503" in str(caught.value)
    assert upstream.api_key not in str(caught.value) and "127.0.0.1" not in str(caught.value)


def test_a_missing_model_package_fails_at_first_use_with_a_clear_message(monkeypatch):
    monkeypatch.setattr(
        "threadline.providers.embeddings.local.importlib.util.find_spec", lambda name: None
    )
    embedder = LocalEmbedder()  # the server still starts
    with pytest.raises(EmbeddingFailed) as caught:
        embedder.embed_now(["text"])
    assert "make install" in str(caught.value)
