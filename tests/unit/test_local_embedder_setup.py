"""The ONNX graph of the embedded model kept on disk between starts (bert_onnx.cached_graph),
and the default number of threads the model runs on."""

import shutil
from pathlib import Path

import numpy as np

from threadline.providers.embeddings import bert_onnx
from threadline.providers.embeddings.local import LocalEmbedder, bundled_model_dir


def test_the_graph_is_built_once_then_read_back(tmp_path, monkeypatch):
    built: list[bool] = []
    real_build = bert_onnx.build_graph

    def counting_build(model_dir: Path, *, int8: bool = False) -> bytes:
        built.append(int8)
        return real_build(model_dir, int8=int8)

    monkeypatch.setattr(bert_onnx, "build_graph", counting_build)
    first = LocalEmbedder(cache_dir=tmp_path).embed_now(["a cached graph"])
    second = LocalEmbedder(cache_dir=tmp_path).embed_now(["a cached graph"])
    assert built == [True]  # the second start read the file
    assert [p.suffix for p in tmp_path.iterdir()] == [".onnx"]  # no temporary file left
    assert np.array_equal(first, second)


def test_other_weights_or_runtime_get_their_own_file_and_stale_ones_go(tmp_path):
    model = tmp_path / "model"
    shutil.copytree(bundled_model_dir(), model)
    cache = tmp_path / "cache"
    bert_onnx.cached_graph(model, cache, int8=True)
    bert_onnx.cached_graph(model, cache, int8=False)
    before = bert_onnx.cached_graph_path(model, cache, int8=True)
    other_kind = bert_onnx.cached_graph_path(model, cache, int8=False)
    config = model / "config.json"
    config.write_text(config.read_text() + "\n")  # a different model package
    bert_onnx.cached_graph(model, cache, int8=True)
    after = bert_onnx.cached_graph_path(model, cache, int8=True)
    assert after != before
    # The old int8 graph is removed; the float32 one stays until float32 is built again.
    assert sorted(p.name for p in cache.iterdir()) == sorted([after.name, other_kind.name])


def test_a_damaged_cached_graph_is_built_again(tmp_path):
    path = bert_onnx.cached_graph_path(bundled_model_dir(), tmp_path, int8=True)
    path.write_bytes(b"not an onnx model")
    vectors = LocalEmbedder(cache_dir=tmp_path).embed_now(["still works"])
    assert vectors.shape == (1, 384)
    assert path.read_bytes() != b"not an onnx model"


def test_an_unwritable_cache_only_costs_the_build(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    vectors = LocalEmbedder(cache_dir=blocker / "cache").embed_now(["still works"])
    assert vectors.shape == (1, 384)


def test_default_threads_are_half_the_cpus_at_least_one(monkeypatch):
    from threadline.providers.embeddings import local

    for cpus, threads in ((1, 1), (2, 1), (3, 1), (4, 2), (16, 8)):
        monkeypatch.setattr(local.os, "sched_getaffinity", lambda _, n=cpus: set(range(n)))
        assert local.default_threads() == threads


def test_threads_zero_means_the_default(monkeypatch):
    from threadline.providers.embeddings import local

    monkeypatch.setattr(local.os, "sched_getaffinity", lambda _: set(range(8)))
    assert LocalEmbedder().threads == 4
    assert LocalEmbedder(threads=1).threads == 1
