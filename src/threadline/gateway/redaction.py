"""Request and response bodies as the request log keeps them: cut to a size, with secrets out.

Three rules, applied to every string of a JSON body (after decoding, so an escape such as ``\\n``
cannot hide a boundary) or to the whole text of any other body:

- values under secret-looking JSON keys (``api_key``, ``authorization``, ``password``, ``token``,
  …) are replaced;
- whatever has the shape of a key is replaced: ``sk-…`` and the like, ``Bearer …``, and a bare
  Threadline secret (a key without its ``sk-tl-`` prefix: exactly 32 ASCII letters and digits,
  standing alone, with upper- and lower-case letters);
- every word sharing 8 characters with a known secret (the request's own key, the master key,
  the providers' keys) is replaced, whatever its shape.

Other keys of this gateway are known only by their hashes, so a bare one can only be caught by
its shape. The shape is narrow enough to leave ordinary text alone: object ids are lower-case
base 36 behind a ``prefix_`` or ``prefix-`` (a run joined to ``_`` or ``-`` is not standing alone),
hex digests and UUIDs have one case only, and a run inside base64 touches ``+``, ``/`` or ``=``.
A random 32-character secret lacks upper- or lower-case letters with odds of about 6 in 10⁸."""

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
BARE_SECRET_LENGTH = 32  # api_keys: the characters after ``sk-tl-``
# One leading character class (the engine skips to candidates fast) that starts a word: not
# after a letter, digit or "_", unless that letter is an escape (``\n`` of JSON inside a string).
# Then, by that first character: ``sk-…``/``pk_…`` keys, ``Bearer …``, or a bare secret, which
# must also not follow "+", "/" or "-" (base64, ``file-…``) nor run on into "=" or an id.
_KEY_LIKE = re.compile(
    r"[A-Za-z0-9](?<!(?<!\\)[A-Za-z0-9_].)"
    r"(?:(?<=[SsPpRrAa])[Kk][-_][A-Za-z0-9_\-]{8,}"
    r"|(?<=[Bb])[Ee][Aa][Rr][Ee][Rr]\s+[^\s\"']+"
    rf"|(?<![+/-].)(?P<bare>[A-Za-z0-9]{{{BARE_SECRET_LENGTH - 1}}})(?![A-Za-z0-9_+/=-]))"
)
_WINDOW = 8
_SHORTEST = 4  # a known secret shorter than this cannot be looked for without hiding everything


def _key_like(match: re.Match[str]) -> str:
    token = match.group(0)
    if match.group("bare") is not None and (token.isupper() or token.islower() or token.isdigit()):
        return token  # one case (or none): a hex digest, a word, a number, not a secret
    return REDACTED


def scrub_key_like(text: str) -> str:
    """``text`` with everything shaped like a key replaced."""
    return _KEY_LIKE.sub(_key_like, text)


class BodyRedactor:
    def __init__(self, secrets: Iterable[str], limit: int = 65_536) -> None:
        self._limit = limit
        self._windows: set[str] = set()
        self._short: list[str] = []
        for secret in secrets:
            if len(secret) >= _WINDOW:
                self._windows.update(_windows_of(secret))
            elif len(secret) >= _SHORTEST:
                self._short.append(secret)

    def __call__(self, body: bytes, extra_secrets: Iterable[str] = ()) -> str:
        try:
            text = orjson.dumps(_walk(orjson.loads(body))).decode()
        except orjson.JSONDecodeError:
            text = scrub_key_like(body[: self._limit * 2].decode("utf-8", "replace"))
        windows = self._windows | {w for secret in extra_secrets for w in _windows_of(secret)}
        if (windows and any(w in text for w in windows)) or any(s in text for s in self._short):
            text = self._scrub(text, windows)
        return text if len(text) <= self._limit else text[: self._limit] + "…[truncated]"

    def _scrub(self, text: str, windows: set[str]) -> str:
        def word(match: re.Match[str]) -> str:
            token = match.group(0)
            if any(s in token for s in self._short):
                return REDACTED
            hit = any(token[i : i + _WINDOW] in windows for i in range(len(token) - _WINDOW + 1))
            return REDACTED if hit else token

        return re.sub(r"[^\s\"',;{}\[\]]+", word, text)


def _windows_of(secret: str) -> set[str]:
    return {secret[i : i + _WINDOW] for i in range(len(secret) - _WINDOW + 1)}


def _walk(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_key_like(value)
    if isinstance(value, dict):
        return {
            key: REDACTED if _SECRET_FIELD.match(str(key)) and item else _walk(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_walk(item) for item in value]
    return value
