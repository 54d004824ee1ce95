"""Upstream text made safe to show: an upstream's error message may echo our key or its URL."""

import re
from collections.abc import Iterable

_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
_KEY_LIKE = re.compile(
    r"\b(?:sk|pk|rk|ak|key|api[-_]?key)[-_][A-Za-z0-9_*.\-]{4,}|\bBearer\s+\S+", re.IGNORECASE
)
_WORD = re.compile(r"[^\s'\"`,;()\[\]{}<>]+")
_WINDOW = 8


class Redactor:
    """Removes from upstream text anything that looks like a key or a URL, and every word that
    shares 8 characters with one of the given secrets (an upstream may echo part of our key)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._short: list[str] = []
        self._windows: set[str] = set()
        for secret in secrets:
            if len(secret) < _WINDOW:
                if len(secret) >= 4:
                    self._short.append(secret)
                continue
            self._windows.update(secret[i : i + _WINDOW] for i in range(len(secret) - _WINDOW + 1))

    def _word(self, match: re.Match[str]) -> str:
        word = match.group(0)
        if any(s in word for s in self._short):
            return "[redacted]"
        if any(word[i : i + _WINDOW] in self._windows for i in range(len(word) - _WINDOW + 1)):
            return "[redacted]"
        return word

    def __call__(self, text: object, limit: int = 300) -> str:
        clean = _KEY_LIKE.sub("[redacted]", _URL.sub("[url]", str(text)))
        clean = _WORD.sub(self._word, clean)
        clean = " ".join(clean.split())
        return clean if len(clean) <= limit else clean[: limit - 1] + "…"
