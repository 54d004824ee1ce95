"""Responses API benchmark of a real ``threadline serve`` process against the fast loopback
upstream, with ``run_bench.py``'s server, upstream, clients, loops and report.

Scenarios:

  ttfd        added time to the first ``response.output_text.delta`` over the upstream's own
              time to first content chunk (this client straight to the upstream, same request
              shape): streamed responses (``POST /v1/responses``, ``"stream": true``, a new
              chain each) back to back at concurrency 1.
  paced       the same, open loop: --paced-lanes lanes, responses started at --paced-rate in
              all (64/s), each answer --tokens chunks --paced-delay-ms apart.
  concurrent  --runs (1,000) streamed responses started at once in one server process (the
              upstream streams 50 chunks 20 ms apart so they overlap): p99 first event, peak
              RSS (VmHWM), every stream checked.
  chain       a --turns (100) turn ``previous_response_id`` chain, one streamed turn after
              another: per turn, request sent → the upstream has the model request (the server's
              work before the model call: the context build included) and sent → first delta;
              turn 1 against turn 100.

Every stream is checked: its events in order, its deltas, the completed response's text.

Run:  .venv/bin/python bench/responses_bench.py [--backend sqlite|postgres|both]
          [--scenario all|ttfd|paced|concurrent|chain] [--seconds 5] [--warmup 1] [--tokens 20]
          [--paced-lanes 16] [--paced-rate 64] [--paced-delay-ms 10] [--runs 1000] [--turns 100]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from dataclasses import dataclass

import orjson

from mini_http import encode_request
from run_bench import (
    CLOCK,
    GIB,
    STREAM_TIMEOUT,
    Api,
    Exchange,
    Meter,
    Report,
    Scenario,
    SseClient,
    Upstream,
    bench_backend,
    closed_loop,
    cpu_per_run,
    expected_text,
    ms,
    open_fds,
    paced_loop,
    pair,
    parse_args,
    percentile,
    print_report,
    raise_fd_limit,
    status_value,
    upstream_request,
)

EXPECTED = (
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",  # repeated: consecutive deltas are collapsed before comparing
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
)
_FAILED = frozenset({"response.failed", "response.incomplete", "error"})
INSTRUCTIONS = "You are a benchmark."  # as run_bench's assistant: the same upstream request


@dataclass
class ResponseExchange(Exchange):
    response_id: str = ""


class ResponseSseClient(SseClient):
    """``SseClient`` reading a response's ``response.*`` events."""

    exchange_type = ResponseExchange

    delta_event = "response.output_text.delta"

    @staticmethod
    def _on_event(name: str, data: bytes, now: int, result: Exchange) -> None:
        if name == "response.completed":
            result.completed = now
            response = orjson.loads(data)["response"]
            assert isinstance(result, ResponseExchange)
            result.response_id = response["id"]
            result.text = "".join(
                part["text"] for item in response["output"] for part in item.get("content", [])
            )
        elif name in _FAILED:
            result.error = f"{name}: {data[:200].decode()}"


def check_response(exchange: Exchange, tokens: int) -> str:
    """Why a streamed response is not as expected; empty if it is."""
    if exchange.error:
        return exchange.error
    names = exchange.names[:-1] if exchange.names[-1:] == ["done"] else exchange.names
    if tuple(names) != EXPECTED:  # the closing ``done`` (``data: [DONE]``) is optional
        return "events out of order: " + " ".join(
            n.removeprefix("response.") for n in exchange.names
        )
    if exchange.deltas != tokens:
        return f"{exchange.deltas} deltas, not {tokens}"
    if exchange.text != expected_text(tokens):
        return f"the response's text differs from the streamed tokens: {exchange.text!r:.80}"
    return ""


def response_request(api: Api, model: str, tag: str, previous: str | None = None) -> bytes:
    body = {
        "model": model,
        "input": f"{tag} Say something.",
        "instructions": INSTRUCTIONS,
        "stream": True,
    }
    if previous is not None:
        body["previous_response_id"] = previous
    return encode_request("POST", "/v1/responses", api.token, body)


