"""Server-sent events, decoded incrementally from the bytes of a response: the one decoder of
the run engine's provider, the gateway's usage sniffer and the Assistants pass-through.

As the WHATWG standard reads them: lines end in LF, CRLF or CR, and a line or an event may be
split anywhere across reads; a blank line ends an event; its ``data:`` lines are joined by LF
(one space after the colon dropped), ``event:`` names it, comments (``:``, keep-alives),
``id``, ``retry`` and unknown fields are skipped; an event cut off by the end of the stream is
dropped. Data stays bytes, for ``orjson`` to parse. As the OpenAI SDKs read them, an event
with a name but no data is an event too (its data empty).

``keep_raw`` also keeps each event's own bytes (its lines and the blank line ending it), and
returns what ends without being an event (a comment and its blank line) as an event with no
name or data, so that a stream can be forwarded with one event left out."""

from typing import NamedTuple

_LINE_ENDS = (b"\n", b"\r")


class Event(NamedTuple):
    name: bytes  # b"" when the event has none (a "message")
    data: bytes
    raw: bytes = b""  # with keep_raw: the bytes it was read from


# NamedTuple's own __new__ is a Python function: a call a token, on the provider's path.
_new_event = tuple.__new__


class EventStreamDecoder:
    __slots__ = (
        "_data",
        "_discarding",
        "_keep_raw",
        "_max_line",
        "_name",
        "_partial",
        "_raw",
        "_skip_lf",
        "idle",
    )

    def __init__(self, *, keep_raw: bool = False, max_line: int | None = None) -> None:
        """``max_line``: longer lines are skipped rather than held (not with ``keep_raw``)."""
        self._keep_raw = keep_raw
        self._max_line = None if keep_raw else max_line
        self._partial = b""  # the start of a line whose end has not arrived yet
        self._data: list[bytes] = []  # the data lines of the event being read
        self._name = b""
        self._raw: list[bytes] = []  # with keep_raw: the lines of the event being read
        self._skip_lf = False  # the last read ended in CR: a LF opening the next one belongs to it
        self._discarding = False  # the line being read is over max_line
        # Between events: nothing read waits for more bytes (read on every chunk by the usage
        # sniffer, hence an attribute).
        self.idle = True

    def pending(self) -> bytes:
        """With keep_raw, the bytes read of an event not ended yet."""
        return b"".join(self._raw) + self._partial

    def feed(self, chunk: bytes) -> list[Event]:
        """The events that ``chunk`` completes."""
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
                if self._keep_raw:
                    self._raw.append(b"\n")
        buffer = self._partial + chunk if self._partial else chunk
        events = self._raw_lines(buffer) if self._keep_raw else self._lines(buffer)
        self.idle = not (self._partial or self._data or self._name or self._raw or self._skip_lf)
        return events

    def _lines(self, buffer: bytes) -> list[Event]:
        # The provider reads every token through here: the usual field forms are inlined.
        if b"\r" in buffer:
            self._skip_lf = buffer.endswith(b"\r")
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        *lines, partial = buffer.split(b"\n")
        if self._max_line is not None and len(partial) > self._max_line:
            partial, self._discarding = b"", True
        self._partial = partial
        events: list[Event] = []
        data = self._data
        for line in lines:
            if self._discarding:  # the end of a line too long to keep
                self._discarding = False
            elif not line:
                if data or self._name:
                    events.append(_new_event(Event, (self._name, b"\n".join(data), b"")))
                    data = self._data = []
                    self._name = b""
            elif line.startswith(b"data: "):
                data.append(line[6:])
            else:
                self._field(line)
        return events

    def _raw_lines(self, buffer: bytes) -> list[Event]:
        lines = buffer.splitlines(keepends=True)
        if lines and not lines[-1].endswith(_LINE_ENDS):
            self._partial = lines.pop()
        else:
            self._partial = b""
            self._skip_lf = buffer.endswith(b"\r")
        events: list[Event] = []
        for line in lines:
            self._raw.append(line)
            content = line.rstrip(b"\r\n")
            if not content:
                events.append(self._dispatch(b"".join(self._raw)))
            else:
                self._field(content)
        return events

    def _field(self, line: bytes) -> None:
        if line.startswith(b"data"):
            value = _value(line, 4)
            if value is not None:
                self._data.append(value)
        elif line.startswith(b"event"):
            value = _value(line, 5)
            if value is not None:
                self._name = value

    def _dispatch(self, raw: bytes) -> Event:
        event: Event = _new_event(Event, (self._name, b"\n".join(self._data), raw))
        self._data, self._name, self._raw = [], b"", []
        return event


def _value(line: bytes, length: int) -> bytes | None:
    """The value of a field line (no line end) whose name is ``line[:length]``; None if the
    line is another field (``datum: …``)."""
    if len(line) == length:
        return b""  # the field name alone: an empty value
    if line[length : length + 1] != b":":
        return None
    return line[length + 2 :] if line[length + 1 : length + 2] == b" " else line[length + 1 :]
