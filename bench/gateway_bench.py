"""The gateway's cost: ``/v1/chat/completions`` through a real ``threadline serve`` against the
same fast upstream called directly, in the same run.

What it prints:

1. **Added latency** at concurrency 1, 16 and 64 (closed loop, one keep-alive connection per
   worker): p50 and p99 of the whole response (non-streaming) and of the time to the first
   content chunk (streaming), direct and through the gateway, and the difference. The upstream
   takes ``--answer-ms`` to answer (a non-streaming answer comes after that long; a stream sends
   its first token at once, the rest spread over that time), so that concurrency 64 is a load
   the gateway can carry rather than a queue.
2. **Maximum requests/s** with a 0 ms upstream (non-streaming, concurrency 64), and the
   server's **CPU ms per request** over that window.
3. The same through the **LiteLLM proxy** when ``--litellm`` names its ``litellm`` command (from
   a throwaway venv: ``python -m venv /tmp/litellm && /tmp/litellm/bin/pip install
   'litellm[proxy]'``; it is never a dependency of this project).
4. With ``--cache``, instead of 1-3: the **response cache**, a hit (a key with a ``cache_ttl``
   sending one body again and again) against a pass-through (a key without), on one server, in
   ``--rounds`` alternating rounds: requests/s and server CPU ms per request at concurrency 64,
   and p50 latency at concurrency 1, with a 0 ms upstream; then the medians. ``--redis URL``
   keeps the cache (and the rate-limit counters) in Redis instead of the database.
5. With ``--throughput-only``, instead of 1-3: item 2 for Threadline alone, ``--rounds`` times
   (e.g. to compare two source trees in alternating runs, ``PYTHONPATH=<tree>/src``).
6. With ``--tracing``, instead of 1-3: what OpenTelemetry tracing costs (docs/tracing.md): three
   servers in front of the same upstream, one untraced, one tracing every request and one
   sampling 1 in 10 (``OTEL_TRACES_SAMPLER=parentbased_traceidratio``), the traced ones with
   ``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at the upstream, which also serves as an OTLP
   collector that counts the spans and discards them; their CPU per request at maximum
   throughput (as in 2.) in ``--rounds`` alternating rounds (the order rotating), and the spans
   the collector received.

The key used has rate limits (high enough never to refuse), so their bookkeeping is measured;
usage, cost and the request log are recorded as always. Targets, one process: added p50
≤ 1 ms at concurrency 1 and ≤ 5 ms at 64; ≥ 2,000 requests/s; ≤ 0.4 ms CPU per request.

Run:  .venv/bin/python bench/gateway_bench.py [--seconds 4] [--answer-ms 50]
          [--concurrency 1,16,64] [--litellm /tmp/litellm/bin/litellm]
          [--cache [--redis URL] | --throughput-only | --tracing] [--rounds 3]
The machine is shared: compare the direct and gateway columns of one run, not runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from server_under_test import CpuCounters, free_port, running_server, wait_healthy

BENCH = Path(__file__).resolve().parent
HOST = "127.0.0.1"
TARGETS = "targets: added p50 ≤ 1 ms (c=1), ≤ 5 ms (c=64); ≥ 2,000 req/s; ≤ 0.4 ms CPU/request"


# --- a minimal HTTP/1.1 client that reads content-length and chunked bodies -------------------


class Client:
    def __init__(self, port: int, prefix: str, key: str) -> None:
        self.port, self.prefix, self.key = port, prefix, key
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port)

    def request(self, model: str, stream: bool) -> bytes:
        body = {"model": model, "messages": [{"role": "user", "content": "bench hello"}]}
        if stream:
            body["stream"] = True
        payload = orjson.dumps(body)
        head = (
            f"POST {self.prefix}/chat/completions HTTP/1.1\r\nHost: {HOST}\r\n"
            f"Authorization: Bearer {self.key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        )
        return head.encode() + payload

    async def send(self, request: bytes) -> tuple[int, float, float]:
        """(status, seconds to the first body byte, seconds to the end)."""
        assert self.reader is not None and self.writer is not None
        started = time.perf_counter()
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        first = 0.0
        if b"transfer-encoding: chunked" in lower:
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                await self.reader.readexactly(size + 2)
                first = first or time.perf_counter() - started
                if size == 0:
                    break
        else:
            start = lower.index(b"content-length:") + 15
            length = int(lower[start : lower.index(b"\r\n", start)])
            await self.reader.readexactly(length)
            first = time.perf_counter() - started
        return status, first, time.perf_counter() - started


@dataclass
class Result:
    firsts: list[float] = field(default_factory=list)
    totals: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    def pct(self, values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1000 if ordered else 0.0


async def load(
    port: int,
    prefix: str,
    key: str,
    model: str,
    stream: bool,
    concurrency: int,
    seconds: float,
    client: type[Client] = Client,
) -> Result:
    """``client``: what the requests are (bench/messages_bench.py sends Messages requests)."""
    result = Result()
    clients = [client(port, prefix, key) for _ in range(concurrency)]
    await asyncio.gather(*(c.connect() for c in clients))
    stop = time.perf_counter() + seconds
    warm = time.perf_counter() + min(0.5, seconds / 4)

    async def worker(client: Client) -> None:
        request = client.request(model, stream)
        while time.perf_counter() < stop:
            status, first, total = await client.send(request)
            if time.perf_counter() < warm:
                continue
            if status != 200:
                result.errors += 1
            result.firsts.append(first)
            result.totals.append(total)

    began = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in clients))
    result.seconds = time.perf_counter() - max(began, warm - min(0.5, seconds / 4) + 0.0)
    for client in clients:
        if client.writer is not None:
            client.writer.close()
    return result


# --- processes --------------------------------------------------------------------------------


@contextmanager
def fast_upstream() -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(BENCH / "fast_upstream.py"), "--port", str(port)],
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class Gateway:
    port: int
    pid: int
    key: str  # rate-limited, answers not cached
    cache_key: str | None  # the same limits and a cache_ttl (with ``--cache``)


@contextmanager
def threadline(
    upstream_port: int,
    *,
    cache: bool = False,
    redis_url: str | None = None,
    env: dict[str, str] | None = None,
    workers: int = 1,
) -> Iterator[Gateway]:
    """A ``threadline serve --workers N`` in front of the upstream, and its keys; ``env``: more
    variables for it."""
    import httpx

    master = "sk-bench-master-" + secrets.token_hex(8)
    os.environ["THREADLINE_UPSTREAM_BASE_URL"] = f"http://{HOST}:{upstream_port}/v1"
    os.environ["THREADLINE_UPSTREAM_API_KEY"] = "sk-bench-upstream"
    if redis_url:
        os.environ["THREADLINE_REDIS_URL"] = redis_url
    with contextlib.ExitStack() as stack:
        data = stack.enter_context(tempfile.TemporaryDirectory(prefix="threadline-gwbench-"))
        saved = {name: os.environ.get(name) for name in env or {}}
        os.environ.update(env or {})
        try:  # the child takes the environment as it starts
            server = stack.enter_context(running_server(Path(data), master, None, workers=workers))
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        asyncio.run(wait_healthy(server))

        def new_key(**options: object) -> str:
            response = httpx.post(
                f"http://{HOST}:{server.port}/admin/keys",
                headers={"Authorization": f"Bearer {master}"},
                json={"project": "bench", "rpm": 1_000_000_000, "tpm": 2_000_000_000, **options},
            )
            response.raise_for_status()
            return str(response.json()["key"])

        cache_key = new_key(cache_ttl=3600) if cache else None
        yield Gateway(server.port, server.pid, new_key(), cache_key)


LITELLM_KEY = "sk-litellm-bench-" + secrets.token_hex(16)


@contextmanager
def litellm_proxy(command: str, upstream_port: int) -> Iterator[int]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="litellm-bench-") as directory:
        config = Path(directory) / "config.yaml"
        config.write_text(
            "model_list:\n"
            "  - model_name: '*'\n"
            "    litellm_params:\n"
            "      model: openai/*\n"
            f"      api_base: http://{HOST}:{upstream_port}/v1\n"
            "      api_key: sk-bench-upstream\n"
            "general_settings:\n"
            f"  master_key: {LITELLM_KEY}\n"
        )
        log = (Path(directory) / "litellm.log").open("wb")
        process = subprocess.Popen(
            [command, "--config", str(config), "--port", str(port), "--num_workers", "1"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            import httpx

            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and process.poll() is None:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"http://{HOST}:{port}/health/liveliness", timeout=1).is_success:
                        break
                time.sleep(0.5)
            else:
                raise RuntimeError(f"the LiteLLM proxy did not start; see {log.name}")
            yield port
        finally:
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=15)
            process.kill()


# --- the report -------------------------------------------------------------------------------


def latency_table(
    ports: dict[str, tuple[int, str, str]], args: argparse.Namespace, model: str
) -> dict[tuple[int, str], float]:
    """Prints the table; returns the second column's added p50, by (concurrency, kind)."""
    names = list(ports)
    added_p50: dict[tuple[int, str], float] = {}
    print(f"\nLatency, upstream answering in {args.answer_ms} ms (model {model}), ms")
    print(
        f"{'c':>3} {'kind':10} "
        + " ".join(f"{n + ' p50':>13} {n + ' p99':>13}" for n in names)
        + "   "
        + " ".join(f"{'+' + n + ' p50':>14} {'+' + n + ' p99':>14}" for n in names[1:])
    )
    for concurrency in args.concurrency:
        for stream, kind in ((False, "response"), (True, "first tok")):
            row = {}
            for name, (port, prefix, key) in ports.items():
                result = asyncio.run(
                    load(port, prefix, key, model, stream, concurrency, args.seconds)
                )
                values = result.firsts if stream else result.totals
                row[name] = (result.pct(values, 0.5), result.pct(values, 0.99), result.errors)
            direct = row[names[0]]
            added_p50[(concurrency, kind)] = row[names[1]][0] - direct[0]
            cells = " ".join(f"{p50:13.2f} {p99:13.2f}" for p50, p99, _ in row.values())
            added = " ".join(
                f"{row[n][0] - direct[0]:14.2f} {row[n][1] - direct[1]:14.2f}" for n in names[1:]
            )
            errors = sum(e for _, _, e in row.values())
            print(
                f"{concurrency:>3} {kind:10} {cells}   {added}"
                + (f"  errors={errors}" if errors else "")
            )
    return added_p50


