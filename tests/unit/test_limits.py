"""Rate limits and budgets on the in-memory counters, without a server: windows that roll over,
parallel slots given back, budgets refused at their edge, and counter keys that lead back to
their scope. Time is a fake clock moved by hand."""

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from threadline.errors import QuotaExceeded, RateLimited
from threadline.gateway.budget_periods import budget_period
from threadline.gateway.counter_keys import (
    Counter,
    Scope,
    budget_key,
    scopes_of,
    slot_key,
    window_key,
)
from threadline.gateway.counters import WINDOW_MS, MemoryCounters
from threadline.gateway.limits import RateLimiter, Ticket
from threadline.gateway.principal import UNLIMITED, Limits, Principal

T = TypeVar("T")
START = 1_764_547_200.0  # 2025-12-01T00:00:00Z


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def principal(key: Limits = UNLIMITED, project: Limits = UNLIMITED) -> Principal:
    return Principal(
        key_id="k_1",
        project_id="p_1",
        project="acme",
        key_limits=key,
        project_limits=project,
        limited=key.any or project.any,
    )


class Spend:
    """The usage table's answer for a budget period's spend, and who asked for it."""

    def __init__(self, spent: int = 0) -> None:
        self.spent = spent
        self.asked: list[tuple[str, str, str, str]] = []

    async def __call__(self, kind: str, scope_id: str, first_day: str, last_day: str) -> int:
        self.asked.append((kind, scope_id, first_day, last_day))
        return self.spent


def limiter(clock: Clock, spend: Spend | None = None) -> RateLimiter:
    return RateLimiter(MemoryCounters(), spend or Spend(), clock=clock)


def test_a_requests_window_refuses_when_full_and_rolls_over() -> None:
    clock = Clock()
    limits = limiter(clock)
    caller = principal(key=Limits(rpm=2))

    async def scenario() -> None:
        first = await limits.admit(caller, metered=False)
        assert first is not None
        assert first.headers["x-ratelimit-remaining-requests"] == "1"
        await limits.admit(caller, metered=False)
        clock.advance(30)
        with pytest.raises(RateLimited) as refused:
            await limits.admit(caller, metered=False)
        assert refused.value.headers["retry-after"] == "30"
        assert "(RPM) on key k_1: Limit 2" in refused.value.message
        clock.advance(30)  # the window that began with the first request has ended
        again = await limits.admit(caller, metered=False)
        assert again is not None
        assert again.headers["x-ratelimit-remaining-requests"] == "1"

    run(scenario())
    assert limits.rejections[Counter.REQUESTS] == 1


def test_tokens_are_reserved_settled_and_the_window_rolls_over() -> None:
    clock = Clock()
    limits = limiter(clock)
    caller = principal(key=Limits(tpm=100))

    async def scenario() -> None:
        ticket = await limits.admit(caller, metered=True)
        assert ticket is not None
        await limits.reserve(ticket, 80)
        await limits.finish(ticket, tokens=90)  # the estimate replaced by the real count
        second = await limits.admit(caller, metered=True)
        with pytest.raises(RateLimited) as refused:
            await limits.reserve(second, 20)  # 90 + 20 > 100
        assert "(TPM)" in refused.value.message
        await limits.reserve(second, 10)  # 90 + 10 fits exactly
        clock.advance(WINDOW_MS / 1000)
        third = await limits.admit(caller, metered=True)
        await limits.reserve(third, 100)

    run(scenario())


def test_a_request_larger_than_the_window_is_told_not_to_retry() -> None:
    limits = limiter(Clock())
    caller = principal(key=Limits(tpm=100))

    async def scenario() -> None:
        ticket = await limits.admit(caller, metered=True)
        with pytest.raises(RateLimited) as refused:
            await limits.reserve(ticket, 150)
        assert refused.value.headers["x-should-retry"] == "false"

    run(scenario())


