"""The supervisor's side: a Unix-socket server that answers the workers and passes on what one
worker tells the others."""

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, cast

from threadline.providers.cluster.wire import Decoder, FrameTooLarge, Message, encode

logger = logging.getLogger("threadline.cluster")

TELL = "tell"
# A worker asks every worker (itself included) for a report (its metrics): the hub passes the
# question on as GATHER, collects each one's GATHERED answer, and answers with the list.
GATHER = "gather"
GATHERED = "gathered"
# A worker that does not answer by then is left out of the report.
GATHER_SECONDS = 2.0


class Desk(Protocol):
    """What the hub answers with. ``answer`` must not wait: the messages of one worker are
    answered in the order sent (a release before the admission that follows it)."""

    def answer(self, peer: int, op: str, args: Sequence[object]) -> object: ...

    def disconnected(self, peer: int) -> None:
        """The worker ``peer`` is gone (exited or killed): drop what it held."""
        ...


class Hub:
    def __init__(self, path: Path, desk: Desk) -> None:
        self.path = path
        self._desk = desk
        self._peers: dict[int, _Peer] = {}
        self._server: asyncio.AbstractServer | None = None
        self._next_peer = 0
        self._gathers: dict[int, _Gather] = {}
        self._next_gather = 0

    async def start(self) -> None:
        self.path.unlink(missing_ok=True)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(self._new_peer, str(self.path))
        self.path.chmod(0o600)  # only this user's processes join

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for peer in list(self._peers.values()):
                peer.transport.close()
            await self._server.wait_closed()
        self.path.unlink(missing_ok=True)

    def _new_peer(self) -> "_Peer":
        self._next_peer += 1
        return _Peer(self, self._next_peer)

    def _joined(self, peer: "_Peer") -> None:
        self._peers[peer.number] = peer

    def _left(self, peer: "_Peer") -> None:
        if self._peers.pop(peer.number, None) is not None:
            self._desk.disconnected(peer.number)
        for gather in list(self._gathers.values()):
            gather.answered(peer.number, None)

    def _received(self, peer: "_Peer", message: Message) -> None:
        ident, op, *args = message
        if op == TELL:
            frame = encode([0, *args])
            for other in self._peers.values():
                if other is not peer:
                    other.write(frame)
            return
        if op == GATHER:
            self._gather(peer, int(ident), args)  # type: ignore[call-overload]
            return
        if op == GATHERED:
            gather = self._gathers.get(int(args[0]))  # type: ignore[call-overload]
            if gather is not None:
                gather.answered(peer.number, args[1])
            return
        try:
            result = self._desk.answer(peer.number, str(op), args)
        except Exception as error:
            logger.exception("hub: %s failed", op)
            if ident:
                peer.write(encode([ident, None, str(error)]))
            return
        if ident:
            peer.write(encode([ident, result]))

    def _gather(self, asker: "_Peer", ident: int, args: Sequence[object]) -> None:
        self._next_gather += 1
        number = self._next_gather
        gather = _Gather(self, number, asker, ident, set(self._peers))
        self._gathers[number] = gather
        frame = encode([0, GATHER, number, *args])
        for peer in self._peers.values():
            peer.write(frame)
        gather.timer = asyncio.get_running_loop().call_later(GATHER_SECONDS, gather.finish)


class _Gather:
    def __init__(
        self, hub: Hub, number: int, asker: "_Peer", ident: int, waiting: set[int]
    ) -> None:
        self.hub = hub
        self.number = number
        self.asker = asker
        self.ident = ident
        self.waiting = waiting
        self.reports: list[object] = []
        self.timer: asyncio.TimerHandle | None = None

    def answered(self, peer: int, report: object) -> None:
        if peer in self.waiting:
            self.waiting.discard(peer)
            if report is not None:
                self.reports.append(report)
            if not self.waiting:
                self.finish()

    def finish(self) -> None:
        if self.hub._gathers.pop(self.number, None) is None:
            return
        if self.timer is not None:
            self.timer.cancel()
        if not self.asker.transport.is_closing():
            self.asker.write(encode([self.ident, self.reports]))


class _Peer(asyncio.Protocol):
    def __init__(self, hub: Hub, number: int) -> None:
        self.hub = hub
        self.number = number
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set at once
        self._decoder = Decoder(lambda message: hub._received(self, message))
        self._outgoing: list[bytes] = []

    def write(self, frame: bytes) -> None:
        """Send ``frame``: with the others written in this turn of the loop, in one write at
        its end (the answers to a batch of requests read at once go out at once)."""
        outgoing = self._outgoing
        outgoing.append(frame)
        if len(outgoing) == 1:
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        frames, self._outgoing = self._outgoing, []
        if not self.transport.is_closing():
            self.transport.write(b"".join(frames))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.hub._joined(self)

    def data_received(self, data: bytes) -> None:
        try:
            self._decoder.feed(data)
        except (FrameTooLarge, ValueError) as error:
            logger.error("hub: dropping a worker that sent a broken message (%s)", error)
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.hub._left(self)
