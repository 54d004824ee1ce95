"""Rate-limit and budget counters shared by the worker processes of one server, without Redis.

The supervisor's hub keeps one ``MemoryCounters`` (``CounterDesk``); each worker's
``HubCounters`` asks it over the hub link. Admissions wait for the answer (one round trip on a
Unix socket); what needs no answer (settling, spending, releasing) is sent and not waited for,
and the hub handles it in order before that worker's next admission. Counts are exact across the
workers, as ``MemoryCounters`` is within one process. A worker that dies holding parallel slots
(kill -9) has them released when its connection drops."""

from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from threadline.gateway.counters import (
    Check,
    CountersUnavailable,
    MemoryCounters,
    Outcome,
    OutcomeKind,
)
from threadline.providers.cluster.link import HubLink, HubUnavailable

T = TypeVar("T")


class HubCounters:
    """``Counters`` of a worker process, kept by the supervisor's hub."""

    def __init__(self, link: HubLink) -> None:
        self._link = link

    async def admit(self, check: Check, slot_id: str, now_ms: int) -> Outcome:
        try:
            answer = await self._link.ask(
                "admit", check.windows, check.slots, check.budgets, slot_id, now_ms
            )
        except HubUnavailable as error:
            raise CountersUnavailable(str(error)) from error
        kind, index, used, ends = answer  # type: ignore[misc]
        return Outcome(OutcomeKind(kind), index, used, ends)

    async def settle(self, key: str, end_ms: int, reserved: int, actual: int, now_ms: int) -> None:
        self._send("settle", key, end_ms, reserved, actual, now_ms)

    async def add(self, keys: list[str], amount: int, now_ms: int) -> None:
        self._send("add", keys, amount, now_ms)

    async def release(self, keys: list[str], slot_id: str) -> None:
        self._send("release", keys, slot_id)

    async def spend(self, keys: list[str], nanos: int) -> None:
        self._send("spend", keys, nanos)

    async def seed(self, key: str, nanos: int, ttl_ms: int) -> None:
        self._send("seed", key, nanos, ttl_ms)

    async def aclose(self) -> None:
        pass  # the link is the app's, closed with it

    def _send(self, op: str, *args: object) -> None:
        try:
            self._link.send(op, *args)
        except HubUnavailable as error:
            raise CountersUnavailable(str(error)) from error


class CounterDesk:
    """The hub's side: the one set of counters, and which worker holds which parallel slot."""

    def __init__(self) -> None:
        self._counters = MemoryCounters()
        self._slots: dict[int, dict[str, list[str]]] = {}  # worker -> slot id -> slot keys

    def answer(self, peer: int, op: str, args: Sequence[Any]) -> object:
        counters = self._counters
        if op == "admit":
            windows, slots, budgets, slot_id, now_ms = args
            check = Check(windows, slots, budgets)
            outcome = _done(counters.admit(check, slot_id, now_ms))
            if slots and outcome.kind is OutcomeKind.ADMITTED:
                self._slots.setdefault(peer, {})[slot_id] = [key for key, _ in slots]
            return [int(outcome.kind), outcome.index, outcome.used, outcome.ends_ms]
        if op == "release":
            keys, slot_id = args
            self._slots.get(peer, {}).pop(slot_id, None)
            return _done(counters.release(keys, slot_id))
        if op == "settle":
            return _done(counters.settle(*args))
        if op == "add":
            return _done(counters.add(*args))
        if op == "spend":
            return _done(counters.spend(*args))
        if op == "seed":
            return _done(counters.seed(*args))
        raise ValueError(f"unknown counter operation {op!r}")

    def disconnected(self, peer: int) -> None:
        for slot_id, keys in self._slots.pop(peer, {}).items():
            _done(self._counters.release(keys, slot_id))


def _done(step: Coroutine[Any, Any, T]) -> T:
    """The result of a ``MemoryCounters`` call, which never waits (that is what makes each call
    atomic on one event loop): run to its end here, inline."""
    try:
        step.send(None)
    except StopIteration as finished:
        return finished.value  # type: ignore[no-any-return]
    step.close()
    raise RuntimeError("a counter operation waited")
