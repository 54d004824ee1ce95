"""Server-sent events, decoded incrementally from the bytes of a response.

Only what a Chat Completions stream needs: each event's ``data`` (its ``data:`` lines joined by
newlines), as bytes, for ``orjson`` to parse. Lines may end in LF, CRLF or CR, and a line or an
event may be split anywhere across reads; an event cut off by the end of the stream is dropped,
as the SSE standard says. Comments (keep-alives), ``id`` and ``retry`` are skipped, and so is the
``event`` name: an OpenAI-compatible stream carries everything in ``data`` (an event with a name
but no data has empty data, as the SDK reads it)."""


class EventStreamDecoder:
    def __init__(self) -> None:
        self._partial = b""  # the start of a line whose end has not arrived yet
        self._data: list[bytes] = []  # the data lines of the event being read
        self._named = False  # the event being read has an ``event:`` line
        self._skip_lf = False  # the last read ended in CR: a LF opening the next one belongs to it

    def feed(self, chunk: bytes) -> list[bytes]:
        """The data of every event that ``chunk`` completes."""
        if self._skip_lf and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self._skip_lf = False
        buffer = self._partial + chunk if self._partial else chunk
        if b"\r" in buffer:
            self._skip_lf = buffer.endswith(b"\r")
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        *lines, self._partial = buffer.split(b"\n")
        events: list[bytes] = []
        for line in lines:
            if not line:  # a blank line ends the event
                if self._data or self._named:
                    events.append(b"\n".join(self._data))
                    self._data = []
                    self._named = False
            elif line.startswith(b"data:"):
                value = line[5:]
                self._data.append(value[1:] if value[:1] == b" " else value)
            elif line.startswith(b"event:"):
                self._named = line[6:] not in (b"", b" ")
        return events
