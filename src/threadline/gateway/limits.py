"""Rate limits and budgets of a request, for its key and its project, as OpenAI reports them.

``admit`` takes one request's share of every limit at once (requests per minute, a parallel
slot, and for model calls room in tokens per minute and an unspent budget) or refuses it:
``RateLimited`` (429 ``rate_limit_exceeded`` with ``retry-after``/``retry-after-ms``) or
``QuotaExceeded`` (429 ``insufficient_quota``, ``x-should-retry: false``). The ``Ticket`` it
returns carries the ``x-ratelimit-*`` headers and is given back when the response ends
(``finish``), with the tokens and cost actually used.

Tokens are known only after the model answered, so a chat request reserves an estimate
(``reserve``) that ``finish`` replaces by the real count; runs add their tokens as they go
(``record``). A key's limits and its project's are separate counters, both enforced."""

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from threadline import ids
from threadline.errors import QuotaExceeded, RateLimited, ServiceUnavailable
from threadline.gateway.budget_periods import budget_period
from threadline.gateway.counter_keys import (
    Counter,
    CounterKey,
    Scope,
    budget_key,
    scopes_of,
    slot_key,
    window_key,
)
from threadline.gateway.counters import (
    ADMITTED,
    BUDGET_SPENT,
    MISSING,
    SLOTS_FULL,
    WINDOW_FULL,
    WINDOW_MS,
    Check,
    Counters,
    CountersUnavailable,
    Outcome,
)
from threadline.gateway.pricing import format_usd
from threadline.gateway.principal import Principal

logger = logging.getLogger("threadline.gateway")

Rates = dict[str, tuple[int, int, int]]  # "requests"|"tokens" -> (limit, remaining, reset ms)

# (scope kind "key"|"project", scope id, first day, last day) -> nano-USD spent in those days
SpendLoader = Callable[[str, str, str, str], Awaitable[int]]
Clock = Callable[[], float]  # Unix seconds


@dataclass(slots=True)
class _Plan:
    """The counters one request must fit in: ``check`` for the backend, and beside each of its
    entries (same positions) the key it stands for."""

    check: Check = field(default_factory=Check)
    windows: list[CounterKey] = field(default_factory=list)
    slots: list[CounterKey] = field(default_factory=list)
    budgets: list[CounterKey] = field(default_factory=list)

    @classmethod
    def of(cls, scopes: list[Scope], metered: bool, now: float) -> "_Plan":
        plan = cls()
        for scope in scopes:
            limits = scope.limits
            if limits.rpm is not None:
                plan.window(window_key(scope, Counter.REQUESTS), limits.rpm, 1)
            if metered and limits.tpm is not None:
                plan.window(window_key(scope, Counter.TOKENS), limits.tpm, 0)
            if limits.max_parallel is not None:
                key = slot_key(scope)
                plan.slots.append(key)
                plan.check.slots.append((key.name, limits.max_parallel))
            if metered and limits.budget_nanos is not None:
                key = budget_key(scope, budget_period(limits.budget_period, now))
                plan.budgets.append(key)
                plan.check.budgets.append((key.name, limits.budget_nanos))
        return plan

    def window(self, key: CounterKey, limit: int, amount: int) -> None:
        self.windows.append(key)
        self.check.windows.append((key.name, limit, amount))


@dataclass(slots=True)
class Ticket:
    """One admitted request's share of its limits, until ``finish``."""

    principal: Principal
    slot_id: str = ""
    slot_keys: list[str] = field(default_factory=list)
    # (window key, window end, tokens reserved)
    token_windows: list[tuple[str, int, int]] = field(default_factory=list)
    spend_keys: list[str] = field(default_factory=list)
    rates: Rates = field(default_factory=dict)
    finished: bool = False

    @property
    def headers(self) -> dict[str, str]:
        """The ``x-ratelimit-*`` headers for the response (made once, when it starts)."""
        return rate_headers(self.rates)


def go_duration(ms: int) -> str:
    """A wait as OpenAI's headers write it: ``250ms``, ``12s``, ``1m30s``."""
    if ms < 1000:
        return f"{max(ms, 0)}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.3g}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest}s"


