"""Integers from a request's text (query strings, form fields, headers): ASCII digits only, in
bounds, or a 400 naming the parameter.

``str.isdigit`` accepts superscripts (``²``) that ``int`` then refuses, and ``int`` itself takes
other scripts' digits, surrounding spaces and ``_``; an unbounded value would only fail in the
database. Every integer a client sends as text goes through here."""

import re

from threadline.errors import InvalidRequest

# An optional minus sign and at most 19 digits: every bound used is below 10**18, so nothing
# longer can be in range, and int() never sees a huge string.
_INTEGER = re.compile(r"-?[0-9]{1,19}")
_SHOWN = 40  # characters of a bad value echoed in the error

# Unix milliseconds up to the end of year 9999: a time filter beyond that is a mistake.
MAX_UNIX_MS = 253_402_300_799_999


def ascii_int(text: str | bytes) -> int | None:
    """``text`` as an integer if it is written in (at most 19) ASCII digits, else None."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    if _INTEGER.fullmatch(text) is None:
        return None
    return int(text)


def parse_int(raw: str, param: str, minimum: int, maximum: int, message: str | None = None) -> int:
    """``raw`` as an integer between ``minimum`` and ``maximum`` (inclusive), or a 400 with
    ``param``; ``message`` replaces the default explanation."""
    value = ascii_int(raw)
    if value is not None and minimum <= value <= maximum:
        return value
    shown = raw if len(raw) <= _SHOWN else raw[:_SHOWN] + "…"
    raise InvalidRequest(
        message
        or f"Invalid '{param}': expected an integer between {minimum} and {maximum}, got "
        f"'{shown}'.",
        param=param,
    )
