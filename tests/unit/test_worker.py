"""The worker and the run service on a temporary SQLite database with a scripted model: how a
run is claimed, loses its lease, is cancelled before it started, expires, and is re-queued with
tool outputs. No server: each test takes a second or less."""

import asyncio
from collections.abc import Iterable

from tests.unit.run_harness import (
    OWNER,
    PROJECT,
    Engine,
    ScriptedModel,
    engine,
    function_call,
    function_tool,
    run,
    until,
)
from tests.unit.run_harness import text as answer
from threadline.engine.worker import CLAIM_AT_ONCE_WHILE_STARTING
from threadline.records.runs import RunRecord, RunStatus
from threadline.schemas.run_objects import StreamEvent
from threadline.schemas.runs import CreateRun, SubmitToolOutputs
from threadline.storage.database import Connection
from threadline.storage.runs import RunRepository

_runs = RunRepository()


def _names(events: Iterable[StreamEvent]) -> list[str]:
    return [event.name for event in events]


def test_a_run_is_claimed_in_the_unit_that_creates_it_and_answers() -> None:
    async def check(url: str) -> None:
        async with engine(url, ScriptedModel([answer("Hello")])) as running:
            thread_id, assistant_id = await running.thread_and_assistant()
            request = CreateRun.model_validate({"assistant_id": assistant_id, "stream": True})
            queued = await running.runs.create(PROJECT, thread_id, request)
            # The request answers with the run as queued; the database already has it claimed
            # by this worker (no turn of the claim loop: its loops are not even started).
            assert queued.run.status == "queued"
            assert _names(queued.first_events) == ["thread.run.created", "thread.run.queued"]
            row = await running.row(queued.run.id)
            assert row["status"] == "in_progress" and row["lease_owner"] == OWNER
            assert row["attempt"] == 1
            assert queued.subscription is not None
            running.streams[queued.run.id] = queued.subscription
            events = await running.events(queued.run.id)
            assert events[0].name == "thread.run.in_progress"
            assert events[-1].name == "thread.run.completed"
            assert (await running.row(queued.run.id))["status"] == "completed"

    run(check)


def test_a_burst_is_left_to_the_claim_loop() -> None:
    async def check(url: str) -> None:
        async with engine(url) as running:
            # Each run created before any execution started (no await yields to them here on
            # SQLite) counts as starting: past the limit, the claim loop takes the rest.
            ids = [(await running.new_run())[1] for _ in range(CLAIM_AT_ONCE_WHILE_STARTING + 1)]
            rows = [await running.row(run_id) for run_id in ids]
            assert [r["status"] for r in rows[:-1]] == ["in_progress"] * (len(ids) - 1)
            last = rows[-1]
            assert last["status"] == "queued" and last["lease_owner"] == OWNER  # reserved
            running.worker.start()
            for run_id in ids:
                assert (await running.events(run_id))[-1].name == "thread.run.completed"

    run(check)


def test_an_execution_that_lost_its_lease_stops_writing() -> None:
    async def check(url: str) -> None:
        model = ScriptedModel([answer("never stored as the end")], gate=asyncio.Event())
        async with engine(url, model, lease_seconds=1.5) as running:
            _, run_id = await running.new_run()
            await asyncio.wait_for(model.answering.wait(), 10)
            # Another replica took the run over (its lease had run out, say).
            taken = await running.row(run_id)
            await running.db.write(_take_over, run_id, taken["attempt"] + 1)
            running.worker.start()  # its lease renewal finds the run gone and stops it
            assert await until(lambda: _idle(running))
            row = await running.row(run_id)
            assert row["status"] == "in_progress" and row["lease_owner"] == "other-replica"
            assert row["completed_at"] is None and row["last_error"] is None
            # Its stream ends without an end of the run: the other replica's to tell.
            ends = [n for n in _names(await running.events(run_id)) if n in _RUN_ENDS]
            assert ends == []

    run(check)


def test_an_attempt_whose_end_is_fenced_out_does_not_end_the_run() -> None:
    async def check(url: str) -> None:
        model = ScriptedModel([answer("late")], gate=asyncio.Event())
        async with engine(url, model) as running:
            _, run_id = await running.new_run()
            await asyncio.wait_for(model.answering.wait(), 10)
            taken = await running.row(run_id)
            await running.db.write(_take_over, run_id, taken["attempt"] + 1)
            assert model.gate is not None
            model.gate.set()  # the answer ends; its end is refused by the fence
            events = await running.events(run_id)
            assert "thread.run.completed" not in _names(events)
            row = await running.row(run_id)
            assert row["status"] == "in_progress" and row["lease_owner"] == "other-replica"

    run(check)


