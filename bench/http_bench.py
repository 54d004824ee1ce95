"""HTTP benchmark of a real ``threadline serve`` process, on SQLite and on PostgreSQL.

What it measures: requests/s, latency percentiles (p50/p90/p99/max, ms) and errors (non-2xx or
broken connections) for three request paths, each driven by N concurrent workers (default 16),
one HTTP/1.1 keep-alive connection per worker, for a fixed duration after a short warm-up:

  create-message      POST /v1/threads/{id}/messages   (one thread per worker)
  list-messages       GET  /v1/threads/{id}/messages?limit=100   (one thread of 100 messages)
  retrieve-assistant  GET  /v1/assistants/{id}

It also prints the CPU used during each measured window, in % of one core: by the whole server
process, by its main thread (the event loop, where all Python request handling runs), by
PostgreSQL, by this load generator and by everything else, to tell a server-bound run from a
client-bound or a disturbed one. The client (``mini_http``) is a bare asyncio HTTP/1.1 client on
uvloop, so it takes little CPU from the server it shares the machine with.

Run:  make bench
      .venv/bin/python bench/http_bench.py --backend both [--seconds 5] [--warmup 1]
          [--concurrency 16] [--scenario all|create-message|list-messages|retrieve-assistant]
          [--server-cpus 0]    pin the server to CPU 0 and this client to the other CPUs
          [--profile REPORT]   one backend: sample the server during the measured windows
                               (see sampling_profiler.py)
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mini_http import SETUP_TIMEOUT, TRANSPORT_ERRORS, Connection, encode_request
from server_under_test import (
    CpuCounters,
    CpuUse,
    Server,
    database_url,
    project_key,
    running_server,
    wait_healthy,
)

TARGET = "target (SQLite, one process): ≥ 1,500 message creates/s with p99 ≤ 20 ms"
LIST_SIZE = 100


# --- load generation ------------------------------------------------------------------------


@dataclass
class Window:
    """Shared by the workers: record requests started after ``start_ns``; stop when told."""

    start_ns: int = 1 << 62
    stop: bool = False


@dataclass
class WorkerResult:
    latencies_ns: list[int] = field(default_factory=list)
    errors: int = 0
    last_ns: int = 0


async def worker(port: int, request: bytes, window: Window) -> WorkerResult:
    """Sends ``request`` back to back on one connection until the window closes."""
    result = WorkerResult()
    connection = Connection(port)
    clock = time.perf_counter_ns
    try:
        while not window.stop:
            started = clock()
            try:
                status, _ = await connection.send(request)
            except TRANSPORT_ERRORS:
                status = 0
                connection.close()
            finished = clock()
            if started >= window.start_ns:
                result.latencies_ns.append(finished - started)
                result.last_ns = finished
                if not 200 <= status < 300:
                    result.errors += 1
    finally:
        connection.close()
    return result


@dataclass
class Figures:
    backend: str
    scenario: str
    seconds: float
    latencies_ms: list[float]  # sorted
    errors: int
    cpu: CpuUse

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.seconds

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return math.nan
        rank = max(1, math.ceil(p / 100 * len(self.latencies_ms)))
        return self.latencies_ms[rank - 1]

    def cpu_columns(self) -> str:
        used = self.cpu
        shares = (used.server, used.loop, used.database, used.client, used.noise)
        return " ".join(f"{used.percent(seconds):4.0f}%" for seconds in shares)


async def drive(
    server: Server, requests: list[bytes], warmup: float, seconds: float
) -> tuple[list[WorkerResult], float, CpuUse]:
    """One worker per request for ``warmup`` + ``seconds``; results, window length, CPU used."""
    window = Window()
    tasks = [asyncio.create_task(worker(server.port, r, window)) for r in requests]
    await asyncio.sleep(warmup)
    before = CpuCounters.take(server.pid)
    server.profile(True)
    window.start_ns = time.perf_counter_ns()
    await asyncio.sleep(seconds)
    window.stop = True
    server.profile(False)
    cpu = CpuCounters.take(server.pid).since(before)
    results = await asyncio.wait_for(asyncio.gather(*tasks), SETUP_TIMEOUT)
    last = max((r.last_ns for r in results), default=0)
    return results, max(last - window.start_ns, 1) / 1e9, cpu


def summarize(
    backend: str, scenario: str, results: list[WorkerResult], seconds: float, cpu: CpuUse
) -> Figures:
    latencies = sorted(ns / 1e6 for r in results for ns in r.latencies_ns)
    errors = sum(r.errors for r in results)
    return Figures(backend, scenario, seconds, latencies, errors, cpu)


# --- scenarios: each sets up its data and returns one pre-encoded request per worker --------


@dataclass
class Context:
    setup: Connection
    token: str
    concurrency: int

    async def post(self, path: str, body: Any) -> Any:
        return await self.setup.json(encode_request("POST", path, self.token, body))


async def create_message_requests(ctx: Context) -> list[bytes]:
    body = {"role": "user", "content": "hello"}
    requests = []
    for _ in range(ctx.concurrency):
        thread = await ctx.post("/v1/threads", {})
        requests.append(
            encode_request("POST", f"/v1/threads/{thread['id']}/messages", ctx.token, body)
        )
    return requests


async def list_messages_requests(ctx: Context) -> list[bytes]:
    thread = await ctx.post("/v1/threads", {})
    path = f"/v1/threads/{thread['id']}/messages"
    for index in range(LIST_SIZE):
        await ctx.post(path, {"role": "user", "content": f"message {index}: " + "lorem ipsum " * 8})
    request = encode_request("GET", f"{path}?limit={LIST_SIZE}", ctx.token)
    page = await ctx.setup.json(request)
    if len(page["data"]) != LIST_SIZE:
        raise RuntimeError(f"expected {LIST_SIZE} messages, the thread holds {len(page['data'])}")
    return [request] * ctx.concurrency


async def retrieve_assistant_requests(ctx: Context) -> list[bytes]:
    assistant = await ctx.post(
        "/v1/assistants",
        {
            "model": "gpt-4o-mini",
            "name": "Bench assistant",
            "instructions": "You are a helpful assistant. " * 20,
            "tools": [{"type": "code_interpreter"}],
            "metadata": {"purpose": "bench"},
        },
    )
    return [encode_request("GET", f"/v1/assistants/{assistant['id']}", ctx.token)] * ctx.concurrency


Scenario = Callable[[Context], Awaitable[list[bytes]]]
SCENARIOS: dict[str, tuple[Scenario, str]] = {
    "create-message": (
        create_message_requests,
        'POST /v1/threads/{id}/messages {"role":"user","content":"hello"}, one thread per worker',
    ),
    "list-messages": (
        list_messages_requests,
        f"GET /v1/threads/{{id}}/messages?limit={LIST_SIZE}, one thread of {LIST_SIZE} messages",
    ),
    "retrieve-assistant": (retrieve_assistant_requests, "GET /v1/assistants/{id}"),
}


# --- one backend ----------------------------------------------------------------------------


async def bench_server(
    server: Server, master_key: str, backend: str, args: argparse.Namespace
) -> list[Figures]:
    await wait_healthy(server)
    if args.server_cpus:
        server.pin(args.server_cpus)
        os.sched_setaffinity(0, (os.sched_getaffinity(0) - args.server_cpus) or args.server_cpus)
    token = await project_key(server, master_key)
    figures = []
    for name in args.scenarios:
        setup = Connection(server.port)
        try:
            requests = await SCENARIOS[name][0](Context(setup, token, args.concurrency))
        finally:
            setup.close()
        figures.append(
            summarize(backend, name, *await drive(server, requests, args.warmup, args.seconds))
        )
        print(f"  {backend:8} {name:20} done", file=sys.stderr, flush=True)
    return figures


async def _cancel_on_sigterm(coroutine: Coroutine[Any, Any, list[Figures]]) -> list[Figures]:
    """SIGTERM cancels the run like Ctrl-C does, so that every ``finally`` gets to clean up."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await coroutine
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _exit_on_sigterm)


