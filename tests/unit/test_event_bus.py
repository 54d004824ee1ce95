"""The event bus hands a stream every event published since it last looked, in one batch, and
ends it where the segment ends."""

import asyncio

from threadline.engine.event_bus import KEEPALIVE, EventBus
from threadline.schemas.run_objects import StreamEvent

DELTA = StreamEvent("thread.message.delta", b"{}")
DONE = StreamEvent("thread.run.completed", b"{}")


def test_events_queued_while_the_reader_waited_come_as_one_batch() -> None:
    async def scenario() -> list[list[str]]:
        bus = EventBus()
        subscription = bus.subscribe("run_1")
        batches: list[list[str]] = []

        async def read() -> None:
            async for batch in subscription.batches():
                batches.append([e.name for e in batch])

        reader = asyncio.create_task(read())
        await asyncio.sleep(0)
        for _ in range(3):
            bus.publish("run_1", DELTA)
        await asyncio.sleep(0)
        bus.publish("run_1", DONE)
        bus.publish("run_1", DELTA)  # after the segment's end: not this stream's
        await reader
        assert not bus.has_subscribers("run_1")
        return batches

    assert asyncio.run(scenario()) == [["thread.message.delta"] * 3, ["thread.run.completed"]]


def test_end_stops_the_stream_after_what_it_holds() -> None:
    async def scenario() -> list[list[str]]:
        bus = EventBus()
        subscription = bus.subscribe("run_1")
        bus.publish("run_1", DELTA)
        bus.end("run_1")
        return [[e.name for e in batch] async for batch in subscription.batches()]

    assert asyncio.run(scenario()) == [["thread.message.delta"]]


def test_an_idle_stream_gets_keepalives() -> None:
    async def scenario() -> list[list[StreamEvent]]:
        bus = EventBus()
        subscription = bus.subscribe("run_1")
        asyncio.get_running_loop().call_later(0.05, bus.publish, "run_1", DONE)
        return [batch async for batch in subscription.batches(keepalive_seconds=0.01)]

    batches = asyncio.run(scenario())
    assert batches[-1] == [DONE]
    assert len(batches) >= 2 and all(batch == [KEEPALIVE] for batch in batches[:-1])
