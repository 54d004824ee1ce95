"""Turning the two rankings (vector similarity, keyword relevance) of one or more queries into one
list with scores in 0..1.

- ``rrf``: reciprocal rank fusion, sum of 1 / (k + rank) over the lists a chunk appears in,
  divided by the most a chunk could get (first in every list), so 1.0 means "best everywhere".
- ``convex``: a weighted sum of the vector similarity (cosine, clamped to 0..1) and the keyword
  score relative to the best keyword score of the same query.

The benchmark (``bench/retrieval``) chooses between them and tunes the weights on its dev split."""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from threadline.providers.vector_index.base import Candidate, ChunkKey

Fusion = Literal["rrf", "convex"]


@dataclass(frozen=True, slots=True)
class FusionOptions:
    # Chosen on the benchmark's dev split (bench/retrieval/quality.py): equal-weight RRF with a
    # small k, which lets a first place in either list count for more than with the usual 60.
    method: Fusion = "rrf"
    rrf_k: int = 10
    vector_weight: float = 0.5  # rrf: weight of the vector list (keyword: 1 - this); convex too


def fuse(
    vector_lists: Sequence[list[Candidate]],
    keyword_lists: Sequence[list[Candidate]],
    options: FusionOptions,
) -> dict[ChunkKey, float]:
    """Scores in 0..1 per chunk; lists come one per query (empty when that mode was not run)."""
    scores: dict[ChunkKey, float] = {}
    lists = [(c, options.vector_weight) for c in vector_lists] + [
        (c, 1.0 - options.vector_weight) for c in keyword_lists
    ]
    active = [(c, w) for c, w in lists if w > 0]
    if not active:
        return scores
    if options.method == "rrf":
        best_possible = sum(w for _, w in active) / (options.rrf_k + 1)
        for candidates, weight in active:
            for rank, candidate in enumerate(candidates, start=1):
                key = _key(candidate)
                scores[key] = scores.get(key, 0.0) + weight / (options.rrf_k + rank)
        return {k: min(1.0, v / best_possible) for k, v in scores.items()}
    # convex: per query, combine the two normalised scores; across queries keep the best.
    queries = max(len(vector_lists), len(keyword_lists))
    for q in range(queries):
        per_query: dict[ChunkKey, float] = {}
        if q < len(vector_lists) and options.vector_weight > 0:
            for candidate in vector_lists[q]:
                similarity = max(0.0, min(1.0, candidate.score))
                per_query[_key(candidate)] = options.vector_weight * similarity
        if q < len(keyword_lists) and options.vector_weight < 1 and keyword_lists[q]:
            top = max(c.score for c in keyword_lists[q]) or 1.0
            for candidate in keyword_lists[q]:
                relative = max(0.0, candidate.score) / top
                key = _key(candidate)
                per_query[key] = per_query.get(key, 0.0) + (1 - options.vector_weight) * relative
        for key, value in per_query.items():
            scores[key] = max(scores.get(key, 0.0), value)
    return scores


def _key(candidate: Candidate) -> ChunkKey:
    return (candidate.store_id, candidate.file_id, candidate.chunk_index)


_WORD = re.compile(r"\w+", re.UNICODE)
# Words too common to tell chunks apart; dropping them keeps keyword queries fast and on topic.
_STOPWORD_TEXT = """
    a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its
    itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_MAX_TERMS = 32


def keyword_terms(query: str) -> list[str]:
    """The query's words for keyword search: lower-cased, without stop words, each once."""
    words = [w.lower() for w in _WORD.findall(query)]
    kept = [w for w in words if w not in _STOPWORDS] or words
    return list(dict.fromkeys(kept))[:_MAX_TERMS]
