"""``rewrite_query``: polite openers and closing punctuation go, the question itself stays."""

import pytest

from threadline.engine.retrieval.rewrite import rewrite_query


@pytest.mark.parametrize(
    ("query", "rewritten"),
    [
        (
            "I'd like to know the height of the main office building",
            "the height of the main office building",
        ),
        (
            "Can you tell me how os.path.join handles absolute paths?",
            "how os.path.join handles absolute paths",
        ),
        ("Please, could you tell me what SIGTERM does?", "what SIGTERM does"),
        ("Hello! I was wondering about the GIL.", "the GIL"),
        ("what is it?", "what is it"),
        ("show metrics", "show metrics"),  # "show me" is an opener; "show" alone is content
        ("Tellurium melting point", "Tellurium melting point"),  # openers match whole words
    ],
)
def test_rewrites(query: str, rewritten: str) -> None:
    assert rewrite_query(query) == rewritten


@pytest.mark.parametrize("query", ["Tell me", "?", "please"])
def test_a_query_with_nothing_left_is_kept(query: str) -> None:
    assert rewrite_query(query) == query
