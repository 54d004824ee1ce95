"""A run's end, written even when the database is away for a while.

The end of a run is the one write that must not be lost: it stores the answer. While the database
is unavailable the write is retried with backoff for a bounded time (the stream waits, with its
keep-alives). Past that bound the stream is told how the run ended, from what this worker holds
in memory (the message with its text, then ``thread.run.failed``), and the same end is written
once the database is back: what a client was told is what it later reads."""

import asyncio
import logging
import time

from threadline.engine.run_state import Ending, end_run, ending_events
from threadline.engine.turn import TurnRecorder
from threadline.errors import ServiceUnavailable
from threadline.records.runs import LastError, RunRecord
from threadline.schemas.run_objects import StreamEvent
from threadline.storage.database import Connection, Database

logger = logging.getLogger("threadline.engine")

# Why a run failed when the database went away under it.
DATABASE_LOST_WHILE_SAVING: LastError = {
    "code": "server_error",
    "message": "The database was unavailable when the run's answer was being saved. The answer "
    "so far is kept in the run's message. Please retry.",
}
DATABASE_LOST: LastError = {
    "code": "server_error",
    "message": "The database was unavailable while the run was executing. Please retry.",
}
# Waits between attempts: doubling from the first, at most the longest.
FIRST_WAIT_SECONDS = 0.05
LONGEST_WAIT_SECONDS = 2.0
LONGEST_WAIT_WHEN_TOLD_SECONDS = 5.0  # once the stream was told, nobody waits on the write
# The bound while the server is stopping: within the time it gives a run to end once cancelled.
STOPPING_RETRY_SECONDS = 2.0


async def write_end(
    db: Database,
    run_record: RunRecord,
    ending: Ending,
    until: float | None,
    longest_wait: float = LONGEST_WAIT_SECONDS,
) -> RunRecord | None:
    """End the run (``end_run``, fenced), retrying while the database is unavailable until
    ``until`` (``time.monotonic()``; None: until it is back). The run as ended, or None if the
    fence no longer held; ServiceUnavailable past ``until``."""
    wait = FIRST_WAIT_SECONDS
    said = False
    while True:
        ending.events = []  # a failed attempt's unit was rolled back, its events with it
        try:
            # Shielded: once committed, the end's events must go out even if this task is
            # being cancelled meanwhile.
            return await asyncio.shield(db.write(_end_fenced, run_record, ending))
        except ServiceUnavailable:
            if until is not None and time.monotonic() + wait > until:
                raise
            if not said:
                said = True
                logger.warning(
                    "run %s: the database is unavailable; retrying the run's end",
                    run_record["id"],
                )
        await asyncio.sleep(wait)
        wait = min(wait * 2, longest_wait)


def told_without_database(
    run_record: RunRecord, ending: Ending, recorder: TurnRecorder | None
) -> tuple[Ending, list[StreamEvent]]:
    """The end a stream is told when the database cannot take ``ending``, and the events that
    tell it, from what the worker holds: an answer that could not be saved is a failure (its
    message incomplete, with its text); any other end stays as it was, with the text so far.
    Storing the returned end later makes the run read back as it was told."""
    if ending.status in ("completed", "incomplete"):
        told = Ending("failed", ending.now, last_error=DATABASE_LOST_WHILE_SAVING)
    else:
        told = Ending(ending.status, ending.now, ending.last_error, ending.incomplete_reason)
    told.fence, told.usage = ending.fence, ending.usage
    step = message = None
    if recorder is not None:
        told.last_writes = recorder.partial_writes
        step, message = recorder.open_objects()
    logger.warning(
        "run %s: the database is still unavailable; its stream is told the run %s, which is "
        "stored once the database is back",
        run_record["id"],
        told.status,
    )
    return told, ending_events(run_record, told, step, message)


def _end_fenced(connection: Connection, record: RunRecord, ending: Ending) -> RunRecord | None:
    ended = end_run(connection, record, ending)
    return ended if ended is not record else None
