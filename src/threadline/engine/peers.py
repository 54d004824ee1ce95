"""The other worker processes of this server (``threadline serve --workers N``).

A run executes in the process that accepted it, and its streams are that process's. What
another process must hear: a cancel for a run it executes (at once, not at its next lease
renewal), and the events of a change made outside a run's execution (cancelling a queued run
ends the stream its creator holds open)."""

import contextlib
from typing import Protocol

from threadline.providers.cluster.link import HubLink, HubUnavailable
from threadline.schemas.run_objects import StreamEvent

CANCEL = "cancel"
PUBLISH = "publish"


class Peers(Protocol):
    def cancel(self, run_id: str) -> None: ...

    def publish(self, run_id: str, event: StreamEvent) -> None: ...


class NoPeers:
    """One process: nobody else to tell."""

    def cancel(self, run_id: str) -> None:
        pass

    def publish(self, run_id: str, event: StreamEvent) -> None:
        pass


NO_PEERS = NoPeers()


class HubPeers:
    """The peers, told through the supervisor's hub. Telling never fails a request: a worker
    whose hub is gone is stopping anyway, and lease renewal still carries a cancel."""

    def __init__(self, link: HubLink) -> None:
        self._link = link

    def cancel(self, run_id: str) -> None:
        self._tell(CANCEL, run_id)

    def publish(self, run_id: str, event: StreamEvent) -> None:
        self._tell(PUBLISH, run_id, event.name, event.data.decode())

    def _tell(self, kind: str, *args: str) -> None:
        with contextlib.suppress(HubUnavailable):
            self._link.tell(kind, *args)
