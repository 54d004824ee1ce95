"""Run-engine benchmark of a real ``threadline serve`` process: streaming runs against a fast
loopback upstream (``fast_upstream.py``, its own process), on SQLite and on PostgreSQL.

Scenarios (issue 3's targets):

  ttfd        added time-to-first-delta: for each streaming run (``POST /v1/threads/{id}/runs``,
              ``"stream": true``), request sent → first ``thread.message.delta``, minus the
              upstream's own time to first content chunk, measured by this client hitting the
              upstream directly with the same request shape at the same concurrency. Workers at
              concurrency 1, 16 and 64; each has its own thread and creates runs back to back.
              Also per run, matched with the upstream's own timestamps: request sent → the
              upstream has the request ("to upstream"), and the upstream wrote its first chunk →
              the client has the first delta ("from upstream"). Target: added p50 ≤ 5 ms at 16.
  paced       the same added TTFD below saturation, open loop: --paced-lanes threads (16), runs
              started at a fixed --paced-rate in all (64/s), whatever the answers' pace, each
              answer --tokens chunks --paced-delay-ms apart (10: 0.2 s), so about 16 runs are in
              flight (reported at each send) and a run waits behind others only as their work
              collides, not behind a standing queue. Not a target: the closed-loop figure at 16
              is issue 3's, reported beside it.
  concurrent  1,000 threads, then 1,000 streaming runs started at once (the upstream streams 50
              chunks 20 ms apart, so they overlap); all completed, p99 first event < 1 s, peak RSS
              (VmHWM) < 1 GiB, errors; then every run's status, read back.
  throughput  completed runs/s with a 0 ms upstream: streaming runs back to back at concurrency
              32 for --seconds, completions counted. Target ≥ 200/s on SQLite.
  long        (by name only, not in "all") time to first delta of one run at a time on threads
              of --long-lengths messages (16, 2,000, 20,000, 100,000; seeded straight into the
              database, bench/thread_seed.py): a first run, then --long-runs more, with
              truncation_strategy last_messages 16 and with auto on a model with a --long-window
              (8,192) token window. Target: 100,000 within 1.5x of 16.

Every stream is checked: the events' order (created, queued, in_progress, step created and
in_progress, message created and in_progress, deltas, message completed, step completed, run
completed, done), the number of deltas and the completed message's text. Each scenario reports
the server's CPU ms per completed run (all its threads): the figure that other load on the machine
disturbs least. The server's CPU (% of one core: srv = process, loop = main thread, pg =
PostgreSQL, up = the upstream, cli = this client, noise = the rest), RSS and open fds are read
from /proc.

Run:  .venv/bin/python bench/run_bench.py [--backend sqlite|postgres|both] [--scenario all|ttfd|
          paced|concurrent|throughput|long] [--seconds 5] [--warmup 1] [--concurrency 32]
          [--paced-lanes 16] [--paced-rate 64] [--paced-delay-ms 10]
          [--ttfd-concurrency 1,16,64] [--runs 1000] [--tokens 20] [--threads-per-worker 1]
          [--long-lengths 16,2000,20000,100000] [--long-runs 50] [--long-window 8192]
          [--profile REPORT]   one backend: sample the server in the measured windows

The ttfd and throughput workers run on their own thread(s), so each run adds a message to a
thread and the prompt grows through the window (see "messages per thread"); the first and last
tenth of the window's runs show what that costs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import math
import os
import resource
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson

from mini_http import HOST, SETUP_TIMEOUT, TRANSPORT_ERRORS, Connection, encode_request, header
from server_under_test import (
    BENCH_DIR,
    CpuCounters,
    CpuUse,
    Server,
    cpu_seconds,
    database_url,
    free_port,
    process_tree,
    project_key,
    running_server,
    wait_healthy,
)
from thread_seed import seed_thread

T = TypeVar("T")
CLOCK = time.monotonic_ns  # CLOCK_MONOTONIC: the same clock in the upstream's process
STREAM_TIMEOUT = 60.0  # longest a single streamed run may take
DRAIN_TIMEOUT = 60.0  # after a window, longest wait for the runs still going
EXPECTED = (
    "thread.run.created",
    "thread.run.queued",
    "thread.run.in_progress",
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.message.created",
    "thread.message.in_progress",
    "thread.message.delta",  # repeated: consecutive deltas are collapsed before comparing
    "thread.message.completed",
    "thread.run.step.completed",
    "thread.run.completed",
    "done",
)
GIB = 1 << 30


def expected_text(tokens: int) -> str:
    return "".join(f" tok{i}" for i in range(tokens))  # what fast_upstream streams


# --- an SSE client over raw asyncio streams --------------------------------------------------


@dataclass
class Exchange:
    """One streamed request, timed on ``CLOCK`` (ns)."""

    sent: int
    status: int = 0
    first_event: int = 0  # the first SSE event (upstream mode: the first data frame)
    first_delta: int = 0  # the first thread.message.delta (upstream: the first content chunk)
    completed: int = 0  # thread.run.completed (upstream: data: [DONE])
    end: int = 0  # the response's last byte
    deltas: int = 0
    names: list[str] = field(default_factory=list)  # event names, consecutive deltas collapsed
    text: str | None = None  # the text of thread.message.completed
    error: str = ""  # empty when the exchange went as expected


class SseClient:
    """One HTTP/1.1 keep-alive connection that reads chunked ``text/event-stream`` responses,
    either Threadline's (``event:`` + ``data:`` frames) or an upstream's (``data:`` only)."""

    exchange_type: type[Exchange] = Exchange  # what ``exchange`` fills in (subclasses add fields)

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
            sock = self.writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def exchange(self, request: bytes, upstream: bool, timeout: float) -> Exchange:
        """Sends ``request``; reads the whole response. Never raises but for cancellation."""
        await self._open_or_none()
        result = self.exchange_type(sent=CLOCK())
        if self.writer is None or self.reader is None:
            result.error = "connect failed"
            return result
        try:
            async with asyncio.timeout(timeout):
                self.writer.write(request)
                result.sent = CLOCK()
                await self._read(self.reader, result, upstream)
        except TimeoutError:
            result.error = f"no end of stream within {timeout:g} s"
        except TRANSPORT_ERRORS as error:
            result.error = f"transport: {type(error).__name__}"
        except ValueError as error:  # a bad chunk size line or JSON
            result.error = f"protocol: {error}"[:200]
        if result.error or not result.end:
            self.close()
        return result

    async def _open_or_none(self) -> None:
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(self.open(), SETUP_TIMEOUT)

    async def _read(self, reader: asyncio.StreamReader, result: Exchange, upstream: bool) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        result.status = int(head[9:12]) if head.startswith(b"HTTP/1.") else 0
        if header(head, b"transfer-encoding:") != b"chunked":
            length = header(head, b"content-length:")
            body = await reader.readexactly(int(length)) if length else b""
            result.end = CLOCK()
            result.error = f"HTTP {result.status}: {body[:160].decode(errors='replace')}"
            if header(head, b"connection:") == b"close":
                self.close()
            return
        buffer = bytearray()
        frame = self._upstream_frame if upstream else self._event_frame
        while True:
            line = await reader.readuntil(b"\r\n")
            size = int(line[:-2].split(b";", 1)[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers: the empty line
                break
            buffer += await reader.readexactly(size + 2)
            del buffer[-2:]
            now = CLOCK()
            while (cut := buffer.find(b"\n\n")) >= 0:
                frame(bytes(buffer[:cut]), now, result)
                del buffer[: cut + 2]
        result.end = CLOCK()
        if not result.error and result.status != 200:
            result.error = f"HTTP {result.status} stream"

    # The event whose first arrival is the time to first delta (one name per client type).
    delta_event = "thread.message.delta"

    def _event_frame(self, raw: bytes, now: int, result: Exchange) -> None:
        if not raw.startswith(b"event: "):
            return  # a keep-alive comment
        newline = raw.find(b"\n")
        name = raw[7:newline].decode()
        if not result.first_event:
            result.first_event = now
        if name == self.delta_event:
            result.deltas += 1
            if not result.first_delta:
                result.first_delta = now
            if result.names and result.names[-1] == name:
                return
        result.names.append(name)
        self._on_event(name, raw[newline + 7 :], now, result)

    @staticmethod
    def _on_event(name: str, data: bytes, now: int, result: Exchange) -> None:
        """What one (non-delta) event tells of the exchange: its text, its end, its error."""
        if name == "thread.message.completed":
            message = orjson.loads(data)
            result.text = "".join(part["text"]["value"] for part in message["content"])
        elif name == "thread.run.completed":
            result.completed = now
        elif name.startswith("thread.run.") and name.rsplit(".", 1)[1] in (
            "failed",
            "cancelled",
            "expired",
            "incomplete",
            "requires_action",
        ):
            error = orjson.loads(data).get("last_error") or {}
            result.error = f"{name}: {error.get('code')}: {error.get('message')}"[:200]

    @staticmethod
    def _upstream_frame(raw: bytes, now: int, result: Exchange) -> None:
        if not raw.startswith(b"data: "):
            return
        if not result.first_event:
            result.first_event = now
        if raw == b"data: [DONE]":
            result.completed = now
        elif b'"content":"' in raw and b'"content":""' not in raw:
            result.deltas += 1
            if not result.first_delta:
                result.first_delta = now


def check_run(run: Exchange, tokens: int) -> str:
    """Why a streamed run is not as expected; empty if it is."""
    if run.error:
        return run.error
    if tuple(run.names) != EXPECTED:
        return "events out of order: " + " ".join(n.removeprefix("thread.") for n in run.names)
    if run.deltas != tokens:
        return f"{run.deltas} deltas, not {tokens}"
    if run.text != expected_text(tokens):
        return f"message text differs from the streamed tokens: {run.text!r:.80}"
    return ""


def check_upstream(exchange: Exchange, tokens: int) -> str:
    if exchange.error:
        return exchange.error
    if exchange.deltas != tokens or not exchange.completed:
        return (
            f"upstream stream: {exchange.deltas} content chunks, [DONE] {bool(exchange.completed)}"
        )
    return ""


# --- the fast upstream process ---------------------------------------------------------------


@dataclass
class Upstream:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    async def stats(self) -> dict[str, Any]:
        """The records since the last call, the peak of concurrent streams, and clears them."""
        connection = Connection(self.port)
        try:
            return dict(await connection.json(encode_request("GET", "/_stats")))
        finally:
            connection.close()


@contextmanager
def fast_upstream(log_dir: Path) -> Iterator[Upstream]:
    port = free_port()
    command = [sys.executable, str(BENCH_DIR / "fast_upstream.py"), "--port", str(port)]
    with (log_dir / "upstream.log").open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + SETUP_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"fast_upstream exited with {process.returncode}")
            with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.5):
                break
            if time.monotonic() > deadline:
                raise TimeoutError("fast_upstream did not start")
            time.sleep(0.05)
        yield Upstream(process, port)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


# --- figures ---------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest rank; ``values`` sorted."""
    if not values:
        return math.nan
    return values[max(1, math.ceil(p / 100 * len(values))) - 1]


