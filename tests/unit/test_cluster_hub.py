"""The supervisor's hub and the workers' links (``serve --workers N``), in one event loop over a
real Unix socket: counters exact across links, a link's messages handled in the order sent, the
slots of a link that goes away released, telling reaches the others only, and a link notices its
hub going away."""

import asyncio
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from threadline.engine.peers import HubPeers
from threadline.gateway.counters import Check, CountersUnavailable, OutcomeKind
from threadline.gateway.hub_counters import CounterDesk, HubCounters
from threadline.providers.cluster.hub import Desk, Hub
from threadline.providers.cluster.link import HubLink, HubUnavailable
from threadline.providers.cluster.wire import Decoder, FrameTooLarge, Message, encode

NOW_MS = 1_000_000
DEADLINE = 5.0


class EchoDesk:
    """Answers every request with what it was asked; remembers who left."""

    def __init__(self) -> None:
        self.left: list[int] = []

    def answer(self, peer: int, op: str, args: Sequence[object]) -> object:
        if op == "fail":
            raise ValueError("asked to fail")
        return [op, *args]

    def disconnected(self, peer: int) -> None:
        self.left.append(peer)


@asynccontextmanager
async def hub_with(desk: Desk) -> AsyncIterator[Hub]:
    with tempfile.TemporaryDirectory(prefix="tl-hub-") as directory:
        hub = Hub(Path(directory) / "hub.sock", desk)
        await hub.start()
        try:
            yield hub
        finally:
            await hub.close()


async def linked(hub: Hub, on_lost: Callable[[], None] | None = None) -> HubLink:
    link = HubLink(hub.path, on_lost=on_lost)
    await link.connect()
    return link


