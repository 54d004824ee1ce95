"""Reading one string field out of JSON arguments while they are still being written.

The model writes code_interpreter's code as the JSON arguments ``{"code": "..."}``, a few
characters per fragment; clients should see the code appear as it is written, decoded (real
newlines, not ``\\n``). ``StringFieldReader`` is fed the fragments and returns each time the
newly decoded part of the field's value, holding back an escape sequence cut in two."""

import json
import re

_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class StringFieldReader:
    def __init__(self, field: str) -> None:
        self._start = re.compile(
            r"\{\s*(?:.*?,\s*)?" + re.escape(json.dumps(field)) + r'\s*:\s*"', re.S
        )
        self._buffer = ""
        self._position: int | None = None  # where the value's undecoded rest starts
        self._done = False

    def feed(self, fragment: str) -> str:
        """The value's text decoded since the last call ('' if nothing new)."""
        self._buffer += fragment
        if self._done:
            return ""
        if self._position is None:
            found = self._start.match(self._buffer)
            if found is None:
                return ""
            self._position = found.end()
        decoded, self._position, self._done = _decode(self._buffer, self._position)
        return decoded


def _decode(buffer: str, position: int) -> tuple[str, int, bool]:
    """Decode from ``position`` up to the closing quote or the last complete character."""
    out: list[str] = []
    index = position
    while index < len(buffer):
        char = buffer[index]
        if char == '"':
            return "".join(out), index + 1, True
        if char != "\\":
            out.append(char)
            index += 1
            continue
        if index + 1 >= len(buffer):
            break  # the escape's second half has not arrived
        kind = buffer[index + 1]
        if kind == "u":
            code = _unicode_escape(buffer, index)
            if code is None:
                break
            text, index = code
            out.append(text)
            continue
        out.append(_ESCAPES.get(kind, kind))
        index += 2
    return "".join(out), index, False


def _unicode_escape(buffer: str, index: int) -> tuple[str, int] | None:
    """``\\uXXXX`` at ``index`` (a surrogate pair as one character); None until complete."""
    digits = buffer[index + 2 : index + 6]
    if len(digits) < 4:
        return None
    code = _hex(digits)
    if code is None:
        return "\ufffd", index + 6  # not JSON: shown as a replacement character
    if 0xD800 <= code < 0xDC00:
        low = buffer[index + 6 : index + 12]
        if len(low) < 6 and "\\u".startswith(low[:2]):
            return None  # the pair's second half may still come
        code_low = _hex(low[2:]) if low.startswith("\\u") else None
        if code_low is not None and 0xDC00 <= code_low < 0xE000:
            joined = 0x10000 + ((code - 0xD800) << 10) + (code_low - 0xDC00)
            return chr(joined), index + 12
    if 0xD800 <= code < 0xE000:
        return "\ufffd", index + 6  # a lone surrogate cannot be sent as UTF-8
    return chr(code), index + 6


def _hex(digits: str) -> int | None:
    try:
        return int(digits, 16) if len(digits) == 4 else None
    except ValueError:
        return None