def test_requests_that_do_not_call_a_model_take_no_tokens_or_budget() -> None:
    spend = Spend(spent=10**9)
    limits = limiter(Clock(), spend)
    caller = principal(key=Limits(tpm=1, budget_nanos=1))

    async def scenario() -> Ticket | None:
        return await limits.admit(caller, metered=False)

    assert run(scenario()) is None
    assert spend.asked == []


def test_parallel_slots_are_given_back_when_a_request_ends() -> None:
    limits = limiter(Clock())
    caller = principal(project=Limits(max_parallel=1))

    async def scenario() -> None:
        first = await limits.admit(caller, metered=False)
        with pytest.raises(RateLimited) as refused:
            await limits.admit(caller, metered=False)
        assert "parallel requests on project 'acme': limit 1" in refused.value.message
        assert refused.value.headers["retry-after"] == "1"
        await limits.finish(first)
        await limits.finish(first)  # twice is harmless
        second = await limits.admit(caller, metered=False)
        assert second is not None and second.slot_id != first.slot_id  # type: ignore[union-attr]

    run(scenario())
    assert limits.rejections[Counter.PARALLEL] == 1


@pytest.mark.parametrize(("spent", "admitted"), [(999, True), (1000, False), (1001, False)])
def test_a_budget_refuses_once_spent(spent: int, admitted: bool) -> None:
    spend = Spend(spent)
    limits = limiter(Clock(), spend)
    caller = principal(project=Limits(budget_nanos=1000, budget_period="month"))

    async def scenario() -> Ticket | None:
        return await limits.admit(caller, metered=True)

    if admitted:
        assert run(scenario()) is not None
    else:
        with pytest.raises(QuotaExceeded) as refused:
            run(scenario())
        assert "budget of project 'acme' ($0.000001 per month)" in refused.value.message
    # The period's counter was seeded from the usage table, for the project and its month.
    assert spend.asked == [("project", "p_1", "2025-12-01", "2025-12-31")]


def test_spending_up_to_the_budget_refuses_the_next_request() -> None:
    spend = Spend(0)
    limits = limiter(Clock(), spend)
    caller = principal(key=Limits(budget_nanos=1000, budget_period="day"))

    async def scenario() -> None:
        ticket = await limits.admit(caller, metered=True)
        await limits.finish(ticket, tokens=0, cost_nanos=999)
        ticket = await limits.admit(caller, metered=True)
        await limits.finish(ticket, tokens=0, cost_nanos=1)
        with pytest.raises(QuotaExceeded):
            await limits.admit(caller, metered=True)

    run(scenario())
    assert spend.asked == [("key", "k_1", "2025-12-01", "2025-12-01")]  # seeded once


def test_the_tighter_of_key_and_project_windows_is_reported() -> None:
    limits = limiter(Clock())
    caller = principal(key=Limits(rpm=10), project=Limits(rpm=3))

    async def scenario() -> Ticket | None:
        return await limits.admit(caller, metered=False)

    ticket = run(scenario())
    assert ticket is not None
    assert ticket.headers["x-ratelimit-limit-requests"] == "3"
    assert ticket.headers["x-ratelimit-remaining-requests"] == "2"


def test_counter_keys_name_their_counter_and_keep_their_scope() -> None:
    caller = principal(key=Limits(rpm=1), project=Limits(tpm=5))
    key_scope, project_scope = scopes_of(caller)
    assert (key_scope.kind, key_scope.id, project_scope.kind) == ("key", "k_1", "project")
    requests = window_key(key_scope, Counter.REQUESTS)
    assert (requests.name, requests.counter, requests.scope) == (
        "w:key:k_1:r",
        Counter.REQUESTS,
        key_scope,
    )
    assert window_key(project_scope, Counter.TOKENS).name == "w:project:p_1:t"
    assert slot_key(project_scope).name == "c:project:p_1"
    period = budget_period("month", START)
    budget = budget_key(project_scope, period)
    assert (budget.name, budget.period) == ("s:project:p_1:m2025-12", period)
    # A scope id may hold the separator: nothing reads it back out of the name.
    odd = Scope("key", "k:1", "key k:1", Limits(rpm=1))
    assert window_key(odd, Counter.REQUESTS).scope is odd
