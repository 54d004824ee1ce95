"""Request and response bodies as the request log keeps them: cut to a size, with secrets out.

Values under secret-looking JSON keys (``api_key``, ``authorization``, ``password``, ``token``,
…) are replaced, and so is, anywhere in the text, whatever looks like a key (``sk-…``,
``Bearer …``) or shares 8 characters with a known secret (the request's own key, the master
key, the providers' keys)."""

import re
from collections.abc import Iterable
from typing import Any

import orjson

REDACTED = "[redacted]"
# A key named like a credential (``api_key``, ``access_token``), not ``max_tokens``.
_SECRET_FIELD = re.compile(
    r"^(?:.*[-_])?(?:api[-_]?key|authorization|password|passwd|secret|token|access[-_]?key"
    r"|credentials?)$",
    re.IGNORECASE,
)
_KEY_LIKE = re.compile(
    r"\b(?:sk|pk|rk|ak)[-_][A-Za-z0-9_\-]{8,}|\bBearer\s+[^\s\"']+", re.IGNORECASE
)
_WINDOW = 8


class BodyRedactor:
    def __init__(self, secrets: Iterable[str], limit: int = 65_536) -> None:
        self._limit = limit
        self._windows = set()
        for secret in secrets:
            self._windows.update(secret[i : i + _WINDOW] for i in range(len(secret) - _WINDOW + 1))

    def __call__(self, body: bytes, extra_secrets: Iterable[str] = ()) -> str:
        try:
            text = orjson.dumps(_walk(orjson.loads(body))).decode()
        except orjson.JSONDecodeError:
            text = body[: self._limit * 2].decode("utf-8", "replace")
        text = _KEY_LIKE.sub(REDACTED, text)
        windows = self._windows | {
            secret[i : i + _WINDOW]
            for secret in extra_secrets
            for i in range(len(secret) - _WINDOW + 1)
        }
        if windows and any(w in text for w in windows):
            text = self._scrub(text, windows)
        return text if len(text) <= self._limit else text[: self._limit] + "…[truncated]"

    @staticmethod
    def _scrub(text: str, windows: set[str]) -> str:
        def word(match: re.Match[str]) -> str:
            token = match.group(0)
            hit = any(token[i : i + _WINDOW] in windows for i in range(len(token) - _WINDOW + 1))
            return REDACTED if hit else token

        return re.sub(r"[^\s\"',;{}\[\]]+", word, text)


def _walk(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: REDACTED if _SECRET_FIELD.match(str(key)) and item else _walk(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_walk(item) for item in value]
    return value
