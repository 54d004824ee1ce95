"""Fusing vector and keyword rankings into scores in 0..1, and the keyword query's terms."""

import pytest

from threadline.engine.retrieval.fusion import FusionOptions, fuse, keyword_terms
from threadline.providers.vector_index.base import Candidate


def ranked(*chunks: int, scores: list[float] | None = None) -> list[Candidate]:
    values = scores or [1.0 - i / 10 for i in range(len(chunks))]
    return [Candidate("vs", "file", c, s) for c, s in zip(chunks, values, strict=True)]


def test_rrf_puts_a_chunk_first_in_both_lists_at_one():
    scores = fuse([ranked(1, 2, 3)], [ranked(1, 3, 2)], FusionOptions("rrf"))
    assert scores[("vs", "file", 1)] == pytest.approx(1.0)
    assert all(0 < s <= 1 for s in scores.values())
    assert scores[("vs", "file", 1)] > scores[("vs", "file", 3)] > 0


def test_rrf_rewards_agreement_over_a_single_first_place():
    scores = fuse([ranked(1, 2)], [ranked(2, 3)], FusionOptions("rrf"))
    assert scores[("vs", "file", 2)] > scores[("vs", "file", 1)]


def test_rrf_adds_up_over_several_queries():
    one = fuse([ranked(1)], [ranked(1)], FusionOptions("rrf"))
    two = fuse([ranked(1), ranked(2)], [ranked(1), ranked(2)], FusionOptions("rrf"))
    assert one[("vs", "file", 1)] == pytest.approx(1.0)
    assert two[("vs", "file", 1)] == pytest.approx(0.5)


def test_convex_mixes_similarity_and_relative_keyword_score():
    vectors = [ranked(1, 2, scores=[0.8, 0.4])]
    keywords = [ranked(2, 1, scores=[10.0, 5.0])]
    scores = fuse(vectors, keywords, FusionOptions("convex", vector_weight=0.5))
    assert scores[("vs", "file", 1)] == pytest.approx(0.5 * 0.8 + 0.5 * 0.5)
    assert scores[("vs", "file", 2)] == pytest.approx(0.5 * 0.4 + 0.5 * 1.0)


def test_single_mode_scores_stay_in_range():
    vector_only = fuse([ranked(1, scores=[-0.3])], [], FusionOptions("convex", vector_weight=1.0))
    assert vector_only[("vs", "file", 1)] == 0.0
    keyword_only = fuse([], [ranked(4, 5, scores=[3.0, 1.5])], FusionOptions("convex", 0, 0.0))
    assert keyword_only == {("vs", "file", 4): 1.0, ("vs", "file", 5): 0.5}


def test_keyword_terms_drop_stop_words_and_repeats():
    assert keyword_terms("What is the default Timeout of the timeout?") == ["default", "timeout"]
    assert keyword_terms("the of") == ["the", "of"]  # nothing but stop words: keep them
    assert keyword_terms("") == []