def report_added(
    report: Report, name: str, baseline: list[float], streamed: list[Exchange], tokens: int
) -> None:
    problems = Counter(filter(None, (check_response(e, tokens) for e in streamed)))
    ttfd = ms([e.first_delta - e.sent for e in streamed if e.first_delta])
    added = [percentile(ttfd, p) - percentile(baseline, p) for p in (50, 99)]
    report.add(name, "upstream baseline TTFD p50 / p99 ms", pair(baseline, 3))
    report.add(name, "response TTFD (sent → 1st delta) p50 / p99", pair(ttfd))
    report.add(name, "ADDED TTFD p50 / p99 ms", f"{added[0]:.2f} / {added[1]:.2f}")
    first_event = ms([e.first_event - e.sent for e in streamed if e.first_event])
    report.add(name, "  sent → 1st event p50 / p99 ms", pair(first_event))
    report.add(name, "responses completed", str(sum(1 for e in streamed if e.completed)))
    report.add_errors(name, problems)


async def scenario_ttfd(
    api: Api, upstream: Upstream, meter: Meter, args: argparse.Namespace, report: Report
) -> None:
    model = f"fast-{args.tokens}x0"
    name = "resp ttfd c=1"
    base, _, _, _ = await closed_loop(
        upstream.port, [upstream_request(model, "t1")], 1, True, args, None
    )
    baseline = ms([e.first_delta - e.sent for out in base for e in out if e.first_delta])
    request = response_request(api, model, "t1")
    outs, _, _, cpu = await closed_loop(
        api.port, [request], 1, False, args, meter, ResponseSseClient
    )
    streamed = [e for out in outs for e in out]
    report_added(report, name, baseline, streamed, args.tokens)
    assert cpu is not None
    done = sum(1 for e in streamed if e.completed)
    report.add(name, "server CPU ms per completed response", cpu_per_run(cpu, done))
    cpu.scenario = name
    report.cpu.append(cpu)
    print(f"  {report.backend:8} {name:14} done", file=sys.stderr, flush=True)


async def scenario_paced(
    api: Api, upstream: Upstream, meter: Meter, args: argparse.Namespace, report: Report
) -> None:
    model = f"fast-{args.tokens}x{args.paced_delay_ms:g}"
    lanes, rate = args.paced_lanes, args.paced_rate
    name = f"resp paced {lanes}@{rate:g}/s"
    tags = [f"p{lanes}w{i}" for i in range(lanes)]
    base = await paced_loop(
        upstream.port, [upstream_request(model, t) for t in tags], rate, True, args
    )
    baseline = ms([e.first_delta - e.sent for e in base.exchanges if e.first_delta])
    requests = [response_request(api, model, t) for t in tags]
    pace = await paced_loop(api.port, requests, rate, False, args, meter, ResponseSseClient)
    report_added(report, name, baseline, pace.exchanges, args.tokens)
    report.add(name, "sends late (a lane's response still going)", str(pace.late))
    cpu = pace.cpu
    assert cpu is not None
    done = sum(1 for e in pace.exchanges if e.completed)
    report.add(name, "server CPU ms per completed response", cpu_per_run(cpu, done))
    cpu.scenario = name
    report.cpu.append(cpu)
    print(f"  {report.backend:8} {name:14} done", file=sys.stderr, flush=True)