def ms(values_ns: list[int]) -> list[float]:
    return sorted(v / 1e6 for v in values_ns)


def pair(values: list[float], digits: int = 2) -> str:
    return f"{percentile(values, 50):.{digits}f} / {percentile(values, 99):.{digits}f}"


def status_value(pid: int, key: str) -> int:
    """A ``/proc/<pid>/status`` size in bytes (VmHWM, VmRSS), summed over the server's processes
    (its workers too); 0 when unreadable."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    total += int(line.split()[1]) * 1024
    return total


def open_fds(pid: int) -> int:
    """File descriptors open in the server's processes (its workers too); -1 when unreadable."""
    try:
        return sum(len(os.listdir(f"/proc/{member}/fd")) for member in process_tree(pid))
    except OSError:
        return -1


@dataclass
class Row:
    scenario: str
    metric: str
    value: str
    target: str = ""
    ok: bool | None = None


@dataclass
class CpuRow:
    scenario: str
    cpu: CpuUse
    upstream: float  # CPU seconds of the upstream process

    def columns(self) -> str:
        used = self.cpu
        noise = max(0.0, used.noise - self.upstream)
        shares = (used.server, used.loop, used.database, self.upstream, used.client, noise)
        return " ".join(f"{used.percent(s):5.0f}%" for s in shares)


