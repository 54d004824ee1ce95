"""Shared by the retrieval benchmarks: the corpus, the questions, judging a hit, embedders."""

import hashlib
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
QUESTIONS = HERE / "questions.tsv"
HELDOUT = HERE / "heldout_questions.tsv"  # measure only, never tune (HELDOUT.md)
CACHE = Path("/tmp/threadline-bench-embeddings")
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2014": "-"})
_PILCROW = str.maketrans({"\u00b6": " "})


@dataclass(frozen=True)
class Question:
    number: int
    file: str
    answer: str
    text: str

    @property
    def split(self) -> str:
        # Every fourth question tunes (chunking, fusion); the other three quarters are reported.
        return "dev" if self.number % 4 == 0 else "test"


def questions() -> list[Question]:
    rows = [
        line.rstrip("\n").split("\t")
        for line in QUESTIONS.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return [Question(i, f, a, q) for i, (f, a, q) in enumerate(rows)]


@dataclass(frozen=True)
class HeldoutQuestion:
    id: str
    difficulty: str  # easy | medium | hard
    file: str
    text: str
    snippet: str


def heldout_questions() -> list[HeldoutQuestion]:
    lines = HELDOUT.read_text(encoding="utf-8").splitlines()
    rows = [line.split("\t") for line in lines[1:] if line.strip()]
    return [HeldoutQuestion(*row) for row in rows]


def _spaces_collapsed(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def is_heldout_hit(question: HeldoutQuestion, file_id: str, chunk_text: str) -> bool:
    """HELDOUT.md's snippet rule: whitespace collapsed, then a case-sensitive substring."""
    return file_id == question.file and (
        _spaces_collapsed(question.snippet) in _spaces_collapsed(chunk_text)
    )


def normalized(text: str) -> str:
    # PDFs in the corpus were written in Latin-1 with plain quotes; HTML keeps its pilcrows.
    return re.sub(r"\s+", " ", text.translate(_QUOTES).translate(_PILCROW)).strip().lower()


def is_hit(question: Question, file_id: str, chunk_text: str) -> bool:
    return file_id == question.file and normalized(question.answer) in normalized(chunk_text)


def corpus_files() -> list[Path]:
    return sorted(
        p for p in CORPUS.iterdir() if p.suffix in {".html", ".md", ".txt", ".pdf", ".docx"}
    )


class CachedEmbedder:
    """Wraps an embedder; vectors are cached on disk by text, so re-runs skip the model."""

    def __init__(self, inner, name: str) -> None:
        self.inner = inner
        self.name = name
        CACHE.mkdir(parents=True, exist_ok=True)
        self._path = CACHE / f"{name}.npz"
        self._cache: dict[str, np.ndarray] = {}
        if self._path.exists():
            data = np.load(self._path)
            self._cache = {k: data[k] for k in data.files}
        self.computed = 0

    @property
    def model(self) -> str:
        return self.inner.model

    @property
    def passage_tokens(self) -> int:
        return self.inner.passage_tokens

    async def embed(self, texts: Sequence[str], *, kind: str = "passage") -> np.ndarray:
        keys = [hashlib.sha1(f"{kind}:{t}".encode()).hexdigest() for t in texts]
        missing = [i for i, k in enumerate(keys) if k not in self._cache]
        if missing:
            vectors = await self.inner.embed([texts[i] for i in missing], kind=kind)
            for i, vector in zip(missing, vectors, strict=True):
                self._cache[keys[i]] = vector
            self.computed += len(missing)
        return np.stack([self._cache[k] for k in keys]) if keys else np.zeros((0, 0), np.float32)

    def save(self) -> None:
        np.savez(self._path, **self._cache)

    async def aclose(self) -> None:
        await self.inner.aclose()
