"""``threadline serve --workers N``: N worker processes on one port, and their supervisor.

The supervisor binds the port, prepares the database once (schema, first-run key), then starts
the workers. Each is a whole server (``create_app``) accepting on a listening socket of its own
on that port (``SO_REUSEPORT``), made and listening before the workers start: the kernel
spreads new connections evenly over them, and those given to a worker still starting wait for
it. A run or response executes in the worker that accepted it, which also holds its streams.
What the workers share lives in the database, plus what the supervisor's hub keeps: the
rate-limit and budget counters (unless Redis keeps them) and the relays of cancels, key
revocations and metrics.

A worker that dies (kill -9, out of memory) is replaced; its runs' leases run out and are
reaped as after any crash, and the parallel slots it held are released. SIGTERM or SIGINT to the
supervisor drains every worker (each stops as a single server does) before it exits."""

import asyncio
import contextlib
import dataclasses
import logging
import multiprocessing
import os
import signal
import socket
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from pathlib import Path

import uvloop

from threadline.cli.serving import ThreadlineServer, listen, server_config
from threadline.gateway.hub_counters import CounterDesk
from threadline.providers.cluster import WorkerSeat
from threadline.providers.cluster.hub import Hub
from threadline.settings import Settings

logger = logging.getLogger("threadline.supervisor")

_WATCH_SECONDS = 0.5
# A worker that exits this soon after starting failed to start: after this many in a row the
# supervisor gives up (a broken configuration would otherwise restart forever).
_EARLY_EXIT_SECONDS = 15.0
_EARLY_EXITS_TO_GIVE_UP = 3
_BACKLOG = 2048  # uvicorn's


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    host: str
    port: int
    base_url: str
    log_level: str
    seat: WorkerSeat
    # Set once the database is prepared: workers load the app meanwhile, then wait for it.
    prepared: Event


def default_workers(settings: Settings) -> int:
    """``THREADLINE_WORKERS``, else one worker per core this process may run on."""
    if settings.workers is not None:
        return settings.workers
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run_worker(spec: WorkerSpec, listener: socket.socket) -> None:
    """A worker process: one whole server, accepting on its own socket of the supervisor's
    port."""
    from threadline.app import create_app

    spec.prepared.wait()
    # Its own process group: a Ctrl-C in the terminal reaches the supervisor alone, which then
    # stops each worker once (a second signal would make uvicorn skip the drain).
    os.setpgid(0, 0)
    settings = Settings()
    app = create_app(settings, migrate=False, base_url=spec.base_url, seat=spec.seat)
    config = server_config(app, settings, host=spec.host, port=spec.port, log_level=spec.log_level)
    ThreadlineServer(config).run(sockets=[listener])


class Supervisor:
    def __init__(
        self, shared: WorkerSpec, listeners: list[socket.socket], settings: Settings
    ) -> None:
        self._shared = shared  # what every worker is given (its seat's index set by _start)
        self._listeners = listeners  # worker i accepts on listeners[i] (its replacement too)
        workers = self._count = len(listeners)
        self._drain_seconds = settings.shutdown_grace_seconds + 15
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[BaseProcess | None] = [None] * workers
        self._started_at = [0.0] * workers
        self._early_exits = 0
        self._stopping = asyncio.Event()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        hub = Hub(self._shared.seat.hub_path, CounterDesk())
        await hub.start()
        try:
            for index in range(self._count):
                self._start(index)
            failed = not await self._prepare()
            if not failed:
                failed = await self._watch()
            await self._drain()
        finally:
            await hub.close()
        return 1 if failed else 0

    async def _prepare(self) -> bool:
        """Prepare the database (in a process of its own, so that the supervisor never loads
        the app: ~200 MB it would keep for nothing) while the workers load it; then let them
        start."""
        preparing = self._context.Process(
            target=_prepare, args=(self._shared.base_url,), name="threadline-prepare"
        )
        preparing.start()
        while preparing.is_alive():
            await asyncio.sleep(0.05)
        if preparing.exitcode != 0:
            logger.error("could not prepare the database (see above): stopping")
            return False
        self._shared.prepared.set()
        return True

    def _start(self, index: int) -> None:
        process = self._context.Process(
            target=run_worker,
            args=(self._spec_of(index), self._listeners[index]),
            name=f"threadline-worker-{index}",
            daemon=False,
        )
        process.start()
        self._workers[index] = process
        self._started_at[index] = time.monotonic()

    def _spec_of(self, index: int) -> WorkerSpec:
        seat = WorkerSeat(index, self._shared.seat.hub_path)
        return dataclasses.replace(self._shared, seat=seat)

    async def _watch(self) -> bool:
        """Replace workers that die until told to stop; True if they keep failing to start."""
        while not self._stopping.is_set():
            for index, process in enumerate(self._workers):
                if process is None or process.is_alive() or self._stopping.is_set():
                    continue
                lived = time.monotonic() - self._started_at[index]
                logger.error(
                    "worker %d (pid %s) exited with code %s after %.0f s; starting another",
                    index,
                    process.pid,
                    process.exitcode,
                    lived,
                )
                self._early_exits = self._early_exits + 1 if lived < _EARLY_EXIT_SECONDS else 0
                if self._early_exits >= _EARLY_EXITS_TO_GIVE_UP:
                    logger.error("workers keep failing to start: stopping")
                    return True
                self._start(index)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), _WATCH_SECONDS)
        return False

    async def _drain(self) -> None:
        live = [p for p in self._workers if p is not None and p.is_alive()]
        for process in live:
            if process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self._drain_seconds
        while any(p.is_alive() for p in live) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        for process in live:
            if process.is_alive():
                logger.error("worker pid %s did not stop in time: killed", process.pid)
                process.kill()
                process.join(5)


def _prepare(base_url: str) -> None:
    from threadline.app import prepare_shared_start

    asyncio.run(prepare_shared_start(Settings(), base_url))


def supervise(
    host: str, listener: socket.socket, base_url: str, workers: int, log_level: str
) -> int:
    """Serve on ``listener``'s port (bound with ``shared_port``) with ``workers`` processes until
    SIGTERM or SIGINT."""
    settings = Settings()
    logging.basicConfig(format="%(levelname)s:     %(message)s", level=log_level.upper())
    port = listener.getsockname()[1]
    # Each worker's listening socket, made here and listening from now on: a connection the
    # kernel gives a worker that is still starting (or being replaced) waits in its backlog
    # rather than all going to whichever worker listened first.
    listeners = [listener] + [listen(host, port, shared_port=True) for _ in range(workers - 1)]
    for each in listeners:
        each.listen(_BACKLOG)
    # The hub's socket in a private directory (mode 0700): only this user can reach it.
    with tempfile.TemporaryDirectory(prefix="threadline-") as directory:
        seat = WorkerSeat(0, Path(directory) / "hub.sock")
        prepared = multiprocessing.get_context("spawn").Event()
        spec = WorkerSpec(host, port, base_url, log_level, seat, prepared)
        # uvloop, as the workers (uvicorn's choice): it halves the hub's CPU per message.
        return uvloop.run(Supervisor(spec, listeners, settings).run())