@dataclass
class Report:
    backend: str
    workers: int = 1  # serve --workers
    rows: list[Row] = field(default_factory=list)
    cpu: list[CpuRow] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, scenario: str, metric: str, value: str, target: str = "", ok: bool | None = None):
        self.rows.append(Row(scenario, metric, value, target, ok))

    def add_errors(self, scenario: str, problems: Counter[str], uncounted: int = 0) -> None:
        """The scenario's errors (``problems`` by kind, plus ``uncounted``) as a row whose target
        is 0, and the commonest kinds listed after the table."""
        errors = sum(problems.values()) + uncounted
        self.add(scenario, "errors", str(errors), "0", errors == 0)
        if problems:
            self.problems.append(f"{scenario}: {tally(problems)}")


@dataclass
class Meter:
    """CPU of the server (and PostgreSQL, this client) and of the upstream over a window."""

    server: Server
    upstream: Upstream
    before: CpuCounters | None = None
    upstream_before: float = 0.0

    def start(self) -> None:
        self.before = CpuCounters.take(self.server.pid)
        self.upstream_before = cpu_seconds(self.upstream.process.pid)
        self.server.profile(True)

    def stop(self, scenario: str) -> CpuRow:
        self.server.profile(False)
        assert self.before is not None
        used = CpuCounters.take(self.server.pid).since(self.before)
        return CpuRow(scenario, used, cpu_seconds(self.upstream.process.pid) - self.upstream_before)


def cpu_per_run(cpu: CpuRow, runs: int) -> str:
    """The server's CPU time (every thread) in the window over the runs completed in it: the
    figure that load on the machine disturbs least."""
    return f"{1000 * cpu.cpu.server / runs:.2f}" if runs else "-"


def tally(problems: Counter[str], limit: int = 4) -> str:
    return "; ".join(f"{n} x {what}" for what, n in problems.most_common(limit))


# --- set-up ----------------------------------------------------------------------------------


@dataclass
class Api:
    port: int
    token: str

    async def post(self, path: str, body: Any) -> Any:
        connection = Connection(self.port)
        try:
            return await connection.json(encode_request("POST", path, self.token, body))
        finally:
            connection.close()

    async def many(self, requests: list[bytes], parallel: int = 16) -> list[Any]:
        """The JSON answers to ``requests``, sent over ``parallel`` keep-alive connections."""
        answers: list[Any] = [None] * len(requests)
        queue = iter(range(len(requests)))

        async def lane() -> None:
            connection = Connection(self.port)
            try:
                for index in queue:
                    answers[index] = await connection.json(requests[index])
            finally:
                connection.close()

        await asyncio.gather(*(lane() for _ in range(parallel)))
        return answers

    async def assistant(self, model: str) -> str:
        body = {"model": model, "name": "bench", "instructions": "You are a benchmark."}
        return str((await self.post("/v1/assistants", body))["id"])

    async def threads(self, tags: list[str]) -> list[str]:
        requests = [
            encode_request(
                "POST",
                "/v1/threads",
                self.token,
                {"messages": [{"role": "user", "content": f"{tag} Say something."}]},
            )
            for tag in tags
        ]
        return [str(thread["id"]) for thread in await self.many(requests)]

    def run_request(self, thread_id: str, assistant_id: str) -> bytes:
        body = {"assistant_id": assistant_id, "stream": True}
        return encode_request("POST", f"/v1/threads/{thread_id}/runs", self.token, body)


def upstream_request(model: str, tag: str) -> bytes:
    """What Threadline sends its upstream for a fresh thread, as the baseline's request."""
    body = {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a benchmark."},
            {"role": "user", "content": f"{tag} Say something."},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 1.0,
        "top_p": 1.0,
    }
    return encode_request("POST", "/v1/chat/completions", None, body)


# --- closed-loop workers ---------------------------------------------------------------------


@dataclass
class Window:
    start: int = 1 << 62
    stop: bool = False
    sent: int = 0  # every exchange, in the warm-up too


Lane = tuple[bytes, list[Exchange]]  # a request (one thread) and the exchanges it made


async def loop_worker(
    port: int,
    lanes: list[Lane],
    upstream: bool,
    window: Window,
    client_type: type[SseClient] = SseClient,
) -> None:
    """Sends its requests in turn, back to back on one connection, until the window closes;
    keeps the exchanges that started inside the window."""
    client = client_type(port)
    try:
        for request, out in itertools.cycle(lanes):
            if window.stop:
                break
            exchange = await client.exchange(request, upstream, STREAM_TIMEOUT)
            window.sent += 1
            if exchange.sent >= window.start:
                out.append(exchange)
            if exchange.error:
                await asyncio.sleep(0.05)  # e.g. the thread still busy: no hot error loop
    finally:
        client.close()


async def closed_loop(
    port: int,
    requests: list[bytes],
    workers: int,
    upstream: bool,
    args: argparse.Namespace,
    meter: Meter | None,
    client_type: type[SseClient] = SseClient,
) -> tuple[list[list[Exchange]], float, int, CpuRow | None]:
    """``workers`` workers share ``requests`` (worker i takes i, i + workers, ...); the exchanges
    per request, the window's length, how many exchanges in all, the window's CPU use."""
    window = Window()
    outs: list[list[Exchange]] = [[] for _ in requests]
    lanes = list(zip(requests, outs, strict=True))
    tasks = [
        asyncio.create_task(loop_worker(port, lanes[i::workers], upstream, window, client_type))
        for i in range(workers)
    ]
    try:
        await asyncio.sleep(args.warmup)
        if meter is not None:
            meter.start()
        window.start = CLOCK()
        await asyncio.sleep(args.seconds)
        window.stop = True
        length = (CLOCK() - window.start) / 1e9
        cpu = meter.stop("") if meter is not None else None
        await asyncio.wait_for(asyncio.gather(*tasks), DRAIN_TIMEOUT)
    finally:
        for task in tasks:
            task.cancel()
    return outs, length, window.sent, cpu


