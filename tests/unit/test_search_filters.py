"""OpenAI's attribute filters, as every index applies them."""

import pytest

from threadline.providers.vector_index.filters import matches

ATTRIBUTES = {"author": "ada", "year": 2021, "score": 4.5, "draft": False}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (None, True),
        ({}, True),
        ({"type": "eq", "key": "author", "value": "ada"}, True),
        ({"key": "author", "value": "ada"}, True),  # type defaults to eq
        ({"type": "eq", "key": "author", "value": "bob"}, False),
        ({"type": "ne", "key": "author", "value": "bob"}, True),
        ({"type": "ne", "key": "missing", "value": "x"}, True),
        ({"type": "eq", "key": "missing", "value": "x"}, False),
        ({"type": "gt", "key": "year", "value": 2020}, True),
        ({"type": "gte", "key": "year", "value": 2021}, True),
        ({"type": "lt", "key": "year", "value": 2021}, False),
        ({"type": "lte", "key": "score", "value": 4.5}, True),
        ({"type": "gt", "key": "author", "value": 3}, False),  # different types never order
        ({"type": "eq", "key": "year", "value": 2021.0}, True),  # numbers compare as numbers
        ({"type": "eq", "key": "draft", "value": False}, True),
        ({"type": "eq", "key": "draft", "value": 0}, False),  # a boolean is not a number
        ({"type": "in", "key": "author", "value": ["bob", "ada"]}, True),
        ({"type": "nin", "key": "author", "value": ["bob", "ada"]}, False),
        ({"type": "nin", "key": "missing", "value": ["x"]}, True),
        ({"type": "gt", "key": "missing", "value": 1}, False),
        ({"type": "bogus", "key": "year", "value": 1}, False),
    ],
)
def test_comparison_filters(filters, expected):
    assert matches(filters, ATTRIBUTES) is expected


def test_compound_filters_nest():
    recent = {"type": "gte", "key": "year", "value": 2020}
    by_bob = {"type": "eq", "key": "author", "value": "bob"}
    not_draft = {"type": "eq", "key": "draft", "value": False}
    assert matches({"type": "and", "filters": [recent, not_draft]}, ATTRIBUTES)
    assert not matches({"type": "and", "filters": [recent, by_bob]}, ATTRIBUTES)
    assert matches({"type": "or", "filters": [by_bob, recent]}, ATTRIBUTES)
    nested = {"type": "and", "filters": [{"type": "or", "filters": [by_bob, recent]}, not_draft]}
    assert matches(nested, ATTRIBUTES)
    assert not matches({"type": "or", "filters": [by_bob]}, ATTRIBUTES)


def test_files_without_attributes_only_match_negations():
    assert not matches({"type": "eq", "key": "a", "value": 1}, None)
    assert matches({"type": "ne", "key": "a", "value": 1}, None)
