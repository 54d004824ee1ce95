"""Usage totals and the request log, written off the request path.

A request only appends to lists in memory; a background task writes everything gathered, every
``flush_seconds``, in one transaction: usage summed per (day, project, key, model, meter) first,
so a thousand requests of one key make one row update. Rows older than the log retention are
deleted about every ten minutes. ``close`` writes what is left. If the database is down, the
batch is kept and retried (up to ``max_pending`` log lines; beyond that the oldest are dropped
and counted in ``dropped``)."""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from threadline.errors import ServiceUnavailable
from threadline.records.gateway import BilledRun, RequestLogRecord, UsageTotals
from threadline.storage import usage_store
from threadline.storage.database import Connection, Database

logger = logging.getLogger("threadline.gateway")

UsageKey = tuple[str, str, str, str, str]  # day, project id, key id, model, meter


@dataclass(slots=True)
class UsageEvent:
    """What one response or one run turn used, already priced."""

    project_id: str
    api_key_id: str | None
    model: str | None
    meter: str
    input_tokens: int = 0
    output_tokens: int = 0
    quantity: float = 0.0
    cost_nanos: int = 0
    requests: int = 1
    at: float = field(default_factory=time.time)
    # An Assistants pass-through run: counted only the first time it is seen finished.
    run_id: str | None = None


_day_cache: tuple[int, str] = (-1, "")


def day_of(at: float) -> str:
    """The UTC day of a Unix time, as YYYY-MM-DD (remembered: most events share a day)."""
    global _day_cache
    number = int(at // 86_400)
    if number != _day_cache[0]:
        _day_cache = (number, datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d"))
    return _day_cache[1]


class Recorder:
    def __init__(
        self,
        database: Database,
        *,
        flush_seconds: float = 1.0,
        retention_days: float = 30.0,
        max_pending: int = 100_000,
        on_usage: Callable[[UsageEvent], None] | None = None,
    ) -> None:
        self._db = database
        self._flush_seconds = flush_seconds
        self._retention_ms = int(retention_days * 86_400_000)
        # Old lines are looked for every ten minutes (more often for a very short retention).
        self._sweep_every = min(600.0, retention_days * 43_200)
        self._max_pending = max_pending
        self._logs: list[RequestLogRecord] = []
        self._usage: dict[UsageKey, list[float]] = {}
        self._runs: list[UsageEvent] = []
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._swept = 0.0
        self._on_usage = on_usage
        self.dropped = 0

    @property
    def pending(self) -> int:
        return len(self._logs) + len(self._usage) + len(self._runs)

    def log(self, row: RequestLogRecord) -> None:
        if len(self._logs) >= self._max_pending:
            self._logs.pop(0)
            self.dropped += 1
        self._logs.append(row)

    def usage(self, event: UsageEvent) -> None:
        if event.run_id is not None:
            self._runs.append(event)
            return
        self._add(event)

    def _add(self, event: UsageEvent) -> None:
        key = (
            day_of(event.at),
            event.project_id,
            event.api_key_id or "",
            event.model or "",
            event.meter,
        )
        totals = self._usage.get(key)
        if totals is None:
            totals = self._usage[key] = [0, 0, 0, 0.0, 0]
        totals[0] += event.requests
        totals[1] += event.input_tokens
        totals[2] += event.output_tokens
        totals[3] += event.quantity
        totals[4] += event.cost_nanos
        if self._on_usage is not None:
            self._on_usage(event)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="threadline-recorder")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(ServiceUnavailable):
            await self.flush()

    async def flush(self) -> None:
        """Write everything gathered so far (also what tests call to see it at once)."""
        logs, self._logs = self._logs, []
        runs, self._runs = self._runs, []
        usage, self._usage = self._usage, {}
        if not (logs or runs or usage):
            return
        rows: list[UsageTotals] = [
            {
                "day": key[0],
                "project_id": key[1],
                "api_key_id": key[2],
                "model": key[3],
                "meter": key[4],
                "requests": int(t[0]),
                "input_tokens": int(t[1]),
                "output_tokens": int(t[2]),
                "quantity": float(t[3]),
                "cost_nanos": int(t[4]),
            }
            for key, t in usage.items()
        ]
        try:
            billed = await self._db.write(_write, logs, rows, runs)
        except ServiceUnavailable:
            # Keep the batch for the next try (the database may be restarting).
            self._restore(logs, runs, usage)
            raise
        except Exception:
            # Not the database being away: a line it refuses. Usage must not be lost with
            # it, so the log lines of this batch are dropped and the rest is kept.
            logger.exception("the request log refused a batch of %d lines; dropped", len(logs))
            self.dropped += len(logs)
            self._restore([], runs, usage)
            raise
        fresh = [event for event in runs if event.run_id in billed]
        for event in fresh:
            self._add(event)
        if fresh:  # first seen finished: their usage joins the totals now
            await self.flush()

    def _restore(
        self,
        logs: list[RequestLogRecord],
        runs: list[UsageEvent],
        usage: dict[UsageKey, list[float]],
    ) -> None:
        self._logs = (logs + self._logs)[-self._max_pending :]
        self._runs = runs + self._runs
        for key, totals in usage.items():
            mine = self._usage.setdefault(key, [0, 0, 0, 0.0, 0])
            for index, value in enumerate(totals):
                mine[index] += value

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._flush_seconds)
            try:
                await self.flush()
                if time.time() - self._swept >= self._sweep_every:
                    self._swept = time.time()
                    cutoff = int(time.time() * 1000) - self._retention_ms
                    await self._db.write(usage_store.delete_logs_before, cutoff)
            except Exception:
                logger.warning("could not write the request log and usage; will retry")


def _write(
    connection: Connection,
    logs: list[RequestLogRecord],
    usage: list[UsageTotals],
    runs: list[UsageEvent],
) -> set[str]:
    usage_store.insert_logs(connection, logs)
    usage_store.add_usage(connection, usage)
    if not runs:
        return set()
    now = int(time.time())
    claims: list[BilledRun] = [
        {"run_id": e.run_id, "project_id": e.project_id, "billed_at": now}
        for e in runs
        if e.run_id is not None  # only pass-through runs are queued here
    ]
    return usage_store.claim_runs(connection, claims)