# --- scenario: added time to first delta -----------------------------------------------------


def match_upstream(
    outs: list[list[Exchange]], tags: list[str], records: list[list[Any]]
) -> tuple[list[int], list[int], list[int]]:
    """Per run matched with its upstream request (same tag, same rank): request sent → upstream
    has it, the upstream's first chunk → client's first delta, and the upstream's own time."""
    by_tag: dict[str, list[list[Any]]] = {}
    for record in records:
        by_tag.setdefault(record[0], []).append(record)
    to_up, from_up, own = [], [], []
    for tag, runs in zip(tags, outs, strict=True):
        mine = by_tag.get(tag, [])
        # Records of runs that started before the window come first: align on the last ones.
        ok = [r for r in runs if r.first_delta]
        if len(mine) < len(ok):
            continue
        for run, (_, received, first, _) in zip(ok, mine[len(mine) - len(ok) :], strict=True):
            to_up.append(received - run.sent)
            from_up.append(run.first_delta - first)
            own.append(first - received)
    return to_up, from_up, own


async def scenario_ttfd(
    api: Api, upstream: Upstream, meter: Meter, args: argparse.Namespace, report: Report
) -> None:
    model = f"fast-{args.tokens}x0"
    assistant = await api.assistant(model)
    for level in args.ttfd_concurrency:
        name = f"ttfd c={level}"
        tags = [f"t{level}w{i}" for i in range(level * args.threads_per_worker)]
        # The baseline: this client straight to the upstream, same request shape, same load.
        requests = [upstream_request(model, tag) for tag in tags[:level]]
        outs, _, _, _ = await closed_loop(upstream.port, requests, level, True, args, None)
        base = [e for out in outs for e in out]
        bad = Counter(filter(None, (check_upstream(e, args.tokens) for e in base)))
        baseline = ms([e.first_delta - e.sent for e in base if e.first_delta])
        # Through Threadline.
        threads = await api.threads(tags)
        requests = [api.run_request(t, assistant) for t in threads]
        await upstream.stats()  # clear
        outs, length, sent, cpu = await closed_loop(api.port, requests, level, False, args, meter)
        records = (await upstream.stats())["records"]
        runs = [e for out in outs for e in out]
        problems = Counter(filter(None, (check_run(e, args.tokens) for e in runs)))
        ttfd = ms([e.first_delta - e.sent for e in runs if e.first_delta])
        first_event = ms([e.first_event - e.sent for e in runs if e.first_event])
        to_up, from_up, own = (ms(v) for v in match_upstream(outs, tags, records))
        added = [percentile(ttfd, p) - percentile(baseline, p) for p in (50, 99)]
        target, ok = ("", None)
        if level == 16:
            target, ok = "p50 ≤ 5 ms", added[0] <= 5.0
        report.add(name, "upstream baseline TTFD p50 / p99 ms", pair(baseline, 3))
        report.add(name, "run TTFD (sent → 1st delta) p50 / p99 ms", pair(ttfd))
        report.add(name, "ADDED TTFD p50 / p99 ms", f"{added[0]:.2f} / {added[1]:.2f}", target, ok)
        report.add(name, "  sent → 1st event p50 / p99 ms", pair(first_event))
        report.add(name, "  sent → upstream has request p50 / p99 ms", pair(to_up))
        report.add(name, "  upstream's own time to 1st chunk p50 / p99", pair(own, 3))
        report.add(name, "  upstream 1st chunk → 1st delta p50 / p99 ms", pair(from_up))
        done = sum(1 for e in runs if e.completed)
        report.add(name, "runs completed (rate)", f"{done} ({done / length:.0f}/s)")
        assert cpu is not None
        report.add(name, "server CPU ms per completed run", cpu_per_run(cpu, done))
        ordered = sorted(runs, key=lambda e: e.sent)
        tenth = max(1, len(ordered) // 10)
        early, late = (
            ms([e.first_delta - e.sent for e in part if e.first_delta])
            for part in (ordered[:tenth], ordered[-tenth:])
        )
        report.add(
            name,
            "run TTFD p50, first → last tenth of window",
            f"{percentile(early, 50):.2f} → {percentile(late, 50):.2f}",
        )
        report.add(name, "messages per thread at the end", f"~{1 + sent / len(tags):.0f}")
        report.add_errors(name, problems + bad)
        assert cpu is not None
        cpu.scenario = name
        report.cpu.append(cpu)
        print(f"  {report.backend:8} {name:14} done", file=sys.stderr, flush=True)


# --- scenario: added time to first delta, paced ---------------------------------------------


async def paced_lane(
    port: int,
    request: bytes,
    first: float,
    period: float,
    upstream: bool,
    pace: Pace,
    client_type: type[SseClient] = SseClient,
) -> None:
    """Sends ``request`` at ``first``, ``first + period``, … (a run still going when its turn
    comes delays the next send: counted as late); keeps the exchanges inside the window."""
    client = client_type(port)
    loop = asyncio.get_running_loop()
    due = first
    try:
        while not pace.window.stop:
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -period / 2:
                pace.late += 1
            pace.in_flight_at_send.append(pace.in_flight)
            pace.in_flight += 1
            exchange = await client.exchange(request, upstream, STREAM_TIMEOUT)
            pace.in_flight -= 1
            if exchange.sent >= pace.window.start:
                pace.exchanges.append(exchange)
            due = max(due + period, loop.time())
    finally:
        client.close()


@dataclass
class Pace:
    window: Window = field(default_factory=Window)
    exchanges: list[Exchange] = field(default_factory=list)
    in_flight: int = 0
    in_flight_at_send: list[int] = field(default_factory=list)
    late: int = 0
    cpu: CpuRow | None = None


async def paced_loop(
    port: int,
    requests: list[bytes],
    rate: float,
    upstream: bool,
    args: argparse.Namespace,
    meter: Meter | None = None,
    client_type: type[SseClient] = SseClient,
) -> Pace:
    """Open loop: ``rate`` runs/s in all, spread evenly over one lane per request (thread)."""
    pace = Pace()
    loop = asyncio.get_running_loop()
    period = len(requests) / rate
    start = loop.time() + 0.01
    tasks = [
        asyncio.create_task(
            paced_lane(port, request, start + i / rate, period, upstream, pace, client_type)
        )
        for i, request in enumerate(requests)
    ]
    try:
        await asyncio.sleep(args.warmup)
        if meter is not None:
            meter.start()
        pace.window.start = CLOCK()
        pace.in_flight_at_send.clear()
        pace.late = 0
        await asyncio.sleep(args.seconds)
        pace.window.stop = True
        if meter is not None:
            pace.cpu = meter.stop("")
        await asyncio.wait_for(asyncio.gather(*tasks), DRAIN_TIMEOUT)
    finally:
        for task in tasks:
            task.cancel()
    return pace


async def scenario_paced(
    api: Api, upstream: Upstream, meter: Meter, args: argparse.Namespace, report: Report
) -> None:
    """Added TTFD below saturation: ``--paced-lanes`` threads, runs started at a fixed total
    ``--paced-rate`` whatever the answers' pace (open loop), so a run waits behind other runs
    only as much as their arrivals collide, not behind a standing queue as in the closed loop.
    Not issue 3's target (that is the closed-loop ttfd at 16): reported beside it."""
    # Answers that take a while (tokens x delay), so that runs overlap: about lanes in flight.
    model = f"fast-{args.tokens}x{args.paced_delay_ms:g}"
    assistant = await api.assistant(model)
    lanes, rate = args.paced_lanes, args.paced_rate
    name = f"paced {lanes}@{rate:g}/s"
    tags = [f"p{lanes}w{i}" for i in range(lanes)]
    base = await paced_loop(
        upstream.port, [upstream_request(model, t) for t in tags], rate, True, args
    )
    baseline = ms([e.first_delta - e.sent for e in base.exchanges if e.first_delta])
    threads = await api.threads(tags)
    requests = [api.run_request(t, assistant) for t in threads]
    pace = await paced_loop(api.port, requests, rate, False, args, meter)
    cpu = pace.cpu
    assert cpu is not None
    cpu.scenario = name
    runs = pace.exchanges
    problems = Counter(filter(None, (check_run(e, args.tokens) for e in runs)))
    ttfd = ms([e.first_delta - e.sent for e in runs if e.first_delta])
    added = [percentile(ttfd, p) - percentile(baseline, p) for p in (50, 99)]
    report.add(name, "upstream baseline TTFD p50 / p99 ms", pair(baseline, 3))
    report.add(name, "run TTFD (sent → 1st delta) p50 / p99 ms", pair(ttfd))
    report.add(name, "ADDED TTFD p50 / p99 ms", f"{added[0]:.2f} / {added[1]:.2f}")
    first_event = ms([e.first_event - e.sent for e in runs if e.first_event])
    report.add(name, "  sent → 1st event p50 / p99 ms", pair(first_event))
    in_flight = pace.in_flight_at_send
    mean = sum(in_flight) / len(in_flight) if in_flight else 0.0
    report.add(
        name, "runs in flight at a send: mean / max", f"{mean:.1f} / {max(in_flight, default=0)}"
    )
    report.add(name, "sends late (a lane's run still going)", str(pace.late))
    done = sum(1 for e in runs if e.completed)
    report.add(name, "runs completed (rate)", f"{done} ({done / args.seconds:.0f}/s)")
    report.add(name, "server CPU ms per completed run", cpu_per_run(cpu, done))
    report.add_errors(name, problems)
    report.cpu.append(cpu)
    print(f"  {report.backend:8} {name:14} done", file=sys.stderr, flush=True)


# --- scenario: 1,000 concurrent streams ------------------------------------------------------


async def scenario_concurrent(
    api: Api, upstream: Upstream, meter: Meter, args: argparse.Namespace, report: Report
) -> None:
    name = f"concurrent {args.runs}"
    pid = meter.server.pid
    assistant = await api.assistant(f"fast-{args.concurrent_tokens}x{args.concurrent_delay_ms:g}")
    threads = await api.threads([f"c{i}" for i in range(args.runs)])
    # A few runs first, so that no code path is cold.
    warm = await api.threads([f"cw{i}" for i in range(8)])
    warm_clients = [SseClient(api.port) for _ in warm]
    await asyncio.gather(
        *(
            c.exchange(api.run_request(t, assistant), False, STREAM_TIMEOUT)
            for c, t in zip(warm_clients, warm, strict=True)
        )
    )
    for client in warm_clients:
        client.close()
    requests = [api.run_request(t, assistant) for t in threads]
    await asyncio.sleep(0.5)  # the warm-up connections closed
    clients = [SseClient(api.port) for _ in threads]
    opening = asyncio.Semaphore(128)

    async def open_one(client: SseClient) -> None:
        async with opening:
            await client._open_or_none()

    fds_idle = open_fds(pid)
    await asyncio.gather(*(open_one(c) for c in clients))
    unopened = sum(1 for c in clients if c.writer is None)
    # Fired only once the server has accepted them all: an accept queue that the server drains
    # late (its loop is busy with the first runs) would otherwise count in "first event".
    deadline = time.monotonic() + 10
    while open_fds(pid) < fds_idle + args.runs - unopened and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await upstream.stats()  # clear
    rss_before, fds_before = status_value(pid, "VmRSS"), open_fds(pid)
    peak_rss = 0

    async def watch_rss() -> None:
        nonlocal peak_rss
        while True:
            peak_rss = max(peak_rss, status_value(pid, "VmRSS"))
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch_rss())
    meter.start()
    started = CLOCK()
    try:
        runs = await asyncio.wait_for(
            asyncio.gather(
                *(
                    c.exchange(r, False, args.concurrent_timeout)
                    for c, r in zip(clients, requests, strict=True)
                )
            ),
            args.concurrent_timeout + 10,
        )
    finally:
        wall = (CLOCK() - started) / 1e9
        cpu = meter.stop(name)
        watcher.cancel()
        for client in clients:
            client.close()
    hwm = status_value(pid, "VmHWM")
    stats = await upstream.stats()
    completed = sum(1 for r in runs if r.completed)
    problems = Counter(filter(None, (check_run(r, args.concurrent_tokens) for r in runs)))
    first_event = ms([r.first_event - r.sent for r in runs if r.first_event])
    first_delta = ms([r.first_delta - r.sent for r in runs if r.first_delta])
    total = ms([r.completed - r.sent for r in runs if r.completed])
    own = ms([first - received for _, received, first, _ in stats["records"]])
    report.add(name, "runs completed (thread.run.completed)", str(completed), str(args.runs))
    report.rows[-1].ok = completed == args.runs
    p99 = percentile(first_event, 99)
    report.add(
        name, "time to 1st event p50 / p99 ms", pair(first_event, 1), "p99 < 1000", p99 < 1e3
    )
    report.add(name, "time to 1st delta p50 / p99 ms", pair(first_delta, 1))
    report.add(name, "run duration p50 / p99 ms", pair(total, 0))
    report.add(name, "upstream's own time to 1st chunk p50 / p99", pair(own, 2))
    report.add(name, "wall time, all runs (s)", f"{wall:.2f}")
    report.add(name, "server CPU ms per completed run", cpu_per_run(cpu, completed))
    report.add(name, "upstream: peak concurrent streams", str(stats["peak"]))
    report.add(name, "server peak RSS (VmHWM) MiB", f"{hwm / 2**20:.0f}", "< 1024", hwm < GIB)
    report.add(
        name,
        "server: connections accepted at start",
        str(fds_before - fds_idle),
    )
    report.add(
        name,
        "server RSS before / peak in run MiB",
        f"{rss_before / 2**20:.0f} / {peak_rss / 2**20:.0f}",
    )
    report.add_errors(name, problems, unopened)
    if unopened:
        report.problems.append(f"{name}: {unopened} connections could not be opened")
    report.cpu.append(cpu)
    # Afterwards: every run's stored status, and what the server still holds.
    await asyncio.sleep(1.0)
    listed = await api.many(
        [encode_request("GET", f"/v1/threads/{t}/runs?limit=5", api.token) for t in threads]
    )
    statuses = Counter(run["status"] for page in listed for run in page["data"])
    runs_per_thread = Counter(len(page["data"]) for page in listed)
    report.add(
        name,
        "stored run statuses afterwards",
        ", ".join(f"{s} {n}" for s, n in statuses.most_common()),
    )
    if set(statuses) != {"completed"} or set(runs_per_thread) != {1}:
        report.problems.append(
            f"{name}: stored statuses {dict(statuses)}, runs per thread {dict(runs_per_thread)}"
        )
    rss_after, fds_after = status_value(pid, "VmRSS"), open_fds(pid)
    report.add(
        name,
        "server RSS / open fds before → 1 s after",
        f"{rss_before / 2**20:.0f} → {rss_after / 2**20:.0f} MiB, {fds_before} → {fds_after} fds",
    )
    print(f"  {report.backend:8} {name:14} done", file=sys.stderr, flush=True)