async def eventually(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``condition`` until true; fail at the deadline."""
    try:
        async with asyncio.timeout(DEADLINE):
            while not await condition():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(what) from None


def window(limit: int) -> Check:
    return Check(windows=[("w:key:k1:r", limit, 1)])


def slot(limit: int) -> Check:
    return Check(slots=[("c:key:k1", limit)])


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 20))


def test_admission_is_exact_across_links() -> None:
    """Three workers asking at once for a window of 10: exactly 10 admitted."""

    async def test() -> None:
        async with hub_with(CounterDesk()) as hub:
            links = [await linked(hub) for _ in range(3)]
            counters = [HubCounters(link) for link in links]
            outcomes = await asyncio.gather(
                *(c.admit(window(10), f"s{i}", NOW_MS) for c in counters for i in range(8))
            )
            kinds = [outcome.kind for outcome in outcomes]
            assert kinds.count(OutcomeKind.ADMITTED) == 10
            assert kinds.count(OutcomeKind.WINDOW_FULL) == 14
            admitted = [o for o in outcomes if o.kind is OutcomeKind.ADMITTED]
            assert sorted(o.used[0] for o in admitted) == list(range(1, 11))
            for link in links:
                await link.aclose()

    run(test)


def test_a_send_is_handled_before_the_ask_that_follows_it() -> None:
    """A release is sent without waiting; the admission asked right after it finds the slot
    free (the hub handles one link's messages in order)."""

    async def test() -> None:
        async with hub_with(CounterDesk()) as hub:
            link = await linked(hub)
            counters = HubCounters(link)
            assert (await counters.admit(slot(1), "a", NOW_MS)).kind is OutcomeKind.ADMITTED
            assert (await counters.admit(slot(1), "b", NOW_MS)).kind is OutcomeKind.SLOTS_FULL
            await counters.release(["c:key:k1"], "a")  # sent, not waited for
            assert (await counters.admit(slot(1), "c", NOW_MS)).kind is OutcomeKind.ADMITTED
            await link.aclose()

    run(test)


def test_the_slots_of_a_link_that_goes_away_are_released() -> None:
    """A worker holding slots dies (its connection drops): its slots, and only its, are freed."""

    async def test() -> None:
        async with hub_with(CounterDesk()) as hub:
            dying, living = await linked(hub), await linked(hub)
            doomed, kept = HubCounters(dying), HubCounters(living)
            assert (await doomed.admit(slot(2), "d1", NOW_MS)).kind is OutcomeKind.ADMITTED
            assert (await kept.admit(slot(2), "k1", NOW_MS)).kind is OutcomeKind.ADMITTED
            assert (await kept.admit(slot(2), "k2", NOW_MS)).kind is OutcomeKind.SLOTS_FULL
            await dying.aclose()

            async def freed() -> bool:
                outcome = await kept.admit(slot(2), "k2", NOW_MS)
                return outcome.kind is OutcomeKind.ADMITTED

            await eventually(freed, "the dead link's slot was never released")
            # The living link's own slot is still held: the limit of 2 is full again.
            assert (await kept.admit(slot(2), "k3", NOW_MS)).kind is OutcomeKind.SLOTS_FULL
            await living.aclose()

    run(test)


def test_tell_reaches_the_other_links_not_the_sender() -> None:
    async def test() -> None:
        desk = EchoDesk()
        async with hub_with(desk) as hub:
            links = [await linked(hub) for _ in range(3)]
            heard: list[list[Any]] = [[] for _ in links]
            for link, inbox in zip(links, heard, strict=True):
                link.on_told("cancel", lambda *args, inbox=inbox: inbox.append(list(args)))
            sender = links[0]
            sender.tell("cancel", "run_1", 2)

            async def everyone_heard() -> bool:
                return all(heard[1:])

            await eventually(everyone_heard, "a peer never heard the telling")
            assert heard[1:] == [[["run_1", 2]], [["run_1", 2]]]
            # Anything the hub sent the sender before answering this would have arrived first.
            assert await sender.ask("echo", 1) == ["echo", 1]
            assert heard[0] == []
            for link in links:
                await link.aclose()

    run(test)


def test_answers_match_their_asks_and_errors_come_back() -> None:
    async def test() -> None:
        async with hub_with(EchoDesk()) as hub:
            link = await linked(hub)
            answers = await asyncio.gather(*(link.ask("echo", n, str(n)) for n in range(50)))
            assert answers == [["echo", n, str(n)] for n in range(50)]
            with pytest.raises(HubUnavailable, match="asked to fail"):
                await link.ask("fail")
            assert await link.ask("echo", "still") == ["echo", "still"]
            await link.aclose()

    run(test)


def test_a_link_notices_its_hub_going_away() -> None:
    """The supervisor is gone: the worker is told (``on_lost``), asking fails as the counters'
    unavailability, and telling peers is quietly skipped."""

    async def test() -> None:
        lost = asyncio.Event()
        closed_on_purpose = asyncio.Event()
        async with hub_with(CounterDesk()) as hub:
            link = await linked(hub, on_lost=lost.set)
            quitting = await linked(hub, on_lost=closed_on_purpose.set)
            await quitting.aclose()  # a worker stopping closes its own link: not a loss
            counters = HubCounters(link)
            assert (await counters.admit(window(5), "a", NOW_MS)).kind is OutcomeKind.ADMITTED
        async with asyncio.timeout(DEADLINE):
            await lost.wait()
        assert not closed_on_purpose.is_set()
        with pytest.raises(CountersUnavailable):
            await counters.admit(window(5), "b", NOW_MS)
        with pytest.raises(CountersUnavailable):
            await counters.release(["c:key:k1"], "a")
        with pytest.raises(HubUnavailable):
            link.tell("cancel", "run_1")
        HubPeers(link).cancel("run_1")  # never fails a request

    run(test)


def test_the_hub_drops_a_link_that_sends_a_broken_frame() -> None:
    async def test() -> None:
        desk = EchoDesk()
        async with hub_with(desk) as hub:
            lost = asyncio.Event()
            link = await linked(hub, on_lost=lost.set)
            assert await link.ask("echo") == ["echo"]
            link._live().write(b"\x00\x00\x00\x03{x}")  # a frame that is not JSON
            async with asyncio.timeout(DEADLINE):
                await lost.wait()

            async def dropped() -> bool:
                return len(desk.left) == 1

            await eventually(dropped, "the hub kept the broken link")

    run(test)


def test_frames_decode_however_the_stream_splits_them() -> None:
    messages: list[Message] = [[1, "admit", [["w", 3, 1]], "s", 5], [0, "tell", "x"], [2, None]]
    data = b"".join(encode(message) for message in messages)
    received: list[Message] = []
    decoder = Decoder(received.append)
    for index in range(len(data)):
        decoder.feed(data[index : index + 1])
    assert received == messages
    with pytest.raises(FrameTooLarge):
        Decoder(received.append).feed(b"\x7f\xff\xff\xff")
