"""``ProgressWriter``: the first report is written at once, later ones at most once an interval
and always the latest (a trailing write, so a report is never lost when embedding stalls), a
write failure never fails the file, and closing drops a write still due. The clock is frozen:
which reports are written never depends on how fast the test runs."""

import asyncio

from threadline.engine.ingestion_progress import ProgressWriter


def test_writes_the_first_at_once_then_the_latest_after_the_interval() -> None:
    written: list[tuple[int, int]] = []
    second_written = asyncio.Event()

    async def write(done: int, total: int) -> None:
        written.append((done, total))
        if len(written) == 2:
            second_written.set()

    async def scenario() -> None:
        writer = ProgressWriter(write, interval=0.05, clock=lambda: 0.0)
        await writer.report(0, 100)
        assert written == [(0, 100)]
        await writer.report(64, 100)  # too soon: left to the trailing write
        await writer.report(90, 100)  # replaces it
        assert written == [(0, 100)]
        await asyncio.wait_for(second_written.wait(), 5)
        assert written == [(0, 100), (90, 100)]
        await writer.close()

    asyncio.run(scenario())


def test_close_drops_a_write_still_due_and_later_reports() -> None:
    written: list[tuple[int, int]] = []

    async def write(done: int, total: int) -> None:
        written.append((done, total))

    async def scenario() -> None:
        writer = ProgressWriter(write, interval=60, clock=lambda: 0.0)
        await writer.report(0, 10)
        await writer.report(5, 10)
        await writer.close()
        await writer.report(10, 10)
        await asyncio.sleep(0)

    asyncio.run(scenario())
    assert written == [(0, 10)]


def test_a_failing_write_is_only_logged() -> None:
    calls: list[tuple[int, int]] = []

    async def write(done: int, total: int) -> None:
        calls.append((done, total))
        raise RuntimeError("database is locked")

    async def scenario() -> None:
        writer = ProgressWriter(write, interval=0.0)
        await writer.report(0, 10)
        await writer.report(4, 10)
        await writer.report(4, 10)  # unchanged: not written again
        await writer.close()

    asyncio.run(scenario())
    assert calls == [(0, 10), (4, 10)]
