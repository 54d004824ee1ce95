"""The run service's answer to a request that queues a run (``QueuedRun``): the run, and for a
stream its first events and the subscription it took before queuing the run."""

import pytest

from tests.unit.run_harness import PROJECT, ScriptedModel, engine, run
from tests.unit.run_harness import text as answer
from threadline.errors import InvalidRequest
from threadline.schemas.runs import CreateRun, CreateThreadAndRun


def test_a_thread_and_run_stream_opens_with_the_thread_and_the_run() -> None:
    async def check(url: str) -> None:
        async with engine(url, ScriptedModel([answer("Hi")])) as running:
            _, assistant_id = await running.thread_and_assistant()
            body = {"assistant_id": assistant_id, "stream": True, "thread": {}}
            request = CreateThreadAndRun.model_validate(body)
            queued = await running.runs.create_thread_and_run(PROJECT, request)
            assert [event.name for event in queued.first_events] == [
                "thread.created",
                "thread.run.created",
                "thread.run.queued",
            ]
            assert queued.subscription is not None
            running.streams[queued.run.id] = queued.subscription
            assert (await running.events(queued.run.id))[-1].name == "thread.run.completed"

    run(check)


def test_a_run_created_without_stream_subscribes_to_nothing() -> None:
    async def check(url: str) -> None:
        async with engine(url) as running:
            thread_id, assistant_id = await running.thread_and_assistant()
            request = CreateRun.model_validate({"assistant_id": assistant_id})
            queued = await running.runs.create(PROJECT, thread_id, request)
            assert queued.subscription is None and queued.first_events == ()
            assert not running.bus.has_subscribers(queued.run.id)

    run(check)


def test_a_stream_whose_run_is_refused_leaves_no_subscription() -> None:
    async def check(url: str) -> None:
        async with engine(url) as running:
            thread_id, run_id = await running.new_run()
            _, assistant_id = await running.thread_and_assistant()
            busy = CreateRun.model_validate({"assistant_id": assistant_id, "stream": True})
            with pytest.raises(InvalidRequest, match="already has an active run"):
                await running.runs.create(PROJECT, thread_id, busy)
            # Only the first run's own stream is left (the refused run's id is not known here).
            assert set(running.bus._subscribers) == {run_id}

    run(check)
