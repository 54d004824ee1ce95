"""The one retry policy of the run engine and the pass-through: what is retried, what falls back
to the next upstream, and how long to wait."""

from dataclasses import dataclass

import pytest

from threadline.providers.llm.retry_policy import (
    falls_back,
    next_wait,
    quota_exhausted,
    should_retry,
)


@dataclass(frozen=True)
class Settings:
    max_retries: int = 2
    max_retry_wait: float = 60.0
    backoff_base: float = 0.25
    backoff_cap: float = 4.0


@pytest.mark.parametrize("status", [408, 429, 502, 503, 504, 522, 524, 529])
def test_what_another_attempt_can_change_is_retried(status: int) -> None:
    assert should_retry(status, {})


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 422, 500, 501, 520])
def test_a_plain_500_and_client_errors_are_not(status: int) -> None:
    assert not should_retry(status, {})


def test_x_should_retry_overrides_the_status() -> None:
    assert not should_retry(503, {"x-should-retry": "false"})
    assert not should_retry(429, {"x-should-retry": "false"})
    assert should_retry(500, {"x-should-retry": "true"})


def test_an_exhausted_quota_is_not_retried() -> None:
    assert not should_retry(429, {}, quota_exhausted=True)


def test_a_spent_quota_is_told_by_its_code_or_type() -> None:
    assert quota_exhausted(429, {"code": "insufficient_quota"})
    assert quota_exhausted(429, {"type": "insufficient_quota", "code": None})
    assert not quota_exhausted(429, {"code": "rate_limit_exceeded"})
    assert not quota_exhausted(429, {"message": "see insufficient_quota docs"})
    assert not quota_exhausted(403, {"code": "insufficient_quota"})


def test_fallbacks_follow_server_errors_timeouts_and_rate_limits() -> None:
    assert all(falls_back(s) for s in (500, 502, 503, 504, 408, 429))
    assert not any(falls_back(s) for s in (400, 401, 404, 409, 422))


def test_waits_back_off_then_stop() -> None:
    settings = Settings(max_retries=4, backoff_cap=0.6)
    assert [next_wait(a, None, settings) for a in range(5)] == [0.25, 0.5, 0.6, 0.6, None]


def test_retry_after_is_honoured_up_to_the_limit() -> None:
    assert next_wait(0, 3.0, Settings()) == 3.0
    assert next_wait(0, 61.0, Settings()) is None
    assert next_wait(2, 1.0, Settings()) is None  # no retry left
