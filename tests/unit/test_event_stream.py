"""The upstream's server-sent events are decoded as the SSE standard (and the SDK) reads them,
however the bytes are split across reads."""

import pytest

from threadline.providers.llm.event_stream import EventStreamDecoder

STREAM = (
    b": keep-alive\n\n"
    b'data: {"a":1}\n\n'
    b"data:no-space\r\n\r\n"
    b"data: first\rdata:  second\r\r"
    b"event: ping\nid: 7\nretry: 10\n\n"
    b"data: [DONE]\n\n"
    b"data: cut off"
)
EVENTS = [b'{"a":1}', b"no-space", b"first\n second", b"", b"[DONE]"]


def decode(chunks: list[bytes]) -> list[bytes]:
    decoder = EventStreamDecoder()
    return [event for chunk in chunks for event in decoder.feed(chunk)]


def test_whole_stream() -> None:
    assert decode([STREAM]) == EVENTS


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 11])
def test_split_anywhere(size: int) -> None:
    chunks = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    assert decode(chunks) == EVENTS


def test_a_crlf_split_between_reads_is_one_line_end() -> None:
    assert decode([b"data: x\r", b"\n\r", b"\n"]) == [b"x"]
