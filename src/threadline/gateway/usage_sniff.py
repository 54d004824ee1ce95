"""Token usage read from forwarded bytes, without parsing the responses themselves.

A JSON body's ``"usage": {...}`` is found by searching its bytes: inside a JSON string every
quote is escaped, so the text ``"usage":`` can only be the key itself. A Chat Completions stream
carries usage in its last chunk (``stream_options.include_usage``); every other chunk has
``"usage":null`` or none, so only an event with an object there is parsed.

``StreamUsage`` can also drop that last chunk, for clients that did not ask for it: the gateway
asks the upstream for usage always (it prices every response), and such clients may not
expect a chunk without choices."""

import re

import orjson

from threadline.providers.llm.event_stream import EventStreamDecoder

_USAGE_KEY = re.compile(rb'"usage"\s*:\s*\{')
_PROMPT = re.compile(rb'"prompt_tokens"\s*:\s*(\d+)')
_COMPLETION = re.compile(rb'"completion_tokens"\s*:\s*(\d+)')

Usage = tuple[int, int]  # prompt (input) tokens, completion (output) tokens


def body_usage(body: bytes) -> Usage | None:
    """Usage of a whole JSON response (chat completion or embeddings)."""
    found = _USAGE_KEY.search(body, max(body.rfind(b'"usage"'), 0))
    if found is None:
        return None
    tail = body[found.end() : found.end() + 2048]
    prompt = _PROMPT.search(tail)
    if prompt is None:
        return None
    completion = _COMPLETION.search(tail)
    return int(prompt.group(1)), int(completion.group(1)) if completion else 0


class StreamUsage:
    """Watches an SSE stream as it is forwarded; ``strip`` removes the usage-only chunk.

    Only what may hold usage goes through the SSE decoder: in a read without a usage object
    (nearly every one), the events it holds whole are passed on untouched, and only the end of
    an event begun in an earlier read and the start of one the next read ends are decoded. A
    read made of whole events, the usual one, thus costs a few substring tests."""

    def __init__(self, *, strip: bool) -> None:
        self.strip = strip
        self.usage: Usage | None = None
        # Stripping forwards whole events (so that one can be left out) and keeps every byte;
        # otherwise only a usage line matters, and a huge line is not worth holding.
        self._decoder = EventStreamDecoder(keep_raw=strip, max_line=_MAX_LINE)

    def feed(self, chunk: bytes) -> bytes:
        """Returns the bytes to forward for ``chunk`` (``chunk`` itself unless stripping)."""
        decoder = self._decoder
        if b"\r" in chunk or _has_usage(chunk):
            return self._whole(chunk)
        if decoder.idle and chunk.endswith(b"\n\n"):
            return chunk  # whole events, none with usage
        # Whole events in the middle of the read are passed on as they are; what comes before
        # them ends an event earlier reads began, what comes after begins one.
        start = 0
        if not decoder.idle:
            start = chunk.find(b"\n\n") + 2
            if start == 1:
                return self._whole(chunk)  # still inside the event earlier reads began
        last = chunk.rfind(b"\n\n", start)
        if last < 0:
            return self._whole(chunk)  # no whole event to pass by
        whole = last + 2
        head = self._decode(chunk[:start]) if start else b""
        tail = self._decode(chunk[whole:])
        return head + chunk[start:whole] + tail if self.strip else chunk

    def flush(self) -> bytes:
        """What is still held at the end of the stream (an event cut off, when stripping)."""
        return self._decoder.pending() if self.strip else b""

    def _whole(self, chunk: bytes) -> bytes:
        kept = self._decode(chunk)
        return kept if self.strip else chunk

    def _decode(self, data: bytes) -> bytes:
        """Reads ``data`` through the decoder; returns what to forward when stripping."""
        kept: list[bytes] = []
        for event in self._decoder.feed(data):
            usage = _event_usage(event.data) if _has_usage(event.data) else None
            if usage is not None:
                self.usage = usage
                if self.strip and usage_only(event.data):
                    continue  # the client did not ask for it
            if self.strip:
                kept.append(event.raw)
        return b"".join(kept)


_MAX_LINE = 65_536  # a usage chunk is far smaller


def _has_usage(data: bytes) -> bool:
    """A usage object (not ``"usage":null``) in ``data``; the usual spellings are found by
    substring search, rarer spacing by the pattern."""
    if b'"usage":{' in data or b'"usage": {' in data:
        return True
    return b'"usage" ' in data and _USAGE_KEY.search(data) is not None


def _event_usage(data: bytes) -> Usage | None:
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    usage = chunk.get("usage") if isinstance(chunk, dict) else None
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens", 0)
    if isinstance(prompt, int) and isinstance(completion, int):
        return prompt, completion
    return None


def usage_only(data: bytes) -> bool:
    """An event that only reports usage (no choices): the one include_usage adds."""
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return isinstance(chunk, dict) and not chunk.get("choices")
