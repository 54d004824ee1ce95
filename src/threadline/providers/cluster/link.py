"""A worker's side: one connection to the supervisor's hub, for asking and telling.

Requests are pipelined on the one connection (each waits for its own answer, in any order of
awaiting), so a worker asks at the cost of one write and one read of its event loop: no thread,
no lock. If the hub goes away the supervisor is gone, and a worker without its supervisor would
serve on alone (its limits no longer shared): it is told through ``on_lost`` and stops."""

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import cast

from threadline.providers.cluster.hub import GATHER, GATHERED, TELL
from threadline.providers.cluster.wire import Decoder, Message, encode

logger = logging.getLogger("threadline.cluster")

Handler = Callable[..., None]


class HubUnavailable(Exception):
    """The hub cannot be reached (the supervisor stopped or died)."""


class HubLink(asyncio.Protocol):
    def __init__(self, path: Path, on_lost: Callable[[], None] | None = None) -> None:
        self.path = path
        self._on_lost = on_lost
        self._transport: asyncio.Transport | None = None
        self._waiting: dict[int, asyncio.Future[object]] = {}
        self._next_id = 0
        self._handlers: dict[str, Handler] = {GATHER: self._report}
        self._reporters: dict[str, Callable[[], object]] = {}
        self._decoder = Decoder(self._received)
        self._closing = False
        # Frames written in one turn of the loop go out in one write (one system call) at its
        # end: under load, the requests of many admissions share it.
        self._outgoing: list[bytes] = []

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_unix_connection(lambda: self, str(self.path))

    def on_told(self, kind: str, handler: Handler) -> None:
        """Call ``handler(*args)`` when another worker tells ``kind``."""
        self._handlers[kind] = handler

    def on_gather(self, kind: str, reporter: Callable[[], object]) -> None:
        """Answer ``gather(kind)`` (asked by any worker) with ``reporter()``."""
        self._reporters[kind] = reporter

    async def gather(self, kind: str) -> list[object]:
        """Every worker's report of ``kind`` (this one's included; one that does not answer
        within the hub's GATHER_SECONDS is left out)."""
        reports = await self.ask(GATHER, kind)
        assert isinstance(reports, list)
        return reports

    async def ask(self, op: str, *args: object) -> object:
        transport = self._live()
        self._next_id += 1
        ident = self._next_id
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = future
        self._write(transport, encode([ident, op, *args]))
        return await future

    def send(self, op: str, *args: object) -> None:
        """A request that needs no answer (still handled in order with the others)."""
        self._write(self._live(), encode([0, op, *args]))

    def tell(self, kind: str, *args: object) -> None:
        """Pass ``kind`` and ``args`` to every other worker."""
        self._write(self._live(), encode([0, TELL, kind, *args]))

    def _write(self, transport: asyncio.Transport, frame: bytes) -> None:
        outgoing = self._outgoing
        outgoing.append(frame)
        if len(outgoing) == 1:
            asyncio.get_running_loop().call_soon(self._flush, transport)

    def _flush(self, transport: asyncio.Transport) -> None:
        frames, self._outgoing = self._outgoing, []
        if not transport.is_closing():
            transport.write(b"".join(frames))

    async def aclose(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.close()

    def _live(self) -> asyncio.Transport:
        transport = self._transport
        if transport is None or transport.is_closing():
            raise HubUnavailable("the supervisor's hub is not connected")
        return transport

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._decoder.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(HubUnavailable("the supervisor's hub went away"))
        if not self._closing:
            logger.error("the supervisor is gone: this worker stops")
            if self._on_lost is not None:
                self._on_lost()

    def _report(self, number: int, kind: str) -> None:
        reporter = self._reporters.get(kind)
        self.send(GATHERED, number, None if reporter is None else reporter())

    def _received(self, message: Message) -> None:
        ident = message[0]
        if ident:
            future = self._waiting.pop(int(ident), None)  # type: ignore[call-overload]
            if future is None or future.done():
                return
            if len(message) > 2:
                future.set_exception(HubUnavailable(f"the hub failed: {message[2]}"))
            else:
                future.set_result(message[1])
            return
        kind, *args = message[1:]
        handler = self._handlers.get(str(kind))
        if handler is not None:
            try:
                handler(*args)
            except Exception:
                logger.exception("handling a peer's %s failed", kind)
