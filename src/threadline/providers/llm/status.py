"""What an upstream says when it fails: its error body, its in-band stream errors, and how long
it asks us to wait before the next attempt."""

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from threadline.records.jsonvalue import JsonObject


class InBandError(Exception):
    """An ``{"error": …}`` event inside a stream that had started fine."""

    def __init__(self, error: object) -> None:
        message = error.get("message") if isinstance(error, dict) else None
        super().__init__(message if isinstance(message, str) and message else "")
        self.message = message if isinstance(message, str) and message else ""
        self.body: JsonObject = error_body(error)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the upstream asked us to wait: ``retry-after-ms``, then ``retry-after`` as
    seconds or as an HTTP date."""
    try:
        millis = headers.get("retry-after-ms")
        if millis is not None:
            return max(float(millis) / 1000, 0.0)
    except (TypeError, ValueError):
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def error_body(body: object) -> JsonObject:
    """The ``{"message", "type", "code"}`` object of an OpenAI-style error body, or {}."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    return body if isinstance(body, dict) else {}