# --- scenario: completed runs per second -----------------------------------------------------


async def scenario_throughput(
    api: Api, upstream: Upstream, meter: Meter, args: argparse.Namespace, report: Report
) -> None:
    name = f"throughput c={args.concurrency}"
    pid = meter.server.pid
    assistant = await api.assistant(f"fast-{args.tokens}x0")
    threads = await api.threads(
        [f"r{i}" for i in range(args.concurrency * args.threads_per_worker)]
    )
    requests = [api.run_request(t, assistant) for t in threads]
    rss_before, fds_before = status_value(pid, "VmRSS"), open_fds(pid)
    outs, length, sent, cpu = await closed_loop(
        api.port, requests, args.concurrency, False, args, meter
    )
    runs = [e for out in outs for e in out]
    # Completions inside the window (the runs started in it; their tail is cut at its end).
    end = min(e.sent for e in runs) + int(length * 1e9) if runs else 0
    done = sum(1 for e in runs if e.completed and e.completed <= end)
    problems = Counter(filter(None, (check_run(e, args.tokens) for e in runs)))
    rate = done / length
    report.add(
        name,
        "completed runs/s",
        f"{rate:.0f}",
        "≥ 200 (SQLite)",
        rate >= 200 if report.backend == "sqlite" else None,
    )
    report.add(
        name,
        "run duration (sent → completed) p50 / p99 ms",
        pair(ms([e.completed - e.sent for e in runs if e.completed])),
    )
    report.add(
        name,
        "time to 1st delta p50 / p99 ms",
        pair(ms([e.first_delta - e.sent for e in runs if e.first_delta])),
    )
    assert cpu is not None
    report.add(name, "server CPU ms per completed run", cpu_per_run(cpu, done))
    report.add(name, "messages per thread at the end", f"~{1 + sent / len(threads):.0f}")
    report.add_errors(name, problems)
    await asyncio.sleep(0.5)
    rss_after, fds_after = status_value(pid, "VmRSS"), open_fds(pid)
    report.add(
        name,
        "server RSS / open fds before → after",
        f"{rss_before / 2**20:.0f} → {rss_after / 2**20:.0f} MiB, {fds_before} → {fds_after} fds",
    )
    assert cpu is not None
    cpu.scenario = name
    report.cpu.append(cpu)
    print(f"  {report.backend:8} {name:14} done", file=sys.stderr, flush=True)


