"""Exact vector search over a store's passages held in memory as one numpy matrix.

Brute force is exact and, for the few hundred thousand passages one store holds, fast: one
matrix-vector product (memory-bound, a few ms per 100k passages) and a partial sort. Each file's
passages are a segment; the store's matrix is their concatenation, rebuilt lazily after a change,
after which the segments become views into it (so memory is the matrix, not twice it)."""

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from threadline.providers.vector_index.base import Candidate, Vectors


@dataclass(slots=True)
class Segment:
    """One file's passages."""

    model: str
    vectors: Vectors  # (passages, dimensions)
    first_chunk: npt.NDArray[np.int32]
    last_chunk: npt.NDArray[np.int32]


@dataclass(slots=True)
class _Packed:
    vectors: Vectors
    file_ids: list[str]
    row_file: npt.NDArray[np.int32]  # row -> position in file_ids
    first_chunk: npt.NDArray[np.int32]
    last_chunk: npt.NDArray[np.int32]
    model: str


class StoreMatrix:
    def __init__(self) -> None:
        self._segments: dict[str, Segment] = {}
        self._packed: dict[str, _Packed] = {}  # per model, valid until the next change
        self._lock = threading.Lock()

    def put(self, file_id: str, segment: Segment) -> None:
        with self._lock:
            self._segments[file_id] = segment
            self._packed.clear()

    def remove(self, file_id: str) -> None:
        with self._lock:
            if self._segments.pop(file_id, None) is not None:
                self._packed.clear()

    def search(
        self,
        store_id: str,
        query: Vectors,
        model: str,
        limit: int,
        allowed: Callable[[str], bool] | None = None,
    ) -> list[Candidate]:
        packed = self._pack(model)
        if packed is None:
            return []
        scores = packed.vectors @ query
        if allowed is not None:
            keep = np.array([allowed(f) for f in packed.file_ids], dtype=bool)
            scores = np.where(keep[packed.row_file], scores, -np.inf)
        # Enough passages to fill ``limit`` chunks even when several share a chunk.
        take = min(len(scores), limit * 4)
        top = np.argpartition(-scores, take - 1)[:take]
        top = top[np.argsort(-scores[top], kind="stable")]
        best: dict[tuple[str, int], float] = {}
        for row in top:
            score = float(scores[row])
            if score == -np.inf:
                break
            file_id = packed.file_ids[packed.row_file[row]]
            for chunk in range(int(packed.first_chunk[row]), int(packed.last_chunk[row]) + 1):
                best.setdefault((file_id, chunk), score)
        ranked = sorted(best.items(), key=lambda item: -item[1])[:limit]
        return [Candidate(store_id, f, c, s) for (f, c), s in ranked]

    def _pack(self, model: str) -> _Packed | None:
        with self._lock:
            packed = self._packed.get(model)
            if packed is not None:
                return packed
            names = [f for f, s in self._segments.items() if s.model == model and len(s.vectors)]
            if not names:
                return None
            parts = [self._segments[f] for f in names]
            vectors = np.concatenate([p.vectors for p in parts])
            sizes = [len(p.vectors) for p in parts]
            packed = _Packed(
                vectors=vectors,
                file_ids=names,
                row_file=np.repeat(np.arange(len(names), dtype=np.int32), sizes),
                first_chunk=np.concatenate([p.first_chunk for p in parts]),
                last_chunk=np.concatenate([p.last_chunk for p in parts]),
                model=model,
            )
            offset = 0
            for name, part, size in zip(names, parts, sizes, strict=True):
                part.vectors = vectors[offset : offset + size]  # a view: no second copy
                offset += size
                self._segments[name] = part
            self._packed[model] = packed
            return packed


def segment_of(model: str, vectors: Vectors, chunks: Sequence[tuple[int, int]]) -> Segment:
    spans = np.array(chunks, dtype=np.int32).reshape(-1, 2)
    return Segment(model, np.ascontiguousarray(vectors, dtype=np.float32), spans[:, 0], spans[:, 1])
