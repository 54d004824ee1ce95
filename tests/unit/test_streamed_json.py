"""Code decoded from JSON arguments as they stream, whatever the fragment boundaries."""

import json

from hypothesis import given
from hypothesis import strategies as st

from threadline.engine.tools.streamed_json import StringFieldReader


def _read(fragments: list[str]) -> str:
    reader = StringFieldReader("code")
    return "".join(reader.feed(fragment) for fragment in fragments)


def _split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


@given(st.text(), st.lists(st.integers(min_value=0), max_size=12), st.booleans())
def test_any_split_decodes_to_the_value(code: str, cuts: list[int], ascii_only: bool) -> None:
    arguments = json.dumps({"code": code}, ensure_ascii=ascii_only)
    expected = code.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    assert _read(_split(arguments, cuts)) == expected


def test_other_fields_first_and_after() -> None:
    arguments = '{"lang": "py", "code": "print(\\"hi\\")\\n", "x": "ignored"}'
    assert _read(list(arguments)) == 'print("hi")\n'


def test_nothing_until_the_field_starts() -> None:
    reader = StringFieldReader("code")
    assert reader.feed('{"co') == ""
    assert reader.feed('de": "a') == "a"
    assert reader.feed("\\") == ""
    assert reader.feed("tb") == "\tb"
    assert reader.feed('"}') == ""