@dataclass
class Throughput:
    rate: float  # requests/s
    p50_ms: float
    cpu_ms: float  # server CPU per request (nan without a pid)
    loop_ms: float  # of which the event loop's thread
    noise: float  # % of a core used by everything else on the machine
    errors: int


def measure(port: int, prefix: str, key: str, pid: int | None, seconds: float) -> Throughput:
    """Requests/s at concurrency 64 (0 ms upstream, non-streaming), and the server's CPU."""
    before = CpuCounters.take(pid) if pid else None
    result = asyncio.run(load(port, prefix, key, "fast-20x0", False, 64, seconds))
    done = max(len(result.totals), 1)
    rate = len(result.totals) / result.seconds if result.seconds else 0.0
    cpu = loop = noise = float("nan")
    if before is not None and pid:
        use = CpuCounters.take(pid).since(before)
        cpu, loop = use.server / done * 1000, use.loop / done * 1000
        noise = use.percent(use.noise)
    return Throughput(rate, result.pct(result.totals, 0.5), cpu, loop, noise, result.errors)


def throughput(
    name: str, port: int, prefix: str, key: str, pid: int | None, seconds: float
) -> Throughput:
    found = measure(port, prefix, key, pid, seconds)
    line = f"{name:10} {found.rate:10.0f} req/s  p50 {found.p50_ms:6.2f} ms"
    if pid:
        line += f"  server CPU {found.cpu_ms:.3f} ms/request"
        line += f" (event loop {found.loop_ms:.3f}), machine noise {found.noise:.0f}% of a core"
    if found.errors:
        line += f"  errors={found.errors}"
    print(line, flush=True)
    return found