def run_async(coroutine: Coroutine[Any, Any, list[Figures]]) -> list[Figures]:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(_cancel_on_sigterm(coroutine))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_cancel_on_sigterm(coroutine))


def bench_backend(backend: str, args: argparse.Namespace) -> list[Figures]:
    master_key = secrets.token_urlsafe(32)
    with (
        database_url(backend) as url,
        tempfile.TemporaryDirectory(prefix=f"threadline-bench-{backend}-") as directory,
        running_server(Path(directory), master_key, url, args.profile) as server,
    ):
        try:
            return run_async(bench_server(server, master_key, backend, args))
        except Exception:
            print(f"server log (last lines):\n{server.log_tail()}", file=sys.stderr)
            raise


# --- output and entry point -----------------------------------------------------------------


def print_report(figures: list[Figures], args: argparse.Namespace) -> None:
    print(
        f"\nThreadline HTTP benchmark: concurrency {args.concurrency}, HTTP/1.1 keep-alive, "
        f"{args.seconds:g} s per scenario after {args.warmup:g} s warm-up, {os.cpu_count()} CPUs"
    )
    if args.server_cpus:
        print(f"  server pinned to CPU {sorted(args.server_cpus)}, this client to the others")
    for name in args.scenarios:
        print(f"  {name:20} {SCENARIOS[name][1]}")
    print(
        "  CPU in % of one core: srv = the server process, loop = its main thread,\n"
        "  pg = PostgreSQL, cli = this client, noise = everything else (keep it low)\n"
    )
    header = (
        f"{'backend':9} {'scenario':20} {'req/s':>7} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} "
        f"{'max ms':>7} {'errors':>6} {'srv':>5} {'loop':>5} {'pg':>5} {'cli':>5} {'noise':>5}"
    )
    print(header)
    print("-" * len(header))
    for f in figures:
        print(
            f"{f.backend:9} {f.scenario:20} {f.rate:7.0f} {f.percentile(50):7.2f} "
            f"{f.percentile(90):7.2f} {f.percentile(99):7.2f} {f.percentile(100):7.2f} "
            f"{f.errors:6d} {f.cpu_columns()}"
        )
    print(f"\n{TARGET}")
    if args.profile:
        print(f"server profile (measured windows only): {args.profile}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--scenario", choices=["all", *SCENARIOS], default="all")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds a scenario")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--profile", type=Path, metavar="REPORT", help="sample the server")
    parser.add_argument(
        "--server-cpus",
        type=lambda text: {int(cpu) for cpu in text.split(",")},
        metavar="0[,1...]",
        help="pin the server to these CPUs and this client to the others",
    )
    args = parser.parse_args(argv)
    args.scenarios = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    args.backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    if args.profile and len(args.backends) > 1:
        parser.error("--profile needs one --backend")
    if args.profile:
        args.profile = args.profile.resolve()
    return args


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds, so the server is stopped and the database dropped


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    figures: list[Figures] = []
    try:
        for backend in args.backends:
            figures += bench_backend(backend, args)
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: the server is stopped, the bench database dropped", file=sys.stderr)
        return 130
    print_report(figures, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