class RateLimiter:
    def __init__(
        self,
        counters: Counters,
        load_spend: SpendLoader,
        *,
        fail_open: bool = False,
        clock: Clock = time.time,
    ) -> None:
        self.counters = counters
        self._load_spend = load_spend
        self._fail_open = fail_open
        self._clock = clock
        self.rejections: dict[str, int] = {counter: 0 for counter in Counter}

    async def admit(self, principal: Principal, *, metered: bool) -> Ticket | None:
        """Count the request (and for a model call check tokens and budget); None when neither
        the key nor its project has a limit."""
        if not principal.limited:
            return None
        now = self._clock()
        plan = _Plan.of(scopes_of(principal), metered, now)
        if not plan.check:
            return None
        ticket = Ticket(principal)
        if plan.slots:
            ticket.slot_id = ids.request_id()
        try:
            outcome = await self._admit(plan, ticket.slot_id, now)
        except CountersUnavailable as error:
            return self._unavailable(error)
        rates = _headers(plan, outcome, now)
        if outcome.kind != ADMITTED:
            raise self._refusal(outcome, plan, rate_headers(rates), now)
        ticket.slot_keys = [key.name for key in plan.slots]
        ticket.spend_keys = [key.name for key in plan.budgets]
        # The tokens of a model call are added to these windows when it ends.
        ticket.token_windows = [
            (key.name, end, 0)
            for key, end in zip(plan.windows, outcome.ends_ms, strict=True)
            if key.counter is Counter.TOKENS
        ]
        ticket.rates = rates
        return ticket

    async def reserve(self, ticket: Ticket | None, tokens: int) -> None:
        """Take ``tokens`` (an estimate) from the token windows before calling the model."""
        if ticket is None or not ticket.token_windows or tokens <= 0:
            return
        now = self._clock()
        plan = _Plan()
        for scope in scopes_of(ticket.principal):
            if scope.limits.tpm is not None:
                plan.window(window_key(scope, Counter.TOKENS), scope.limits.tpm, tokens)
        try:
            outcome = await self.counters.admit(plan.check, "", int(now * 1000))
        except CountersUnavailable as error:
            self._unavailable(error)
            return
        rates = _headers(plan, outcome, now)
        if outcome.kind != ADMITTED:
            raise self._refusal(outcome, plan, rate_headers(rates), now)
        ticket.rates.update(rates)
        ticket.token_windows = [
            (key.name, end, tokens) for key, end in zip(plan.windows, outcome.ends_ms, strict=True)
        ]

    def _unavailable(self, error: CountersUnavailable) -> None:
        logger.warning("rate-limit counters unavailable (%s)", error)
        if not self._fail_open:
            raise ServiceUnavailable(
                "Rate limits cannot be checked right now. Please retry shortly."
            )

    async def finish(self, ticket: Ticket | None, tokens: int = 0, cost_nanos: int = 0) -> None:
        """The response ended: free the slot, replace reservations by ``tokens``, add cost."""
        if ticket is None or ticket.finished:
            return
        ticket.finished = True
        try:
            await self._finish(ticket, tokens, cost_nanos)
        except CountersUnavailable as error:
            logger.warning("could not count a finished request (%s)", error)

    async def _finish(self, ticket: Ticket, tokens: int, cost_nanos: int) -> None:
        counters = self.counters
        if ticket.slot_keys:
            await counters.release(ticket.slot_keys, ticket.slot_id)
        if ticket.token_windows and (tokens or any(r for _, _, r in ticket.token_windows)):
            now_ms = int(self._clock() * 1000)
            for key, end, reserved in ticket.token_windows:
                await counters.settle(key, end, reserved, tokens, now_ms)
        if cost_nanos and ticket.spend_keys:
            await counters.spend(ticket.spend_keys, cost_nanos)

    async def record(self, principal: Principal, tokens: int, cost_nanos: int) -> None:
        """Tokens and cost used outside a request (a run's model turn)."""
        if not principal.limited:
            return
        try:
            await self._record(principal, tokens, cost_nanos)
        except CountersUnavailable as error:
            logger.warning("could not count a run's usage (%s)", error)

    async def _record(self, principal: Principal, tokens: int, cost_nanos: int) -> None:
        now = self._clock()
        scopes = scopes_of(principal)
        windows = [window_key(s, Counter.TOKENS).name for s in scopes if s.limits.tpm is not None]
        if windows and tokens:
            await self.counters.add(windows, tokens, int(now * 1000))
        spend_keys = [
            budget_key(s, budget_period(s.limits.budget_period, now)).name
            for s in scopes
            if s.limits.budget_nanos is not None
        ]
        if spend_keys and cost_nanos:
            await self.counters.spend(spend_keys, cost_nanos)

    async def _admit(self, plan: _Plan, slot_id: str, now: float) -> Outcome:
        for _ in range(len(plan.budgets) + 1):
            outcome = await self.counters.admit(plan.check, slot_id, int(now * 1000))
            if outcome.kind != MISSING:
                return outcome
            # First use of a budget period here: start its counter from the usage table.
            key = plan.budgets[outcome.index]
            scope, period = key.scope, key.period
            assert period is not None  # every budget key has its period
            spent = await self._load_spend(scope.kind, scope.id, period.first_day, period.last_day)
            await self.counters.seed(key.name, spent, period.ttl_ms)
        return outcome

    def _refusal(
        self, outcome: Outcome, plan: _Plan, headers: dict[str, str], now: float
    ) -> Exception:
        kind, index = outcome.kind, outcome.index
        if kind == BUDGET_SPENT:
            self.rejections[Counter.BUDGET] += 1
            scope = plan.budgets[index].scope
            budget = format_usd(scope.limits.budget_nanos or 0)
            return QuotaExceeded(
                f"You exceeded the budget of {scope.label} (${budget} per "
                f"{scope.limits.budget_period}). Raise the budget or wait for the next period."
            )
        if kind == SLOTS_FULL:
            self.rejections[Counter.PARALLEL] += 1
            limit = plan.check.slots[index][1]
            return RateLimited(
                f"Too many parallel requests on {plan.slots[index].scope.label}: limit {limit}. "
                "Retry when one of your requests has finished.",
                headers={**headers, "retry-after": "1", "retry-after-ms": "1000"},
            )
        assert kind == WINDOW_FULL
        key = plan.windows[index]
        what, scope = key.counter, key.scope
        self.rejections[what] += 1
        _, limit, amount = plan.check.windows[index]
        unit = "requests" if what is Counter.REQUESTS else "tokens"
        # Capped: a window lasts WINDOW_MS (replicas' clocks may differ by a little).
        wait_ms = min(max(outcome.ends_ms[index] - int(now * 1000), 1), WINDOW_MS)
        message = (
            f"Rate limit reached for {unit} per minute ({what.upper()}) on {scope.label}: "
            f"Limit {limit}, Requested {amount or 1}. Please try again in {go_duration(wait_ms)}."
        )
        extra = {"retry-after": str(math.ceil(wait_ms / 1000)), "retry-after-ms": str(wait_ms)}
        if amount > limit:  # larger than the whole window: waiting cannot help
            message = (
                f"Request too large for {scope.label}: about {amount} tokens, over the limit of "
                f"{limit} tokens per minute. Send a smaller request."
            )
            extra = {"x-should-retry": "false"}
        return RateLimited(message, headers={**headers, **extra})


def _headers(plan: _Plan, outcome: Outcome, now: float) -> Rates:
    """For requests and tokens, the tighter of the key's and the project's windows."""
    now_ms = int(now * 1000)
    best: dict[str, tuple[int, int, int]] = {}
    windows = zip(plan.windows, plan.check.windows, outcome.used, outcome.ends_ms, strict=True)
    for key, (_, limit, _), count, end in windows:
        unit = "requests" if key.counter is Counter.REQUESTS else "tokens"
        remaining = max(limit - count, 0)
        if unit not in best or remaining < best[unit][1]:
            best[unit] = (limit, remaining, end - now_ms)
    return best


def rate_headers(rates: Rates) -> dict[str, str]:
    """OpenAI's ``x-ratelimit-*`` headers."""
    headers = {}
    for unit, (limit, remaining, reset_ms) in rates.items():
        headers[f"x-ratelimit-limit-{unit}"] = str(limit)
        headers[f"x-ratelimit-remaining-{unit}"] = str(remaining)
        headers[f"x-ratelimit-reset-{unit}"] = go_duration(reset_ms)
    return headers
