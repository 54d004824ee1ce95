"""The cost of a rate-limit admission through the supervisor's hub (``serve --workers N``).

A ``Hub`` with the ``CounterDesk`` runs in a child process; this process asks it, through a
``HubLink`` and ``HubCounters``, an admission (two RPM windows) followed by a settle, as a
rate-limited gateway request does, ``--pairs`` times at concurrency 1 and 64, and prints wall
time and CPU (this process, and the hub's) per pair. Both sides on uvloop, as in the server.

Run:  .venv/bin/python bench/hub_bench.py [--pairs 20000]
"""

import argparse
import asyncio
import multiprocessing
import os
import tempfile
import time
from multiprocessing.synchronize import Event
from pathlib import Path

import uvloop

from threadline.gateway.counters import Check
from threadline.gateway.hub_counters import CounterDesk, HubCounters
from threadline.providers.cluster.hub import Hub
from threadline.providers.cluster.link import HubLink

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def serve_hub(path: str, ready: Event) -> None:
    async def main() -> None:
        hub = Hub(Path(path), CounterDesk())
        await hub.start()
        ready.set()
        await asyncio.sleep(3600)

    uvloop.run(main())


async def ask(path: str, pairs: int, concurrency: int) -> tuple[float, float]:
    link = HubLink(Path(path))
    await link.connect()
    counters = HubCounters(link)
    check = Check([("rpm:key:k", 10**9, 1), ("rpm:project:p", 10**9, 1)], [], [])

    async def lane(count: int) -> None:
        for _ in range(count):
            outcome = await counters.admit(check, "", int(time.time() * 1000))
            await counters.settle("tpm:key:k", outcome.ends_ms[0], 0, 10, int(time.time() * 1000))

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(lane(pairs // concurrency) for _ in range(concurrency)))
    await link.aclose()
    return (time.perf_counter() - started) / pairs, (time.process_time() - cpu) / pairs


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(") ")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pairs", type=int, default=20_000)
    args = parser.parse_args()
    spawn = multiprocessing.get_context("spawn")
    for concurrency in (1, 64):
        with tempfile.TemporaryDirectory(prefix="threadline-hub-bench-") as directory:
            path = str(Path(directory) / "hub.sock")
            ready = spawn.Event()
            hub = spawn.Process(target=serve_hub, args=(path, ready), daemon=True)
            hub.start()
            ready.wait(30)
            assert hub.pid is not None
            before = process_cpu(hub.pid)
            wall, client = uvloop.run(ask(path, args.pairs, concurrency))
            hub_cpu = (process_cpu(hub.pid) - before) / args.pairs
            hub.kill()
            print(
                f"c={concurrency:<3} admit+settle: {wall * 1e6:6.1f} us wall, "
                f"CPU {client * 1e6:5.1f} us here + {hub_cpu * 1e6:5.1f} us in the hub per pair "
                f"(load average {os.getloadavg()[0]:.2f})"
            )


if __name__ == "__main__":
    main()
