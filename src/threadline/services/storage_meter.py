"""Billing vector-store storage, as OpenAI did: per GB-day, beyond a free allowance.

Once an hour each project's live stores are weighed, and the hour is charged as 1/24 of a
GB-day (less the free GB) through the gateway. A marker per project and hour, claimed in the
database, makes every hour billed once however many replicas or restarts see it."""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from threadline import clock
from threadline.gateway.pricing import VECTOR_STORE_GB_DAYS
from threadline.records.gateway import BilledRun
from threadline.storage.database import Database
from threadline.storage.files import stored_bytes_by_project
from threadline.storage.usage_store import claim_runs

logger = logging.getLogger("threadline.gateway")

# (project id, key id, meter, quantity) -> cost; the gateway's ``charge``.
Charge = Callable[[str, str | None, str, float], Awaitable[int]]
BYTES_PER_GB = 1_000_000_000
_HOUR = 3600
_LOOK_EVERY_SECONDS = 300.0


class StorageMeter:
    def __init__(
        self,
        database: Database,
        charge: Charge,
        billable_gb_days: Callable[[float, float], float],
        *,
        look_every_seconds: float = _LOOK_EVERY_SECONDS,
    ) -> None:
        self._db = database
        self._charge = charge
        self._billable = billable_gb_days  # (stored GB, days) -> GB-days to bill
        self._every = look_every_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="threadline-storage-meter")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def meter_hour(self, hour: int) -> float:
        """Bill the hour starting at ``hour`` (Unix seconds) for every project not billed for it
        yet; the GB-days billed."""
        stored = await self._db.read(stored_bytes_by_project, clock.now())
        billed = 0.0
        for project_id, size in stored:
            quantity = self._billable(size / BYTES_PER_GB, 1 / 24)
            if quantity <= 0:
                continue
            marker: BilledRun = {
                "run_id": f"storage:{project_id}:{hour}",
                "project_id": project_id,
                "billed_at": clock.now(),
            }
            if not await self._db.write(claim_runs, [marker]):
                continue  # another replica (or an earlier start) billed it
            await self._charge(project_id, None, VECTOR_STORE_GB_DAYS, quantity)
            billed += quantity
        return billed

    async def _loop(self) -> None:
        while True:
            try:
                await self.meter_hour(int(time.time()) // _HOUR * _HOUR)
            except Exception:
                logger.exception("billing vector-store storage failed")
            await asyncio.sleep(self._every)
