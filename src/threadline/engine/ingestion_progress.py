"""How far a file's ingestion got, written to its store file while it is embedded.

Embedding reports after every batch of passages; writing each report would cost a database
write per batch (many per second with a fast embedder, contending with every other write on
SQLite). ``ProgressWriter`` writes the first report at once (the total is then known) and then
at most one every ``interval`` seconds, always the latest: a report that arrives too soon is
written by a trailing write when the interval is up, so what the API shows lags the embedding
by ``interval`` at most and never stalls on a skipped report."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

logger = logging.getLogger("threadline.ingestion")

WRITE_INTERVAL_SECONDS = 0.5

Write = Callable[[int, int], Awaitable[object]]  # (chunks done, chunks total)


class ProgressWriter:
    def __init__(
        self,
        write: Write,
        interval: float = WRITE_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._write = write
        self._interval = interval
        self._clock = clock
        self._latest: tuple[int, int] | None = None
        self._written: tuple[int, int] | None = None
        self._last_write = float("-inf")
        self._trailing: asyncio.Task[None] | None = None
        self._writing = False
        self._closed = False

    async def report(self, done: int, total: int) -> None:
        """The ``IndexProgress`` callback: (chunks embedded so far, chunks in the file)."""
        if self._closed:
            return
        self._latest = (done, total)
        if self._trailing is not None and not self._trailing.done():
            return  # a trailing write is due, and writes the latest
        wait = self._last_write + self._interval - self._clock()
        if wait <= 0:
            await self._flush()
        else:
            self._trailing = asyncio.create_task(self._trail(wait), name="ingestion-progress")

    async def close(self) -> None:
        """No more writes: the job's outcome is recorded next, with the final counts. A trailing
        write still waiting is dropped; one under way is let finish (a write cancelled halfway
        could leave a connection in an unknown state)."""
        self._closed = True
        trailing = self._trailing
        if trailing is None or trailing.done():
            return
        if not self._writing:
            trailing.cancel()
        await asyncio.wait([trailing])

    async def _trail(self, wait: float) -> None:
        # Reports that arrive while this writes are written after one more interval.
        while True:
            await asyncio.sleep(wait)
            if self._closed:
                return
            await self._flush()
            if self._closed or self._latest == self._written:
                return
            wait = self._interval

    async def _flush(self) -> None:
        latest = self._latest
        if latest is None or latest == self._written:
            return
        self._last_write = self._clock()
        self._written = latest
        self._writing = True
        try:
            await self._write(*latest)
        except Exception:
            # Progress is a courtesy: a failed write (a busy database) never fails the file.
            logger.warning("recording ingestion progress failed", exc_info=True)
        finally:
            self._writing = False
