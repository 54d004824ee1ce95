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
from threadline.gateway.principal import Limits, Principal

logger = logging.getLogger("threadline.gateway")

Rates = dict[str, tuple[int, int, int]]  # "requests"|"tokens" -> (limit, remaining, reset ms)

# (scope kind "key"|"project", scope id, first day, last day) -> nano-USD spent in those days
SpendLoader = Callable[[str, str, str, str], Awaitable[int]]


@dataclass(slots=True)
class _Scope:
    kind: str  # "key" | "project"
    id: str
    label: str
    limits: Limits


def _scopes(principal: Principal) -> list[_Scope]:
    scopes = []
    if principal.key_limits.any:
        scopes.append(
            _Scope("key", principal.key_id, f"key {principal.key_id}", principal.key_limits)
        )
    if principal.project_limits.any:
        label = f"project '{principal.project}'"
        scopes.append(_Scope("project", principal.project_id, label, principal.project_limits))
    return scopes


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
        self, counters: Counters, load_spend: SpendLoader, *, fail_open: bool = False
    ) -> None:
        self.counters = counters
        self._load_spend = load_spend
        self._fail_open = fail_open
        self.rejections: dict[str, int] = {"rpm": 0, "tpm": 0, "parallel": 0, "budget": 0}

    async def admit(self, principal: Principal, *, metered: bool) -> Ticket | None:
        """Count the request (and for a model call check tokens and budget); None when neither
        the key nor its project has a limit."""
        if not principal.limited:
            return None
        now = time.time()
        scopes = _scopes(principal)
        check = Check()
        kinds: list[tuple[str, _Scope]] = []
        ticket = Ticket(principal)
        for scope in scopes:
            limits = scope.limits
            if limits.rpm is not None:
                check.windows.append((f"w:{scope.kind}:{scope.id}:r", limits.rpm, 1))
                kinds.append(("rpm", scope))
            if metered and limits.tpm is not None:
                check.windows.append((f"w:{scope.kind}:{scope.id}:t", limits.tpm, 0))
                kinds.append(("tpm", scope))
            if limits.max_parallel is not None:
                check.slots.append((f"c:{scope.kind}:{scope.id}", limits.max_parallel))
            if metered and limits.budget_nanos is not None:
                period = budget_period(limits.budget_period, now)
                check.budgets.append(
                    (f"s:{scope.kind}:{scope.id}:{period.id}", limits.budget_nanos)
                )
        if not check:
            return None
        if check.slots:
            ticket.slot_id = ids.request_id()
        try:
            outcome = await self._admit(check, ticket.slot_id, now, scopes)
        except CountersUnavailable as error:
            return self._unavailable(error)
        rates = _headers(kinds, check, outcome, now)
        if outcome.kind != ADMITTED:
            raise self._refusal(outcome, check, kinds, scopes, rate_headers(rates), now)
        ticket.slot_keys = [key for key, _ in check.slots]
        ticket.spend_keys = [key for key, _ in check.budgets]
        # The tokens of a model call are added to these windows when it ends.
        ticket.token_windows = [
            (key, end, 0)
            for (key, _, _), end, (kind, _) in zip(
                check.windows, outcome.ends_ms, kinds, strict=True
            )
            if kind == "tpm"
        ]
        ticket.rates = rates
        return ticket

    async def reserve(self, ticket: Ticket | None, tokens: int) -> None:
        """Take ``tokens`` (an estimate) from the token windows before calling the model."""
        if ticket is None or not ticket.token_windows or tokens <= 0:
            return
        now = time.time()
        scopes = _scopes(ticket.principal)
        kinds = [("tpm", s) for s in scopes if s.limits.tpm is not None]
        check = Check(
            windows=[(f"w:{s.kind}:{s.id}:t", s.limits.tpm or 0, tokens) for _, s in kinds]
        )
        try:
            outcome = await self.counters.admit(check, "", int(now * 1000))
        except CountersUnavailable as error:
            self._unavailable(error)
            return
        rates = _headers(kinds, check, outcome, now)
        if outcome.kind != ADMITTED:
            raise self._refusal(outcome, check, kinds, scopes, rate_headers(rates), now)
        ticket.rates.update(rates)
        ticket.token_windows = [
            (key, end, tokens)
            for (key, _, _), end in zip(check.windows, outcome.ends_ms, strict=True)
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
            now_ms = int(time.time() * 1000)
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
        now = time.time()
        scopes = _scopes(principal)
        windows = [f"w:{s.kind}:{s.id}:t" for s in scopes if s.limits.tpm is not None]
        if windows and tokens:
            await self.counters.add(windows, tokens, int(now * 1000))
        spend_keys = self._spend_keys(scopes, now)
        if spend_keys and cost_nanos:
            await self.counters.spend(spend_keys, cost_nanos)

    @staticmethod
    def _spend_keys(scopes: list[_Scope], now: float) -> list[str]:
        return [
            f"s:{s.kind}:{s.id}:{budget_period(s.limits.budget_period, now).id}"
            for s in scopes
            if s.limits.budget_nanos is not None
        ]

    async def _admit(self, check: Check, slot_id: str, now: float, scopes: list[_Scope]) -> Outcome:
        for _ in range(len(check.budgets) + 1):
            outcome = await self.counters.admit(check, slot_id, int(now * 1000))
            if outcome.kind != MISSING:
                return outcome
            # First use of a budget period here: start its counter from the usage table.
            key = check.budgets[outcome.index][0]
            _, kind, scope_id, _ = key.split(":", 3)
            scope = next(s for s in scopes if s.kind == kind and s.id == scope_id)
            period = budget_period(scope.limits.budget_period, now)
            spent = await self._load_spend(kind, scope_id, period.first_day, period.last_day)
            await self.counters.seed(key, spent, period.ttl_ms)
        return outcome

    def _refusal(
        self,
        outcome: Outcome,
        check: Check,
        kinds: list[tuple[str, _Scope]],
        scopes: list[_Scope],
        headers: dict[str, str],
        now: float,
    ) -> Exception:
        kind, index = outcome.kind, outcome.index
        if kind == BUDGET_SPENT:
            self.rejections["budget"] += 1
            key = check.budgets[index][0]
            scope = next(s for s in scopes if key.startswith(f"s:{s.kind}:{s.id}:"))
            budget = format_usd(scope.limits.budget_nanos or 0)
            return QuotaExceeded(
                f"You exceeded the budget of {scope.label} (${budget} per "
                f"{scope.limits.budget_period}). Raise the budget or wait for the next period."
            )
        if kind == SLOTS_FULL:
            self.rejections["parallel"] += 1
            key, limit = check.slots[index]
            label = next(s.label for s in scopes if key == f"c:{s.kind}:{s.id}")
            return RateLimited(
                f"Too many parallel requests on {label}: limit {limit}. Retry when one of your "
                "requests has finished.",
                headers={**headers, "retry-after": "1", "retry-after-ms": "1000"},
            )
        assert kind == WINDOW_FULL
        what, scope = kinds[index]
        self.rejections[what] += 1
        key, limit, amount = check.windows[index]
        unit = "requests" if what == "rpm" else "tokens"
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


def _headers(kinds: list[tuple[str, _Scope]], check: Check, outcome: Outcome, now: float) -> Rates:
    """For requests and tokens, the tighter of the key's and the project's windows."""
    now_ms = int(now * 1000)
    best: dict[str, tuple[int, int, int]] = {}
    windows = zip(kinds, check.windows, outcome.used, outcome.ends_ms, strict=True)
    for (what, _), (_, limit, _), count, end in windows:
        unit = "requests" if what == "rpm" else "tokens"
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
