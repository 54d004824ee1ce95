"""When a failed upstream call is tried again, and after how long: the one policy of the run
engine's provider (``openai_compatible``) and of the gateway's pass-through (``passthrough``).

Only what another attempt can change is retried, and only before any byte reached the client:
connection errors and timeouts, 408, 429, 502, 503, 504 (and the same answers from the proxies
and providers that give them other numbers: Cloudflare's 522/524, 529 "overloaded"). A plain
500 is not: the same body gets the same answer (typically a request the upstream chokes on),
and no 4xx is. An upstream's ``x-should-retry: true|false`` (OpenAI sends it; its SDKs obey it)
overrides the status, and a 429 for an exhausted quota is not retried either.

Between attempts the upstream's ``Retry-After`` (or ``retry-after-ms``) is honoured up to
``max_retry_wait`` — a longer ask ends the retries at once — and otherwise the wait doubles from
``backoff_base`` up to ``backoff_cap``. A model's fallbacks are a separate matter: the next
upstream is tried after server errors, timeouts and 408/429s, whether retried or not."""

from collections.abc import Mapping
from typing import Any, Protocol

RETRYABLE_STATUSES = frozenset({408, 429, 502, 503, 504, 522, 524, 529})


class RetrySettings(Protocol):
    """The retry part of an upstream's options (``UpstreamOptions``)."""

    @property
    def max_retries(self) -> int: ...  # retries after the first attempt

    @property
    def max_retry_wait(self) -> float: ...

    @property
    def backoff_base(self) -> float: ...

    @property
    def backoff_cap(self) -> float: ...


def quota_exhausted(status: int, error: Mapping[str, Any]) -> bool:
    """Whether an upstream's failed answer says its quota is spent (OpenAI: a 429 with
    ``insufficient_quota``): waiting does not help, unlike a rate limit. ``error`` is the
    ``error`` object of its body (``status.error_body``)."""
    return status == 429 and "insufficient_quota" in (error.get("code"), error.get("type"))


def should_retry(status: int, headers: Mapping[str, str], *, quota_exhausted: bool = False) -> bool:
    """Whether an upstream's failed answer is worth the same request again."""
    hint = headers.get("x-should-retry")
    if hint == "true":
        return True
    if hint == "false" or quota_exhausted:
        return False
    return status in RETRYABLE_STATUSES


def falls_back(status: int) -> bool:
    """Whether a final failure of one upstream lets the model's next fallback be tried (a client
    error would be the same there)."""
    return status >= 500 or status in (408, 429)


def next_wait(attempt: int, asked: float | None, settings: RetrySettings) -> float | None:
    """Seconds to wait before retrying after failed attempt number ``attempt`` (0 for the
    first), given the wait the upstream ``asked`` for; None when no retry is left or the
    upstream asks for longer than ``max_retry_wait``."""
    if attempt >= settings.max_retries:
        return None
    if asked is None:
        return float(min(settings.backoff_base * 2**attempt, settings.backoff_cap))
    return asked if asked <= settings.max_retry_wait else None