def cache_rounds(gateway: Gateway, args: argparse.Namespace) -> None:
    """A cache hit against a pass-through, in alternating rounds on one server."""
    assert gateway.cache_key is not None
    keys = {"pass-through": gateway.key, "cache hit": gateway.cache_key}
    print(
        "\nResponse cache: a hit against a pass-through, 0 ms upstream, non-streaming; "
        f"{args.rounds} alternating rounds of {args.seconds:g} s"
    )
    print(
        f"{'round':>5} {'kind':13} {'req/s c=64':>10} {'CPU ms/req':>10} {'loop ms':>8} "
        f"{'p50 c=1 ms':>10} {'noise %':>8}"
    )
    found: dict[str, list[tuple[Throughput, float]]] = {name: [] for name in keys}
    for number in range(1, args.rounds + 1):
        for name, key in keys.items():
            loaded = measure(gateway.port, "/v1", key, gateway.pid, args.seconds)
            single = asyncio.run(
                load(gateway.port, "/v1", key, "fast-20x0", False, 1, args.seconds / 2)
            )
            p50 = single.pct(single.totals, 0.5)
            found[name].append((loaded, p50))
            errors = loaded.errors + single.errors
            print(
                f"{number:>5} {name:13} {loaded.rate:10.0f} {loaded.cpu_ms:10.3f} "
                f"{loaded.loop_ms:8.3f} {p50:10.3f} {loaded.noise:8.0f}"
                + (f"  errors={errors}" if errors else "")
            )
    for name, rows in found.items():
        print(
            f"{'median':>5} {name:13} {statistics.median(r.rate for r, _ in rows):10.0f} "
            f"{statistics.median(r.cpu_ms for r, _ in rows):10.3f} "
            f"{statistics.median(r.loop_ms for r, _ in rows):8.3f} "
            f"{statistics.median(p for _, p in rows):10.3f}"
        )


