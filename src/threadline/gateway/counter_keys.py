"""The counters a request touches: whose they are (a key or a project) and what they count,
with the name each has in the counters backend (``w:key:<id>:r``, ``c:project:<id>``,
``s:key:<id>:m2025-12``…). The limiter keeps these records beside the names it hands the
backend, so an answer about a counter (this window is full, that budget has no counter yet)
leads straight back to its scope and limit, without reading a name back."""

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, NamedTuple

from threadline.gateway.budget_periods import Period
from threadline.gateway.principal import Limits, Principal

ScopeKind = Literal["key", "project"]


class Counter(StrEnum):
    """What a counter counts (the values name the limiter's rejection counts)."""

    REQUESTS = "rpm"  # requests per minute: a window
    TOKENS = "tpm"  # tokens per minute: a window
    PARALLEL = "parallel"  # requests in flight: slots
    BUDGET = "budget"  # nano-USD spent in a budget period


@dataclass(frozen=True, slots=True)
class Scope:
    kind: ScopeKind
    id: str
    label: str  # for messages: "key k_…", "project 'name'"
    limits: Limits


class CounterKey(NamedTuple):
    name: str  # the counter's name in the backend
    counter: Counter
    scope: Scope
    period: Period | None = None  # a budget's period


def scopes_of(principal: Principal) -> list[Scope]:
    """The key's and the project's scopes, those with any limit."""
    scopes = []
    if principal.key_limits.any:
        scopes.append(
            Scope("key", principal.key_id, f"key {principal.key_id}", principal.key_limits)
        )
    if principal.project_limits.any:
        label = f"project '{principal.project}'"
        scopes.append(Scope("project", principal.project_id, label, principal.project_limits))
    return scopes


def window_key(scope: Scope, counter: Literal[Counter.REQUESTS, Counter.TOKENS]) -> CounterKey:
    unit = "r" if counter is Counter.REQUESTS else "t"
    return CounterKey(f"w:{scope.kind}:{scope.id}:{unit}", counter, scope)


def slot_key(scope: Scope) -> CounterKey:
    return CounterKey(f"c:{scope.kind}:{scope.id}", Counter.PARALLEL, scope)


def budget_key(scope: Scope, period: Period) -> CounterKey:
    return CounterKey(f"s:{scope.kind}:{scope.id}:{period.id}", Counter.BUDGET, scope, period)
