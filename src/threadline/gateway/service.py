"""The gateway as the HTTP layer and the run engine use it: admit a request, count what it
used, price it, log it; charges beyond tokens; usage of runs.

Everything on the request path is memory work (a cached key, in-memory counters, appends to
the recorder); the database and Redis are reached only by the recorder's background flush, by a
budget's first use in a period, with ``THREADLINE_REDIS_URL`` by the limit scripts, and by the
response cache for the keys that use it."""

import time
from collections import OrderedDict

from threadline.gateway.api_keys import KeyService
from threadline.gateway.counters import Counters, MemoryCounters
from threadline.gateway.limits import RateLimiter, Ticket
from threadline.gateway.metrics import Metrics
from threadline.gateway.pricing import RUNS, THREADS, PriceTable
from threadline.gateway.principal import Principal
from threadline.gateway.projects import ProjectService
from threadline.gateway.recorder import Recorder, UsageEvent
from threadline.gateway.response_cache import CacheStore, ResponseCache
from threadline.records.gateway import RequestLogRecord
from threadline.storage import usage_store
from threadline.storage.cache_store import DatabaseCacheStore
from threadline.storage.database import Database

_OBSERVED_MAX = 10_000


class Gateway:
    def __init__(
        self,
        database: Database,
        keys: KeyService,
        projects: ProjectService,
        prices: PriceTable,
        *,
        counters: Counters | None = None,
        cache_store: CacheStore | None = None,
        fail_open: bool = False,
        flush_seconds: float = 1.0,
        retention_days: float = 30.0,
        log_requests: bool = True,
    ) -> None:
        self._db = database
        self.keys = keys
        self.projects = projects
        self.prices = prices
        self.metrics = Metrics()
        self.limiter = RateLimiter(
            counters or MemoryCounters(), self._load_spend, fail_open=fail_open
        )
        self.recorder = Recorder(
            database,
            flush_seconds=flush_seconds,
            retention_days=retention_days,
            on_usage=self.metrics.observe_usage,
        )
        # Used only by keys and projects with a ``cache_ttl``; the database's unless Redis.
        self.cache = ResponseCache(cache_store or DatabaseCacheStore(database), self.metrics)
        self.log_requests = log_requests
        self._observed: list[tuple[str, str, int, float]] = []
        self._billed_runs: OrderedDict[str, None] = OrderedDict()

    async def _load_spend(self, kind: str, scope_id: str, first_day: str, last_day: str) -> int:
        await self.recorder.flush()  # what this process counted so far is in the table too
        return await self._db.read(usage_store.spend, kind, scope_id, first_day, last_day)

    def start(self) -> None:
        self.recorder.start()

    async def close(self) -> None:
        await self.recorder.close()
        await self.limiter.counters.aclose()
        await self.cache.aclose()

    # -- requests --------------------------------------------------------------------------

    async def admit(self, principal: Principal, *, metered: bool) -> Ticket | None:
        return await self.limiter.admit(principal, metered=metered)

    async def reserve(self, ticket: Ticket | None, tokens: int) -> None:
        await self.limiter.reserve(ticket, tokens)

    async def finish(
        self,
        principal: Principal | None,
        ticket: Ticket | None,
        *,
        model: str | None = None,
        meter: str | None = None,
        input_tokens: int = 0,
        output_tokens: int = 0,
    ) -> int:
        """The response ended. For a model call (``meter``), price and record its tokens;
        returns the cost in nano-USD."""
        cost = 0
        if meter is not None and principal is not None and model is not None:
            cost = self.prices.token_cost(model, input_tokens, output_tokens)
            self.recorder.usage(
                UsageEvent(
                    principal.project_id,
                    principal.key_id,
                    model,
                    meter,
                    input_tokens,
                    output_tokens,
                    cost_nanos=cost,
                )
            )
        if ticket is not None:
            await self.limiter.finish(ticket, input_tokens + output_tokens, cost)
        return cost

    def request_done(self, row: RequestLogRecord, route: str) -> None:
        """One request's log line (when the log is on) and its metrics."""
        if self.log_requests:
            self.recorder.log(row)
        observed = self._observed
        observed.append((route, row["method"], row["status"], row["latency_ms"] / 1000))
        if len(observed) >= _OBSERVED_MAX:
            self.observe()

    def observe(self) -> None:
        """Bring the requests seen since the last call into the metrics (at scrape time)."""
        observed, self._observed = self._observed, []
        self.metrics.observe_requests(observed)
        self.metrics.count_rejections(self.limiter.rejections)

    # -- runs and charges ------------------------------------------------------------------

    async def record_run_usage(
        self,
        project_id: str,
        key_id: str | None,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        meter: str = RUNS,
    ) -> int:
        """One model turn of a run: priced, recorded (under ``meter``: ``RUNS``, or
        ``RESPONSES`` for a response's run), counted against the key's TPM and budget (and its
        project's)."""
        cost = self.prices.token_cost(model, prompt_tokens, completion_tokens)
        self.recorder.usage(
            UsageEvent(
                project_id, key_id, model, meter, prompt_tokens, completion_tokens, cost_nanos=cost
            )
        )
        principal = await self.keys.by_id(key_id) if key_id else None
        if principal is not None:
            await self.limiter.record(principal, prompt_tokens + completion_tokens, cost)
        return cost

    async def record_passthrough_run(
        self,
        principal: Principal,
        run_id: str,
        model: str,
        prompt: int,
        completion: int,
        meter: str = RUNS,
    ) -> None:
        """A finished run (or response, ``meter`` ``RESPONSES``) of a pass-through upstream:
        billed once, however often it is seen (the usage table checks across restarts, this
        process's memory before)."""
        if run_id in self._billed_runs:
            return
        self._billed_runs[run_id] = None
        if len(self._billed_runs) > 100_000:
            self._billed_runs.popitem(last=False)
        cost = self.prices.token_cost(model, prompt, completion)
        self.recorder.usage(
            UsageEvent(
                principal.project_id,
                principal.key_id,
                model,
                meter,
                prompt,
                completion,
                cost_nanos=cost,
                run_id=run_id,
            )
        )
        await self.limiter.record(principal, prompt + completion, cost)

    async def thread_created(self, principal: Principal) -> None:
        """The optional fee per thread (``charges.thread`` in THREADLINE_CONFIG)."""
        if self.prices.charges.thread > 0:
            await self.charge(principal.project_id, principal.key_id, THREADS, 1)

    async def charge(self, project_id: str, key_id: str | None, meter: str, quantity: float) -> int:
        """A charge beyond tokens (``pricing.CODE_INTERPRETER_SESSIONS``,
        ``VECTOR_STORE_GB_DAYS``, ``THREADS``): priced, recorded, counted against budgets.
        For features to call as they bill; returns the cost in nano-USD."""
        cost = self.prices.charge_cost(meter, quantity)
        self.recorder.usage(
            UsageEvent(
                project_id, key_id, None, meter, quantity=quantity, cost_nanos=cost, at=time.time()
            )
        )
        principal = await self.keys.by_id(key_id) if key_id else None
        if principal is not None:
            await self.limiter.record(principal, 0, cost)
        return cost