# --- scenario: long threads -------------------------------------------------------------------

# The fast upstream's model under a name THREADLINE_CONFIG gives a --long-window window.
WINDOWED_MODEL = "windowed"


async def scenario_long(
    api: Api, upstream: Upstream, meter: Meter, args: argparse.Namespace, report: Report
) -> None:
    """Time to first delta of a run on a thread of each of --long-lengths messages (seeded
    straight into the database), one run at a time: a first run, then --long-runs more, with
    ``last_messages: 16`` (the same prompt whatever the thread's length) and with ``auto`` on a
    model with a --long-window window (the newest messages that fit: about 70 of them)."""
    model = f"fast-{args.tokens}x0"
    assistant = await api.assistant(model)
    modes: dict[str, dict[str, Any]] = {
        "last_messages 16": {"truncation_strategy": {"type": "last_messages", "last_messages": 16}},
        f"auto, {args.long_window:,}-token window": {"model": WINDOWED_MODEL},
    }
    client = SseClient(api.port)
    try:
        # The server's first runs warm it up (imports, caches, the tokenizer): not measured.
        warm_up = str((await api.post("/v1/threads", {}))["id"])
        body = {"assistant_id": assistant, "stream": True}
        request = encode_request("POST", f"/v1/threads/{warm_up}/runs", api.token, body)
        for _ in range(5):
            await client.exchange(request, False, STREAM_TIMEOUT)
        for length in args.long_lengths:
            name = f"long {length:,}"
            thread = str((await api.post("/v1/threads", {}))["id"])
            started = time.perf_counter()
            await seed_thread(args.database_url, thread, length)
            client.close()  # idle while seeding: the server may have closed it
            report.add(
                name, "thread seeded (direct inserts) in s", f"{time.perf_counter() - started:.1f}"
            )
            meter.start()
            runs = 0
            for mode, options in modes.items():
                body = {"assistant_id": assistant, "stream": True, **options}
                request = encode_request("POST", f"/v1/threads/{thread}/runs", api.token, body)
                exchanges = []
                for _ in range(1 + args.long_runs):
                    exchanges.append(await client.exchange(request, False, STREAM_TIMEOUT))
                runs += len(exchanges)
                problems = Counter(filter(None, (check_run(e, args.tokens) for e in exchanges)))
                if problems:
                    report.problems.append(f"{name} {mode}: {tally(problems)}")
                first = exchanges[0]
                cold = (first.first_delta - first.sent) / 1e6 if first.first_delta else math.nan
                ttfd = ms([e.first_delta - e.sent for e in exchanges[1:] if e.first_delta])
                report.add(
                    name,
                    f"{mode}: TTFD 1st run, then p50 / p90 ms",
                    f"{cold:.1f}, {percentile(ttfd, 50):.2f} / {percentile(ttfd, 90):.2f}",
                )
            cpu = meter.stop(name)
            report.add(name, "server CPU ms per run", cpu_per_run(cpu, runs))
            report.cpu.append(cpu)
            print(f"  {report.backend:8} {name:14} done", file=sys.stderr, flush=True)
    finally:
        client.close()


