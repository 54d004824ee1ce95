"""Vector search over a store's passages held in memory as one numpy matrix.

Up to ``EXACT_ROWS`` passages: brute force, one matrix-vector product and a partial sort. Beyond,
reading the whole float32 matrix for every query costs more than the rest of a search (200k
passages are 300 MB of memory to read), so a first pass ranks every passage by the
Hamming distance of 1-bit codes (the sign of each dimension: 48 bytes for 384 dimensions, 1/32 of
the matrix) and only the closest ``RESCORE_SHARE`` are scored exactly. This binary quantization with
rescoring keeps the exact top results (checked in tests/unit/test_vector_matrix.py).

Each file's passages are a segment; the store's matrix is their concatenation, rebuilt lazily after
a change, after which the segments become views into it (so memory is the matrix, not twice it)."""

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from threadline.providers.vector_index.base import Candidate, Vectors

EXACT_ROWS = 20_000
# Rescored share of the rows: small, yet on real MiniLM vectors it keeps nearly all of the exact
# top 10 (docs/benchmarks.md#design-choices).
RESCORE_SHARE = 0.03


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
    # Sign bits, packed: (64-bit words, rows), word-major so that each word's pass over the rows
    # reads contiguous memory; None for small stores.
    codes: npt.NDArray[np.uint64] | None


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
        keep = None
        if allowed is not None:
            keep = np.array([allowed(f) for f in packed.file_ids], dtype=bool)[packed.row_file]
        # Enough passages to fill ``limit`` chunks even when several share a chunk.
        take = min(len(packed.vectors), limit * 4)
        share = int(len(packed.vectors) * RESCORE_SHARE)
        rows = _candidates(packed, query, keep, max(share, take * 5))
        if rows is None:
            scores = packed.vectors @ query
        else:  # take() with ascending rows: the cheapest way to gather them
            scores = np.take(packed.vectors, rows, axis=0) @ query
        if keep is not None:
            scores = np.where(keep[rows] if rows is not None else keep, scores, -np.inf)
        take = min(take, len(scores))
        top = np.argpartition(-scores, take - 1)[:take]
        top = top[np.argsort(-scores[top], kind="stable")]
        best: dict[tuple[str, int], float] = {}
        for position in top:
            score = float(scores[position])
            if score == -np.inf:
                break
            row = rows[position] if rows is not None else position
            file_id = packed.file_ids[packed.row_file[row]]
            for chunk in range(int(packed.first_chunk[row]), int(packed.last_chunk[row]) + 1):
                best.setdefault((file_id, chunk), score)
        ranked = sorted(best.items(), key=lambda item: -item[1])[:limit]
        return [Candidate(store_id, f, c, s) for (f, c), s in ranked]

    def memory_bytes(self) -> int:
        """The arrays held: segments are views into the packed matrix once it is built."""
        with self._lock:
            packed = list(self._packed.values())
            packed_vectors = sum(p.vectors.nbytes for p in packed)
            segments = sum(s.vectors.nbytes for s in self._segments.values())
            extra = sum(
                p.row_file.nbytes
                + p.first_chunk.nbytes
                + p.last_chunk.nbytes
                + (p.codes.nbytes if p.codes is not None else 0)
                for p in packed
            )
            return max(packed_vectors, segments) + extra

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
                codes=(
                    np.ascontiguousarray(_codes(vectors).T) if len(vectors) > EXACT_ROWS else None
                ),
            )
            offset = 0
            for name, part, size in zip(names, parts, sizes, strict=True):
                part.vectors = vectors[offset : offset + size]  # a view: no second copy
                offset += size
                self._segments[name] = part
            self._packed[model] = packed
            return packed


def _codes(vectors: Vectors) -> npt.NDArray[np.uint64]:
    bits = np.packbits(vectors > 0, axis=1)
    padding = (-bits.shape[1]) % 8  # whole 64-bit words
    bits = np.pad(bits, ((0, 0), (0, padding)))
    return np.ascontiguousarray(bits).view(np.uint64)


def _candidates(
    packed: _Packed, query: Vectors, keep: npt.NDArray[np.bool_] | None, count: int
) -> npt.NDArray[np.intp] | None:
    """The rows to score exactly: all (None) for a small store, else the ``count`` nearest by
    Hamming distance of the sign codes (ties at the cut: the first rows), ascending."""
    codes = packed.codes
    if codes is None or count >= len(packed.vectors):
        return None
    code = _codes(query.reshape(1, -1))[0]
    rows = codes.shape[1]
    distance = np.zeros(rows, dtype=np.uint16)
    word = np.empty(rows, dtype=np.uint64)
    bits = np.empty(rows, dtype=np.uint8)
    for index in range(codes.shape[0]):  # a few passes over contiguous words, no temporaries
        np.bitwise_xor(codes[index], code[index], out=word)
        np.bitwise_count(word, out=bits)
        distance += bits
    excluded = np.iinfo(np.uint16).max
    if keep is not None:
        distance[~keep] = excluded
    # Distances are small integers: the cut comes from their histogram, not a partial sort.
    histogram = np.bincount(distance, minlength=excluded + 1)
    cut = int(np.searchsorted(np.cumsum(histogram), count))
    below = np.flatnonzero(distance < cut)
    at_cut = np.flatnonzero(distance == cut)[: count - len(below)]
    return np.sort(np.concatenate([below, at_cut]))


def segment_of(model: str, vectors: Vectors, chunks: Sequence[tuple[int, int]]) -> Segment:
    spans = np.array(chunks, dtype=np.int32).reshape(-1, 2)
    return Segment(model, np.ascontiguousarray(vectors, dtype=np.float32), spans[:, 0], spans[:, 1])
