"""Token usage read from an Anthropic answer passed through untouched (``/v1/messages`` to a
provider of kind ``anthropic``), for metering.

A JSON ``Message`` has it in its ``usage``; a stream in ``message_start`` (the input, with the
cached parts) and ``message_delta`` (the output so far, and on newer APIs the input again),
both read here. The prompt metered is the sum of the three input fields, as Anthropic counts
it. Only events that may hold usage are parsed; the bytes are forwarded as they came."""

from collections.abc import Mapping

import orjson

from threadline.gateway.usage_sniff import Usage
from threadline.providers.llm.event_stream import EventStreamDecoder

_INPUT_FIELDS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
_MAX_LINE = 65_536  # a message_start or message_delta is far smaller


def message_usage(body: bytes) -> Usage | None:
    """Usage of a whole ``Message`` (or a ``count_tokens`` answer: no output)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    usage = data.get("usage") if isinstance(data, dict) else None
    if not isinstance(usage, dict):
        return None
    return _input(usage) or 0, _count(usage.get("output_tokens")) or 0


class MessagesStreamUsage:
    """Watches a Messages stream as it is forwarded."""

    def __init__(self) -> None:
        self._decoder = EventStreamDecoder(max_line=_MAX_LINE)
        self._counts: dict[str, int] = {}  # the latest figure of each usage field

    @property
    def usage(self) -> Usage | None:
        if not self._counts:
            return None
        return _input(self._counts) or 0, self._counts.get("output_tokens", 0)

    @property
    def between_events(self) -> bool:
        """Whether what was read so far ends with a whole event (no event is cut off)."""
        return self._decoder.idle

    def feed(self, chunk: bytes) -> None:
        for event in self._decoder.feed(chunk):
            if b'"usage"' not in event.data:
                continue  # content deltas and pings: most of a stream
            try:
                data = orjson.loads(event.data)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(data, dict):
                continue
            holder = data.get("message") if data.get("type") == "message_start" else data
            usage = holder.get("usage") if isinstance(holder, dict) else None
            if isinstance(usage, dict):
                self._take(usage)

    def _take(self, usage: Mapping[str, object]) -> None:
        # Later events repeat what they know cumulatively: the last figure of a field wins.
        for name in (*_INPUT_FIELDS, "output_tokens"):
            count = _count(usage.get(name))
            if count is not None:
                self._counts[name] = count


def _input(usage: Mapping[str, object]) -> int | None:
    counts = [_count(usage.get(name)) for name in _INPUT_FIELDS]
    if counts[0] is None:
        return None
    return sum(count or 0 for count in counts)


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