# --tracing: the servers compared, and the variables each is started with.
TRACED_VARIANTS = {
    "off": {},
    "on": {"OTEL_SERVICE_NAME": "bench-on"},
    "on 10%": {
        "OTEL_SERVICE_NAME": "bench-sampled",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
    },
}


def requests_served(port: int) -> tuple[int, int]:
    """(every request, chat completions) a server counted in its metrics."""
    import httpx

    total = chat = 0
    for line in httpx.get(f"http://{HOST}:{port}/metrics").text.splitlines():
        if line.startswith("threadline_http_requests_total{"):
            count = int(float(line.rsplit(" ", 1)[1]))
            total += count
            chat += count if 'route="/v1/chat/completions"' in line else 0
    return total, chat


def tracing_cost(args: argparse.Namespace) -> None:
    """CPU per request of an untraced server and traced ones, in alternating rounds."""
    import httpx

    with fast_upstream() as upstream, contextlib.ExitStack() as stack:
        collector = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{HOST}:{upstream}"}
        servers = {
            name: stack.enter_context(
                threadline(upstream, env={**collector, **env} if env else None)
            )
            for name, env in TRACED_VARIANTS.items()
        }
        print(f"\nTracing: {args.rounds} rounds of {args.seconds:g} s each, the order rotating;")
        print("0 ms upstream, non-streaming, concurrency 64 (first, one warm-up round each)")
        for name, gateway in servers.items():
            throughput(f"warm {name}", gateway.port, "/v1", gateway.key, gateway.pid, 1.0)
        names = list(servers)
        cpu: dict[str, list[float]] = {name: [] for name in names}
        for round_number in range(args.rounds):
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                at = servers[name]
                found = throughput(name, at.port, "/v1", at.key, at.pid, args.seconds)
                cpu[name].append(found.cpu_ms)
        time.sleep(6)  # the batch processor's delay: what it still holds is exported
        spans = httpx.get(f"http://{HOST}:{upstream}/_stats").json()["spans"]
        served = {name: requests_served(gateway.port) for name, gateway in servers.items()}
    off = statistics.median(cpu["off"])
    print("\nserver CPU ms/request, median (min-max), and what tracing adds (target ≤ 10 %):")
    for name in names:
        line = f"{name:7} {statistics.median(cpu[name]):.3f} "
        line += f"({min(cpu[name]):.3f}-{max(cpu[name]):.3f})"
        if name != "off":
            line += f"  {(statistics.median(cpu[name]) / off - 1) * 100:+.1f} %"
            service = TRACED_VARIANTS[name]["OTEL_SERVICE_NAME"]
            total, chat = served[name]
            line += f"  spans received {spans.get(service, 0)} of {total + chat} made"
        print(line)
    print("(a traced request makes 2 spans, its own and its model call's; sampled: ~1 in 10)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--answer-ms", type=int, default=50)
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--litellm", help="the litellm command of a throwaway venv")
    parser.add_argument("--cache", action="store_true", help="a cache hit vs a pass-through")
    parser.add_argument("--redis", help="THREADLINE_REDIS_URL for the server (with --cache)")
    parser.add_argument(
        "--throughput-only", action="store_true", help="maximum requests/s and CPU only"
    )
    parser.add_argument(
        "--tracing", action="store_true", help="measure what OpenTelemetry tracing costs instead"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--workers",
        default="1",
        help="serve --workers for Threadline; a list (1,2) measures each and compares them",
    )
    args = parser.parse_args()
    args.workers = [int(w) for w in args.workers.split(",")]
    if args.tracing:
        tracing_cost(args)
        return
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    if args.cache:
        with (
            fast_upstream() as upstream,
            threadline(upstream, cache=True, redis_url=args.redis) as gateway,
        ):
            cache_rounds(gateway, args)
        return
    if args.throughput_only:
        throughput_rounds(args)
        return
    print(TARGETS)
    compared: dict[int, tuple[float, dict[tuple[int, str], float]]] = {}
    with fast_upstream() as upstream:
        for workers in args.workers:
            print(f"\n## threadline serve --workers {workers}")
            with threadline(upstream, workers=workers) as gateway:
                compared[workers] = gateway_figures(gateway, upstream, args)
    if len(compared) > 1:
        compare_workers(compared)