Scenario = Callable[[Api, Upstream, Meter, argparse.Namespace, Report], Awaitable[None]]
SCENARIOS: dict[str, Scenario] = {
    "ttfd": scenario_ttfd,
    "paced": scenario_paced,
    "throughput": scenario_throughput,
    "concurrent": scenario_concurrent,  # last: its peak RSS is the process's
    "long": scenario_long,
}
# Asked for by name only, not by "all": seeding 100,000 messages takes a while.
BY_NAME_ONLY = frozenset({"long"})


# --- one backend ----------------------------------------------------------------------------


async def bench_server(
    server: Server,
    upstream: Upstream,
    master_key: str,
    backend: str,
    args: argparse.Namespace,
    scenarios: dict[str, Scenario],
) -> Report:
    await wait_healthy(server)
    api = Api(server.port, await project_key(server, master_key))
    report = Report(backend, server.workers)
    meter = Meter(server, upstream)
    for name in args.scenarios:
        await scenarios[name](api, upstream, meter, args, report)
    return report


async def _cancel_on_sigterm(coroutine: Coroutine[Any, Any, T]) -> T:
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


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(_cancel_on_sigterm(coroutine))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_cancel_on_sigterm(coroutine))


def bench_backend(
    backend: str,
    args: argparse.Namespace,
    scenarios: dict[str, Scenario] = SCENARIOS,
    workers: int = 1,
) -> Report:
    """A server (``serve --workers N``) on ``backend`` in front of a fast upstream, through
    ``scenarios``' chosen ones (``bench/responses_bench.py`` brings its own)."""
    master_key = secrets.token_urlsafe(32)
    with (
        tempfile.TemporaryDirectory(prefix=f"threadline-runbench-{backend}-") as directory,
        fast_upstream(Path(directory)) as upstream,
        database_url(backend) as url,
    ):
        os.environ["THREADLINE_UPSTREAM_BASE_URL"] = upstream.base_url
        os.environ["THREADLINE_UPSTREAM_API_KEY"] = "sk-bench-" + secrets.token_hex(8)
        os.environ.pop("THREADLINE_CONFIG", None)
        # The long-thread scenario seeds the server's database and runs on a windowed model.
        args.database_url = url or f"sqlite+aiosqlite:///{Path(directory) / 'threadline.db'}"
        if "long" in args.scenarios:
            config = Path(directory) / "threadline.yaml"
            upstream_model = f"fast-{args.tokens}x0"
            config.write_text(
                f"models:\n  {WINDOWED_MODEL}:\n    upstream_model: {upstream_model}\n"
                f"    context_window: {args.long_window}\n"
            )
            os.environ["THREADLINE_CONFIG"] = str(config)
        with running_server(Path(directory), master_key, url, args.profile, workers) as server:
            try:
                return run_async(
                    bench_server(server, upstream, master_key, backend, args, scenarios)
                )
            except Exception:
                print(f"server log (last lines):\n{server.log_tail()}", file=sys.stderr)
                raise
            finally:
                if server.log_tail(5):
                    print(f"server log (tail):\n{server.log_tail(15)}", file=sys.stderr)


