"""The worker processes of one server (``threadline serve --workers N``) and what they share.

The supervisor runs a ``Hub`` on a Unix socket; each worker process keeps one ``HubLink`` to it.
Over the link a worker asks the hub (a request and its answer: the rate-limit counters every
worker shares) and tells its peers (a message the hub passes to every other worker: a cancel
for a run executing elsewhere). Messages are framed by ``wire``."""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class WorkerSeat:
    """Which of a supervisor's worker processes this one is, and where its hub listens."""

    index: int
    hub_path: Path
