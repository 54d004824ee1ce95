"""Token usage read from forwarded bytes, without parsing the responses themselves.

A JSON body's ``"usage": {...}`` is found by searching its bytes: inside a JSON string every
quote is escaped, so the text ``"usage":`` can only be the key itself. A Chat Completions stream
carries usage in its last chunk (``stream_options.include_usage``); every other chunk has
``"usage":null`` or none, so only a data line with an object there is parsed.

``StreamUsage`` can also drop that last chunk, for clients that did not ask for it: the gateway
asks the upstream for usage always (it prices every response), and such clients may not
expect a chunk without choices."""

import re

import orjson

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
    """Watches an SSE stream as it is forwarded; ``strip`` removes the usage-only chunk."""

    def __init__(self, *, strip: bool) -> None:
        self.strip = strip
        self.usage: Usage | None = None
        self._partial = b""

    def feed(self, chunk: bytes) -> bytes:
        """Returns the bytes to forward for ``chunk`` (``chunk`` itself unless stripping)."""
        if not self.strip:
            # Plain substring tests first: they cost a fraction of a regex per chunk.
            if self._partial or not chunk.endswith(b"\n") or _has_usage(chunk):
                self._scan(chunk)
            return chunk
        # Stripping: only whole lines go out, so that the usage line can be left out.
        data = self._partial + chunk
        cut = data.rfind(b"\n") + 1
        self._partial = data[cut:]
        complete = data[:cut]
        if not _has_usage(complete):
            return complete
        kept = []
        skip_blank = False
        for line in complete.splitlines(keepends=True):
            if skip_blank and not line.strip():
                skip_blank = False
                continue  # the blank line that ended the dropped event
            skip_blank = False
            usage = _line_usage(line)
            if usage is not None:
                self.usage = usage
                if usage_only(line):
                    skip_blank = True
                    continue
            kept.append(line)
        return b"".join(kept)

    def flush(self) -> bytes:
        rest, self._partial = self._partial, b""
        if rest and not self.strip:
            return b""
        return rest

    def _scan(self, chunk: bytes) -> None:
        data = self._partial + chunk
        cut = data.rfind(b"\n") + 1
        self._partial = data[cut:][-65536:]
        if _USAGE_KEY.search(data, 0, cut):
            for line in data[:cut].splitlines():
                usage = _line_usage(line)
                if usage is not None:
                    self.usage = usage


def _has_usage(data: bytes) -> bool:
    """A usage object (not ``"usage":null``) in ``data``; the usual spellings are found by
    substring search, rarer spacing by the pattern."""
    if b'"usage":{' in data or b'"usage": {' in data:
        return True
    return b'"usage" ' in data and _USAGE_KEY.search(data) is not None


def _line_usage(line: bytes) -> Usage | None:
    if not line.startswith(b"data:") or not _USAGE_KEY.search(line):
        return None
    try:
        data = orjson.loads(line[5:])
    except orjson.JSONDecodeError:
        return None
    usage = data.get("usage") if isinstance(data, dict) else None
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens", 0)
    if isinstance(prompt, int) and isinstance(completion, int):
        return prompt, completion
    return None


def usage_only(line: bytes) -> bool:
    """A chunk that only reports usage (no choices): the one include_usage adds."""
    try:
        data = orjson.loads(line[5:])
    except orjson.JSONDecodeError:
        return False
    return isinstance(data, dict) and not data.get("choices")