def gateway_figures(
    gateway: Gateway, upstream: int, args: argparse.Namespace
) -> tuple[float, dict[tuple[int, str], float]]:
    """Latency and throughput through ``gateway`` (and LiteLLM's, with ``--litellm``): its
    requests/s and added p50s."""
    port, pid, key = gateway.port, gateway.pid, gateway.key
    ports = {"direct": (upstream, "/v1", "x"), "threadline": (port, "/v1", key)}
    litellm = litellm_proxy(args.litellm, upstream) if args.litellm else contextlib.nullcontext()
    with litellm as litellm_port:
        if litellm_port:
            ports["litellm"] = (litellm_port, "/v1", LITELLM_KEY)
        tokens = 10
        model = f"fast-{tokens}x{args.answer_ms / tokens:g}"
        added = latency_table(ports, args, model)
        print("\nMaximum throughput, 0 ms upstream, non-streaming, concurrency 64")
        throughput("direct", upstream, "/v1", "x", None, args.seconds)
        found = throughput("threadline", port, "/v1", key, pid, args.seconds)
        if litellm_port:
            throughput("litellm", litellm_port, "/v1", LITELLM_KEY, None, args.seconds)
    return found.rate, added


def compare_workers(compared: dict[int, tuple[float, dict[tuple[int, str], float]]]) -> None:
    """Each worker count against the first: requests/s, and added p50 (targets with 2 on 2
    cores: >= 1.6x the requests/s, added time to first token at c=16 at most half)."""
    base_workers, (base_rate, base_added) = next(iter(compared.items()))
    print(f"\nWorkers compared with --workers {base_workers}:")
    for workers, (rate, added) in compared.items():
        line = f"--workers {workers}: {rate:7.0f} req/s ({rate / base_rate:.2f}x)"
        for (concurrency, kind), value in added.items():
            if concurrency >= 16:
                was = base_added[(concurrency, kind)]
                line += f"  +{kind} c={concurrency} {value:.2f} ms (was {was:.2f})"
        print(line)


def throughput_rounds(args: argparse.Namespace) -> None:
    """``--throughput-only``: item 2, ``--rounds`` times for each worker count, alternating."""
    print("Maximum throughput, 0 ms upstream, non-streaming, concurrency 64")
    with fast_upstream() as upstream, contextlib.ExitStack() as servers:
        gateways = {w: servers.enter_context(threadline(upstream, workers=w)) for w in args.workers}
        rates: dict[int, list[float]] = {w: [] for w in args.workers}
        for _ in range(args.rounds):
            for workers, gateway in gateways.items():
                name = f"workers={workers}" if len(gateways) > 1 else "threadline"
                found = throughput(
                    name, gateway.port, "/v1", gateway.key, gateway.pid, args.seconds
                )
                rates[workers].append(found.rate)
    if len(rates) > 1:
        base = statistics.median(rates[args.workers[0]])
        for workers, found in rates.items():
            median = statistics.median(found)
            print(f"--workers {workers}: median {median:.0f} req/s ({median / base:.2f}x)")


if __name__ == "__main__":
    main()