# --- output and entry point -----------------------------------------------------------------


def print_report(
    reports: list[Report], args: argparse.Namespace, title: str = "run-engine"
) -> None:
    print(
        f"\nThreadline {title} benchmark: {os.cpu_count()} CPUs, {args.seconds:g} s windows "
        f"after {args.warmup:g} s warm-up, {args.tokens} tokens a 0 ms answer; concurrent: "
        f"{args.runs} runs of {args.concurrent_tokens} tokens {args.concurrent_delay_ms:g} ms apart"
    )
    for report in reports:
        head = f"{'scenario':16} {'metric':46} {'value':>26}  {'target':14} ok"
        print(f"\n[{report.backend}, --workers {report.workers}]\n{head}\n{'-' * len(head)}")
        for row in report.rows:
            verdict = {True: "OK", False: "MISS", None: ""}[row.ok]
            print(f"{row.scenario:16} {row.metric:46} {row.value:>26}  {row.target:14} {verdict}")
        print(
            f"\nCPU, % of one core   {'srv':>6} {'loop':>6} {'pg':>6} {'up':>6} {'cli':>6} "
            f"{'noise':>6}"
        )
        for cpu in report.cpu:
            print(f"{cpu.scenario:20} {cpu.columns()}")
            noise = cpu.cpu.percent(max(0.0, cpu.cpu.noise - cpu.upstream))
            if noise > 25:
                print(f"  WARNING: other processes took {noise:.0f}% of a core: figures disturbed")
        for problem in report.problems:
            print(f"PROBLEM {problem}")
    if args.profile:
        print(f"\nserver profile (measured windows only): {args.profile}")
    if len(args.workers) > 1:
        compare_workers(reports)


def compare_workers(reports: list[Report]) -> None:
    """Each worker count against the first, per backend (targets with 2 workers on 2 cores:
    >= 1.6x the completed runs/s, added time to first delta at c=16 at most half)."""
    print("\nWorkers compared (completed runs/s of 'throughput'; ADDED TTFD p50 of 'ttfd c=16'):")
    first: dict[str, tuple[float, float]] = {}
    for report in reports:
        values = {(row.scenario.split()[0], row.metric): row.value for row in report.rows}
        values |= {(row.scenario, row.metric): row.value for row in report.rows}
        rate = float(values.get(("throughput", "completed runs/s"), "nan"))
        added = float(values.get(("ttfd c=16", "ADDED TTFD p50 / p99 ms"), "nan /").split("/")[0])
        base_rate, base_added = first.setdefault(report.backend, (rate, added))
        print(
            f"{report.backend:8} --workers {report.workers}: {rate:6.0f} runs/s "
            f"({rate / base_rate:.2f}x), added TTFD c=16 {added:.2f} ms "
            f"({added / base_added:.2f}x)"
        )


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))  # the server inherits it


def _levels(text: str) -> list[int]:
    return [int(level) for level in text.split(",")]


def parse_args(
    argv: list[str] | None = None,
    scenarios: dict[str, Scenario] = SCENARIOS,
    extra: Callable[[argparse.ArgumentParser], None] | None = None,
    description: str = __doc__.split("\n", 1)[0],
) -> argparse.Namespace:
    """The options; ``extra`` adds a caller's own (``bench/responses_bench.py``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--scenario", choices=["all", *scenarios], default="all")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds a window")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before")
    parser.add_argument("--concurrency", type=int, default=32, help="throughput workers")
    parser.add_argument("--ttfd-concurrency", type=_levels, default=[1, 16, 64], metavar="1,16,64")
    parser.add_argument("--tokens", type=int, default=20, help="chunks of a 0 ms answer")
    parser.add_argument(
        "--threads-per-worker",
        type=int,
        default=1,
        help="ttfd, throughput: threads a worker takes in turn (each run adds a message)",
    )
    parser.add_argument("--paced-lanes", type=int, default=16, help="paced: threads")
    parser.add_argument("--paced-rate", type=float, default=64.0, help="paced: runs/s in all")
    parser.add_argument(
        "--paced-delay-ms", type=float, default=10.0, help="paced: ms between an answer's chunks"
    )
    parser.add_argument("--runs", type=int, default=1000, help="concurrent: runs at once")
    parser.add_argument("--concurrent-tokens", type=int, default=50)
    parser.add_argument("--concurrent-delay-ms", type=float, default=20.0)
    parser.add_argument("--concurrent-timeout", type=float, default=120.0)
    parser.add_argument(
        "--long-lengths",
        type=_levels,
        default=[16, 2_000, 20_000, 100_000],
        metavar="16,2000,20000,100000",
        help="long: messages on each thread",
    )
    parser.add_argument("--long-runs", type=int, default=50, help="long: runs after the 1st")
    parser.add_argument(
        "--long-window", type=int, default=8192, help="long: the auto mode model's window"
    )
    parser.add_argument("--profile", type=Path, metavar="REPORT", help="sample the server")
    parser.add_argument(
        "--workers",
        type=_levels,
        default=[1],
        metavar="1,2",
        help="serve --workers; a list measures each, one after the other, and compares them",
    )
    if extra is not None:
        extra(parser)
    args = parser.parse_args(argv)
    if args.scenario == "all":
        args.scenarios = [name for name in scenarios if name not in BY_NAME_ONLY]
    else:
        args.scenarios = [args.scenario]
    args.backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    if args.profile and (len(args.backends) > 1 or args.workers != [1]):
        parser.error("--profile needs one --backend and one worker")
    if args.profile:
        args.profile = args.profile.resolve()
    return args


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds: the server and upstream stopped, database dropped


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_fd_limit()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    reports: list[Report] = []
    try:
        for backend in args.backends:
            for workers in args.workers:
                reports.append(bench_backend(backend, args, workers=workers))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: server and upstream stopped, bench database dropped", file=sys.stderr)
        return 130
    print_report(reports, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
