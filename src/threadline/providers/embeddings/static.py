"""The ``static`` preset: WordLlama's static embeddings (l2_supercat, 256 dimensions), offline.

A static model has no network to run: a text's vector is the mean of its tokens' rows in a table
(32,000 Llama-2 tokens x 256 dimensions), so embedding costs a tokenizer pass and a lookup, not a
transformer's arithmetic. Ingestion is many times faster than with all-MiniLM-L6-v2, at a lower
recall (docs/benchmarks.md#retrieval-quality); the default stays MiniLM.

The table and the tokenizer ship inside the ``wordllama`` wheel (MIT). They are read from the
installed package with safetensors and tokenizers rather than through wordllama's loader, which
downloads from Hugging Face what it does not find and configures the root logger when imported:
nothing is ever fetched at run time, and without the wheel the first embedding fails with
``EmbeddingFailed``. The vectors equal ``WordLlama.load().embed(texts, norm=True)``'s
(tests/unit/test_static_embedder.py).

Its vectors are another model's (``MODEL_NAME``, 256 dimensions), so switching to or from this
preset re-embeds existing stores in the background (engine/reembedding.py)."""

import importlib.util
from pathlib import Path

import numpy as np
from safetensors import safe_open
from tokenizers import Tokenizer

from threadline.providers.embeddings.base import EmbeddingFailed, Vectors, normalized
from threadline.providers.embeddings.in_process import InProcessEmbedder

MODEL_NAME = "wordllama-l2-supercat-256"
DIMENSIONS = 256
_PACKAGE = "wordllama"
_WEIGHTS = Path("weights") / "l2_supercat_256.safetensors"
_TOKENIZER = Path("tokenizers") / "l2_supercat_tokenizer_config.json"
# Passages of at most this many o200k tokens. A static model reads any length whole, so this is
# no window limit but a granularity: an average over fewer tokens keeps a passage's topic
# sharper. With the default 800/400 chunking a passage is at most a chunk step (400 tokens)
# whatever the figure. Chosen on the tuned set's dev split (bench/retrieval/quality.py static-):
# hybrid recall@5 0.981 with 100-token passages, 0.943 with 200, 0.962 with 400 (and 0.981, at
# a lower MRR, with one vector per 800-token chunk, which the passages cannot express); 53
# questions, so one question is 0.019.
DEFAULT_PASSAGE_TOKENS = 100


def bundled_files() -> tuple[Path, Path]:
    """The table and the tokenizer inside the installed wheel (the package is not imported)."""
    spec = importlib.util.find_spec(_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise EmbeddingFailed(
            f"The static embedding model's package {_PACKAGE!r} is not installed: run "
            "`make install`, or set THREADLINE_EMBEDDING_PRESET=fast (the embedded default)."
        )
    root = Path(locations[0])
    weights, tokenizer = root / _WEIGHTS, root / _TOKENIZER
    for path in (weights, tokenizer):
        if not path.is_file():
            raise EmbeddingFailed(
                f"The static embedding model's file {path.name!r} is missing from the installed "
                f"{_PACKAGE!r} package: reinstall it with `make install` (it is never downloaded)."
            )
    return weights, tokenizer


class StaticEmbedder(InProcessEmbedder):
    def __init__(self, *, passage_tokens: int = DEFAULT_PASSAGE_TOKENS, threads: int = 0) -> None:
        super().__init__(passage_tokens=passage_tokens, threads=threads)
        self._loaded = False

    def _load(self) -> None:
        # At first use, on the worker thread: a server that never embeds reads nothing.
        if self._loaded:
            return
        weights, tokenizer = bundled_files()
        with safe_open(str(weights), framework="np") as tensors:
            # float16 in the wheel (16 MB); summed in float32, as wordllama does.
            self._table = np.ascontiguousarray(
                tensors.get_tensor("embedding.weight"), dtype=np.float32
            )
        self._tokenizer = Tokenizer.from_file(str(tokenizer))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self._unknown = self._tokenizer.token_to_id("<unk>") or 0
        self._loaded = True

    @property
    def model(self) -> str:
        return MODEL_NAME

    def embed_now(self, texts: list[str]) -> Vectors:
        self._load()
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        # A text without tokens (blank) reads as the unknown token: a unit vector like any other.
        pieces = [encoding.ids or [self._unknown] for encoding in encodings]
        last = len(self._table) - 1
        sums = np.empty((len(texts), self._table.shape[1]), dtype=np.float32)
        for row, ids in enumerate(pieces):
            # Each text's rows summed (one gather per text: ~25x faster than np.add.reduceat
            # over the batch); the mean's direction is the sum's, so normalizing suffices.
            rows = np.take(self._table, np.clip(np.asarray(ids), 0, last), axis=0)
            sums[row] = rows.sum(axis=0)
        return normalized(sums)
