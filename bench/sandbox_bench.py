"""code_interpreter sandbox benchmark: real jails through ``SandboxSessions``, as the engine
will call them.

Scenarios (issue 5's targets):

  warm        ``print(1)`` in one warm session, back to back: latency p50/p90/p99 (target
              p50 <= 50 ms) and the server's own CPU per call.
  cold        a new session per call (``pass``): spawn + jail + driver ready + the call
              (target <= 1 s); then, each in a fresh session, the first ``import numpy``,
              ``import pandas`` and ``import matplotlib.pyplot``.
  concurrent  N sessions (N = 1, 2, 4, 8, 16 by default) each running a small numpy task in a
              loop for --seconds: calls/s in all, latency p50/p95, and the CPU the jails got.
  memory      memory per idle session (PSS of its processes, from /proc), fresh and after
              ``import pandas``.

Run:  .venv/bin/python bench/sandbox_bench.py [--scenario all|warm|cold|concurrent|memory]
          [--backend auto|nsjail|bwrap] [--seconds 5] [--sessions 1,2,4,8,16] [--nice 10]
          [--python PATH]   (bwrap as root: a Python outside /root, e.g. /usr/bin/python3,
                             with --scenario warm or cold: it has no numpy)

The machine is shared: the load average is printed first; prefer the CPU figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from threadline.providers.sandbox import Limits, SandboxConfig, SandboxSessions

NUMPY_TASK = "import numpy as np\na = np.random.rand(300, 300)\nfloat((a @ a).sum())"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def cpu_of_uid_range(first: int, count: int) -> float:
    """CPU seconds used so far by live processes whose uid is in the range (the jails)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
            uid = int(status.split("Uid:")[1].split()[0])
            if first <= uid < first + count:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue
    return total


def pss_of_uid(uid: int) -> int:
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
            if int(status.split("Uid:")[1].split()[0]) != uid:
                continue
            for line in Path(f"/proc/{entry}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
        except (OSError, IndexError, ValueError):
            continue
    return total


async def warm(sessions: SandboxSessions, calls: int = 300) -> None:
    await sessions.execute("warm", "pass")
    latencies = []
    cpu_before = time.process_time()
    for _ in range(calls):
        began = time.perf_counter()
        result = await sessions.execute("warm", "print(1)")
        latencies.append(time.perf_counter() - began)
        assert result.logs == "1\n", result
    server_cpu = (time.process_time() - cpu_before) / calls
    print(
        f"warm print(1), {calls} calls: p50 {ms(percentile(latencies, 0.5))}, "
        f"p90 {ms(percentile(latencies, 0.9))}, p99 {ms(percentile(latencies, 0.99))}; "
        f"server CPU per call {ms(server_cpu)}"
    )


async def cold(sessions: SandboxSessions, calls: int = 20) -> None:
    latencies = []
    for index in range(calls):
        began = time.perf_counter()
        await sessions.execute(f"cold-{index}", "pass")
        latencies.append(time.perf_counter() - began)
        await sessions.close(f"cold-{index}")
    print(
        f"cold session + first call, {calls} sessions: p50 {ms(percentile(latencies, 0.5))}, "
        f"p90 {ms(percentile(latencies, 0.9))}, max {ms(max(latencies))}"
    )
    for module in ("numpy", "pandas", "matplotlib.pyplot"):
        times = []
        for index in range(3):
            key = f"import-{module}-{index}"
            await sessions.execute(key, "pass")
            began = time.perf_counter()
            result = await sessions.execute(key, f"import {module}")
            times.append(time.perf_counter() - began)
            assert result.error is None, result.logs
            await sessions.close(key)
        median = ms(statistics.median(times))
        print(f"  first 'import {module}' in a fresh session: median {median}")


async def concurrent(sessions: SandboxSessions, counts: list[int], seconds: float) -> None:
    config = sessions.config
    for count in counts:
        keys = [f"conc-{count}-{i}" for i in range(count)]
        await asyncio.gather(*(sessions.execute(key, NUMPY_TASK) for key in keys))
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds

        async def loop(key: str, deadline: float = deadline, latencies: list = latencies) -> None:
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                result = await sessions.execute(key, NUMPY_TASK)
                assert result.error is None, result.logs
                latencies.append(time.perf_counter() - began)

        jail_cpu = cpu_of_uid_range(config.uid_base, config.max_sessions)
        began = time.perf_counter()
        await asyncio.gather(*(loop(key) for key in keys))
        elapsed = time.perf_counter() - began
        jail_cpu = cpu_of_uid_range(config.uid_base, config.max_sessions) - jail_cpu
        print(
            f"  N={count:>2}: {len(latencies) / elapsed:7.1f} calls/s, "
            f"p50 {ms(percentile(latencies, 0.5))}, p95 {ms(percentile(latencies, 0.95))}, "
            f"jail CPU {jail_cpu / elapsed:.2f} cores"
        )
        await asyncio.gather(*(sessions.close(key) for key in keys))


async def memory(sessions: SandboxSessions) -> None:
    if os.geteuid() != 0:
        print("memory: needs root (sessions run as their own uids)")
        return
    await sessions.execute("memory", "pass")
    await asyncio.sleep(0.5)
    uid = int((await sessions.execute("memory", "import os\nprint(os.getuid())")).logs)
    fresh = pss_of_uid(uid)
    await sessions.execute("memory", "import pandas")
    loaded = pss_of_uid(uid)
    print(
        f"idle session memory (PSS): fresh {fresh / 2**20:.1f} MiB, "
        f"after import pandas {loaded / 2**20:.1f} MiB"
    )
    await sessions.close("memory")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="all")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--sessions", default="1,2,4,8,16")
    parser.add_argument("--nice", type=int, default=Limits().nice)
    parser.add_argument("--python", default=None, help="the sandbox's interpreter")
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()}, cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as data_dir:
        config = SandboxConfig(
            data_dir=Path(data_dir),
            backend=args.backend,
            python=args.python,
            limits=replace(Limits(), nice=args.nice),
            max_sessions=32,
        )
        sessions = SandboxSessions(config)
        began = time.perf_counter()
        availability = await sessions.start()
        print(f"start-up probe: {availability} in {ms(time.perf_counter() - began)}")
        if not availability.ok:
            raise SystemExit(1)
        try:
            scenario = args.scenario
            if scenario in ("all", "warm"):
                await warm(sessions)
            if scenario in ("all", "cold"):
                await cold(sessions)
            if scenario in ("all", "concurrent"):
                print(f"concurrent sessions looping a 300x300 numpy matmul ({args.seconds} s)")
                counts = [int(n) for n in args.sessions.split(",")]
                await concurrent(sessions, counts, args.seconds)
            if scenario in ("all", "memory"):
                await memory(sessions)
        finally:
            await sessions.aclose()


if __name__ == "__main__":
    asyncio.run(main())
