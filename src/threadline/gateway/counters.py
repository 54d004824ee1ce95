"""The counters behind rate limits and budgets, and their in-memory backend.

Three kinds of counter, each checked and taken in one atomic step for all the scopes a request
touches (its key and its project), so limits are exact under any concurrency:

- **windows** (requests or tokens per minute): a count that starts with the first use and lasts
  ``WINDOW_MS``; a request is admitted only if every window has room for its ``amount``;
- **slots** (parallel requests): held from admission until the response ends;
- **spend** (budgets, nano-USD per day or month): admitted while below the budget; a spend
  counter that does not exist yet is reported ``MISSING`` so the caller can seed it from the
  usage table first.

In memory the event loop makes each call atomic (nothing awaits inside); ``RedisCounters``
(``redis_counters.py``) does the same with Lua scripts shared by every replica."""

import time
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Protocol

WINDOW_MS = 60_000


class OutcomeKind(IntEnum):
    """How an admission ended (the numbers are those the Redis scripts return)."""

    ADMITTED = 0
    WINDOW_FULL = 1
    SLOTS_FULL = 2
    BUDGET_SPENT = 3
    MISSING = 4  # a spend counter to seed from the usage table first


# Module constants: a global lookup on the request path, not an attribute of the enum class.
ADMITTED = OutcomeKind.ADMITTED
WINDOW_FULL = OutcomeKind.WINDOW_FULL
SLOTS_FULL = OutcomeKind.SLOTS_FULL
BUDGET_SPENT = OutcomeKind.BUDGET_SPENT
MISSING = OutcomeKind.MISSING


class CountersUnavailable(Exception):
    """The shared counters (Redis) cannot be reached."""


@dataclass(slots=True)
class Check:
    """What one request must fit in: windows (key, limit, amount), parallel slots (key,
    limit), budgets (spend key, budget in nano-USD)."""

    windows: list[tuple[str, int, int]] = field(default_factory=list)
    slots: list[tuple[str, int]] = field(default_factory=list)
    budgets: list[tuple[str, int]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.windows or self.slots or self.budgets)


@dataclass(slots=True)
class Outcome:
    kind: OutcomeKind
    index: int = -1  # which window, slot or budget failed (or is missing)
    # Per window (admitted or not): the count after this request, and when the window ends.
    used: list[int] = field(default_factory=list)
    ends_ms: list[int] = field(default_factory=list)


class Counters(Protocol):
    async def admit(self, check: Check, slot_id: str, now_ms: int) -> Outcome: ...

    async def settle(self, key: str, end_ms: int, reserved: int, actual: int, now_ms: int) -> None:
        """Replace a window's reservation by the actual amount (in a later window: add it)."""
        ...

    async def add(self, keys: list[str], amount: int, now_ms: int) -> None:
        """Count ``amount`` in each window (tokens used outside an admission: runs)."""
        ...

    async def release(self, keys: list[str], slot_id: str) -> None: ...

    async def spend(self, keys: list[str], nanos: int) -> None:
        """Add to existing spend counters (a missing one is seeded later, from the database)."""
        ...

    async def seed(self, key: str, nanos: int, ttl_ms: int) -> None:
        """Create a spend counter if it still does not exist."""
        ...

    async def aclose(self) -> None: ...


class MemoryCounters:
    """Counters in this process: exact within it, not shared with other replicas."""

    def __init__(self) -> None:
        self._windows: dict[str, list[int]] = {}  # key -> [end_ms, count]
        self._slots: dict[str, set[str]] = {}
        self._spend: dict[str, list[int]] = {}  # key -> [expires_ms, nanos]
        self._swept_ms = 0

    async def admit(self, check: Check, slot_id: str, now_ms: int) -> Outcome:
        if now_ms - self._swept_ms > WINDOW_MS:
            self._sweep(now_ms)
        windows = self._windows
        used: list[int] = []
        ends: list[int] = []
        failed = -1
        for index, (key, limit, amount) in enumerate(check.windows):
            window = windows.get(key)
            if window is None or window[0] <= now_ms:
                end, count = now_ms + WINDOW_MS, 0
            else:
                end, count = window
            if failed < 0 and (count + amount > limit or count >= limit):
                failed = index
            used.append(count + amount)
            ends.append(end)
        if failed >= 0:
            used = [
                count - amount for count, (_, _, amount) in zip(used, check.windows, strict=True)
            ]
            return Outcome(WINDOW_FULL, failed, used, ends)
        for index, (key, limit) in enumerate(check.slots):
            if len(self._slots.get(key, ())) >= limit:
                return Outcome(SLOTS_FULL, index, used, ends)
        for index, (key, budget) in enumerate(check.budgets):
            spent = self._spend.get(key)
            if spent is None or spent[0] <= now_ms:
                return Outcome(MISSING, index, used, ends)
            if spent[1] >= budget:
                return Outcome(BUDGET_SPENT, index, used, ends)
        for (key, _, _), count, end in zip(check.windows, used, ends, strict=True):
            windows[key] = [end, count]
        for key, _ in check.slots:
            self._slots.setdefault(key, set()).add(slot_id)
        return Outcome(ADMITTED, -1, used, ends)

    async def settle(self, key: str, end_ms: int, reserved: int, actual: int, now_ms: int) -> None:
        window = self._windows.get(key)
        if window is not None and window[0] == end_ms and window[0] > now_ms:
            window[1] = max(window[1] + actual - reserved, 0)
        else:
            await self.add([key], actual, now_ms)

    async def add(self, keys: list[str], amount: int, now_ms: int) -> None:
        for key in keys:
            window = self._windows.get(key)
            if window is None or window[0] <= now_ms:
                self._windows[key] = [now_ms + WINDOW_MS, amount]
            else:
                window[1] += amount

    async def release(self, keys: list[str], slot_id: str) -> None:
        for key in keys:
            held = self._slots.get(key)
            if held is not None:
                held.discard(slot_id)
                if not held:
                    del self._slots[key]

    async def spend(self, keys: list[str], nanos: int) -> None:
        for key in keys:
            spent = self._spend.get(key)
            if spent is not None:
                spent[1] += nanos

    async def seed(self, key: str, nanos: int, ttl_ms: int) -> None:
        now_ms = int(time.time() * 1000)
        spent = self._spend.get(key)
        if spent is None or spent[0] <= now_ms:
            self._spend[key] = [now_ms + ttl_ms, nanos]

    async def aclose(self) -> None:
        pass

    def _sweep(self, now_ms: int) -> None:
        """Forget ended windows and periods, so idle keys cost no memory."""
        self._swept_ms = now_ms
        self._windows = {k: w for k, w in self._windows.items() if w[0] > now_ms}
        self._spend = {k: s for k, s in self._spend.items() if s[0] > now_ms}
