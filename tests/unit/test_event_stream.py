"""The upstream's server-sent events are decoded as the SSE standard (and the SDK) reads them,
however the bytes are split across reads."""

import pytest

from threadline.providers.llm.event_stream import Event, EventStreamDecoder

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
    return [event.data for chunk in chunks for event in decoder.feed(chunk)]


def test_whole_stream() -> None:
    assert decode([STREAM]) == EVENTS


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 11])
def test_split_anywhere(size: int) -> None:
    chunks = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    assert decode(chunks) == EVENTS


def test_a_crlf_split_between_reads_is_one_line_end() -> None:
    assert decode([b"data: x\r", b"\n\r", b"\n"]) == [b"x"]


def events(chunks: list[bytes], *, keep_raw: bool = False) -> list[Event]:
    decoder = EventStreamDecoder(keep_raw=keep_raw)
    return [event for chunk in chunks for event in decoder.feed(chunk)]


NAMED = (
    b"event: thread.run.completed\r\n"
    b'data: {"a":\r\n'
    b"data: 1}\r\n"
    b": comment\r\n"
    b"\r\n"
    b"data\n"  # a field name alone: an empty value
    b"datum: not data\n"
    b"\n"
)


@pytest.mark.parametrize("size", [1, 2, 3, 5, len(NAMED)])
def test_event_names_and_data_lines_joined(size: int) -> None:
    chunks = [NAMED[i : i + size] for i in range(0, len(NAMED), size)]
    assert [(e.name, e.data) for e in events(chunks)] == [
        (b"thread.run.completed", b'{"a":\n1}'),
        (b"", b""),
    ]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, len(STREAM)])
def test_kept_raw_bytes_add_up_to_the_stream(size: int) -> None:
    chunks = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    decoder = EventStreamDecoder(keep_raw=True)
    read = [event for chunk in chunks for event in decoder.feed(chunk)]
    assert b"".join(event.raw for event in read) + decoder.pending() == STREAM
    assert [e.data for e in read if e.data or e.name] == EVENTS


def test_idle_only_between_events() -> None:
    decoder = EventStreamDecoder()
    assert decoder.idle
    decoder.feed(b"data: x\n")
    assert not decoder.idle
    decoder.feed(b"\n")
    assert decoder.idle
    decoder.feed(b"data: y\r")
    assert not decoder.idle


def test_a_line_over_the_limit_is_skipped_not_held() -> None:
    decoder = EventStreamDecoder(max_line=10)
    assert decoder.feed(b"data: " + b"x" * 20) == []
    assert decoder.feed(b"yyy\ndata: ok\n\n") == [Event(b"", b"ok")]