def test_a_cancel_before_the_execution_started_ends_the_run_without_calling_the_model() -> None:
    async def check(url: str) -> None:
        model = ScriptedModel()
        async with engine(url, model) as running:
            thread_id, run_id = await running.new_run()
            # Claimed at creation, its execution not started yet (nothing awaited since).
            assert (await running.row(run_id))["status"] == "in_progress"
            cancelling = await running.runs.cancel(PROJECT, thread_id, run_id)
            assert cancelling.status == "cancelling"
            events = await running.events(run_id)
            assert _names(events)[0] == "thread.run.cancelling"
            assert _names(events)[-1] == "thread.run.cancelled"
            assert model.requests == []
            assert (await running.row(run_id))["status"] == "cancelled"

    run(check)


def test_a_cancel_for_a_run_not_yet_taken_here_reaches_it_once_taken() -> None:
    async def check(url: str) -> None:
        model = ScriptedModel()
        async with engine(url, model) as running:
            ids = [(await running.new_run())[1] for _ in range(CLAIM_AT_ONCE_WHILE_STARTING + 1)]
            late = ids[-1]
            assert (await running.row(late))["status"] == "queued"
            # A cancel that came through another replica, for a run this worker has not
            # started: kept until the worker takes the run.
            running.worker.cancel(late)
            running.worker.start()
            assert _names(await running.events(late))[-1] == "thread.run.cancelled"
            assert len(model.requests) == len(ids) - 1

    run(check)


def test_the_reaper_expires_a_run_past_its_expiry() -> None:
    async def check(url: str) -> None:
        model = ScriptedModel([function_call("lookup")])
        async with engine(url, model, lease_seconds=1.5) as running:
            _, run_id = await running.new_run(tools=[function_tool("lookup")])
            assert _names(await running.events(run_id))[-1] == "thread.run.requires_action"
            await running.change(run_id, {"expires_at": 1})
            running.worker.start()
            row = await until(lambda: _with_status(running, run_id, "expired"))
            assert row and row["required_action"] is None and row["expires_at"] is None

    run(check)


def test_tool_outputs_requeue_the_run_for_this_worker() -> None:
    async def check(url: str) -> None:
        model = ScriptedModel([function_call("lookup", '{"q": 1}'), answer("42")])
        async with engine(url, model) as running:
            thread_id, run_id = await running.new_run(tools=[function_tool("lookup")])
            assert _names(await running.events(run_id))[-1] == "thread.run.requires_action"
            waiting = await running.row(run_id)
            assert waiting["lease_owner"] is None  # nothing executes a run that waits
            action = waiting["required_action"]
            assert action is not None
            (call,) = action["submit_tool_outputs"]["tool_calls"]
            outputs = SubmitToolOutputs.model_validate(
                {"tool_outputs": [{"tool_call_id": call["id"], "output": "found"}], "stream": True}
            )
            queued = await running.runs.submit_tool_outputs(PROJECT, thread_id, run_id, outputs)
            assert queued.run.status == "queued"
            assert _names(queued.first_events) == [
                "thread.run.step.completed",
                "thread.run.queued",
            ]
            row = await running.row(run_id)
            assert row["status"] == "queued" and row["lease_owner"] == OWNER  # reserved here
            assert queued.subscription is not None
            running.streams[run_id] = queued.subscription
            running.worker.start()
            assert _names(await running.events(run_id))[-1] == "thread.run.completed"
            final = await running.row(run_id)
            assert final["status"] == "completed" and final["attempt"] == 2
            tool_answer = model.requests[1].messages[-1]
            assert tool_answer["role"] == "tool" and tool_answer["content"] == "found"

    run(check)


_RUN_ENDS = {f"thread.run.{s}" for s in ("completed", "failed", "cancelled", "expired")}


def _take_over(connection: Connection, run_id: str, attempt: int) -> None:
    """What another replica's claim leaves: its lease, a new attempt."""
    changes = {"lease_owner": "other-replica", "lease_expires_at": 4e9, "attempt": attempt}
    _runs.update(connection, PROJECT, run_id, changes)


async def _idle(running: Engine) -> bool:
    return running.worker.active_count() == 0


async def _with_status(running: Engine, run_id: str, status: RunStatus) -> RunRecord | None:
    row = await running.row(run_id)
    return row if row["status"] == status else None