async def scenario_concurrent(
    api: Api, upstream: Upstream, meter: Meter, args: argparse.Namespace, report: Report
) -> None:
    name = f"resp concurrent {args.runs}"
    pid = meter.server.pid
    model = f"fast-{args.concurrent_tokens}x{args.concurrent_delay_ms:g}"
    warm = [ResponseSseClient(api.port) for _ in range(8)]
    await asyncio.gather(
        *(c.exchange(response_request(api, model, "cw"), False, STREAM_TIMEOUT) for c in warm)
    )
    for client in warm:
        client.close()
    clients = [ResponseSseClient(api.port) for _ in range(args.runs)]
    opening = asyncio.Semaphore(128)

    async def open_one(client: SseClient) -> None:
        async with opening:
            await client._open_or_none()

    fds_idle = open_fds(pid)
    await asyncio.gather(*(open_one(c) for c in clients))
    unopened = sum(1 for c in clients if c.writer is None)
    deadline = time.monotonic() + 10  # fired once the server has accepted them all
    while open_fds(pid) < fds_idle + args.runs - unopened and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    requests = [response_request(api, model, f"c{i}") for i in range(args.runs)]
    await upstream.stats()  # clear
    rss_before = status_value(pid, "VmRSS")
    meter.start()
    started = CLOCK()
    try:
        streamed = await asyncio.gather(
            *(
                c.exchange(r, False, args.concurrent_timeout)
                for c, r in zip(clients, requests, strict=True)
            )
        )
    finally:
        wall = (CLOCK() - started) / 1e9
        cpu = meter.stop(name)
        for client in clients:
            client.close()
    hwm = status_value(pid, "VmHWM")
    stats = await upstream.stats()
    completed = sum(1 for e in streamed if e.completed)
    problems = Counter(filter(None, (check_response(e, args.concurrent_tokens) for e in streamed)))
    first_event = ms([e.first_event - e.sent for e in streamed if e.first_event])
    first_delta = ms([e.first_delta - e.sent for e in streamed if e.first_delta])
    total = ms([e.completed - e.sent for e in streamed if e.completed])
    report.add(name, "responses completed", str(completed), str(args.runs), completed == args.runs)
    p99 = percentile(first_event, 99)
    report.add(
        name, "time to 1st event p50 / p99 ms", pair(first_event, 1), "p99 < 1000", p99 < 1e3
    )
    report.add(name, "time to 1st delta p50 / p99 ms", pair(first_delta, 1))
    report.add(name, "response duration p50 / p99 ms", pair(total, 0))
    report.add(name, "wall time, all responses (s)", f"{wall:.2f}")
    report.add(name, "server CPU ms per completed response", cpu_per_run(cpu, completed))
    report.add(name, "upstream: peak concurrent streams", str(stats["peak"]))
    report.add(name, "server RSS before MiB", f"{rss_before / 2**20:.0f}")
    report.add(name, "server peak RSS (VmHWM) MiB", f"{hwm / 2**20:.0f}", "< 1024", hwm < GIB)
    report.add_errors(name, problems, unopened)
    report.cpu.append(cpu)
    print(f"  {report.backend:8} {name:14} done", file=sys.stderr, flush=True)


async def scenario_chain(
    api: Api, upstream: Upstream, meter: Meter, args: argparse.Namespace, report: Report
) -> None:
    name = f"resp chain {args.turns}"
    model = f"fast-{args.tokens}x0"
    client = ResponseSseClient(api.port)
    turns: list[Exchange] = []
    to_upstream: list[int] = []
    previous: str | None = None
    await upstream.stats()  # clear
    try:
        for turn in range(args.turns):
            exchange = await client.exchange(
                response_request(api, model, f"chain{turn}", previous), False, STREAM_TIMEOUT
            )
            problem = check_response(exchange, args.tokens)
            if problem:
                report.problems.append(f"{name}: turn {turn + 1}: {problem}")
                break
            [(_, received, _, _)] = (await upstream.stats())["records"]
            to_upstream.append(received - exchange.sent)
            turns.append(exchange)
            assert isinstance(exchange, ResponseExchange)
            previous = exchange.response_id
    finally:
        client.close()
    if len(turns) < 20:
        return
    ttfd = [e.first_delta - e.sent for e in turns]

    def at(values: list[int], index: int) -> str:
        return f"{values[index] / 1e6:.2f}"

    def median(values: list[int]) -> str:
        return f"{percentile(ms(values), 50):.2f}"

    last = len(turns)
    report.add(name, "turns completed", str(last), str(args.turns), last == args.turns)
    report.add(
        name,
        f"sent → upstream has request, turn 1 / {last} ms",
        f"{at(to_upstream, 0)} / {at(to_upstream, -1)}",
    )
    report.add(
        name,
        "  same, median of turns 2-11 / last 10 ms",
        f"{median(to_upstream[1:11])} / {median(to_upstream[-10:])}",
    )
    report.add(name, f"TTFD, turn 1 / {last} ms", f"{at(ttfd, 0)} / {at(ttfd, -1)}")
    report.add(
        name,
        "  same, median of turns 2-11 / last 10 ms",
        f"{median(ttfd[1:11])} / {median(ttfd[-10:])}",
    )
    print(f"  {report.backend:8} {name:14} done", file=sys.stderr, flush=True)


SCENARIOS: dict[str, Scenario] = {
    "ttfd": scenario_ttfd,
    "paced": scenario_paced,
    "chain": scenario_chain,
    "concurrent": scenario_concurrent,  # last: its peak RSS is the process's
}


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--turns", type=int, default=100, help="chain: turns")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, SCENARIOS, _options, __doc__.split("\n", 1)[0])
    raise_fd_limit()
    reports = [bench_backend(backend, args, SCENARIOS) for backend in args.backends]
    print_report(reports, args, "Responses")
    return 0


if __name__ == "__main__":
    sys.exit(main())
