"""What Anthropic's Messages API costs in front of an OpenAI-compatible upstream:
``POST /v1/messages`` through a real ``threadline serve`` (translated to Chat Completions and
back), against the same fast upstream's ``/v1/chat/completions`` called directly, in the same
run; ``/v1/chat/completions`` through Threadline (the pass-through) is measured alongside, so
that the translation's own share shows.

What it prints: p50 and p99 of the whole response (non-streaming) and of the time to the first
body chunk (streaming: ``message_start`` for Messages, the role chunk for chat), at each
concurrency (closed loop, one keep-alive connection per worker), for the three columns, and
what each Threadline column adds to the direct one. The upstream answers in ``--answer-ms``
(10 tokens), as in ``gateway_bench.py``, whose harness (HTTP client, load loop, fast upstream,
server) this reuses.

Run:  .venv/bin/python bench/messages_bench.py [--seconds 4] [--answer-ms 50] [--concurrency 1,64]
The machine is shared: compare the columns of one run, not runs.
"""

from __future__ import annotations

import argparse
import asyncio

import orjson

from gateway_bench import HOST, Client, fast_upstream, load, threadline


class MessagesClient(Client):
    """The gateway bench's client, sending Anthropic Messages requests (key in x-api-key)."""

    def request(self, model: str, stream: bool) -> bytes:
        body: dict[str, object] = {
            "model": model,
            "max_tokens": 256,
            "messages": [{"role": "user", "content": "bench hello"}],
        }
        if stream:
            body["stream"] = True
        payload = orjson.dumps(body)
        head = (
            f"POST /v1/messages HTTP/1.1\r\nHost: {HOST}\r\n"
            f"x-api-key: {self.key}\r\nanthropic-version: 2023-06-01\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        return head.encode() + payload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--answer-ms", type=int, default=50)
    parser.add_argument("--concurrency", default="1,64")
    args = parser.parse_args()
    model = f"fast-10x{args.answer_ms / 10:g}"
    with fast_upstream() as upstream, threadline(upstream) as gateway:
        columns = {
            "direct": (upstream, "/v1", "x", Client),
            "chat": (gateway.port, "/v1", gateway.key, Client),
            "messages": (gateway.port, "", gateway.key, MessagesClient),
        }
        print(f"Latency, upstream answering in {args.answer_ms} ms (model {model}), ms")
        print(
            f"{'c':>3} {'kind':10} "
            + " ".join(f"{name + ' p50':>13} {name + ' p99':>13}" for name in columns)
            + "   "
            + " ".join(f"{'+' + name + ' p50':>14}" for name in list(columns)[1:])
        )
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            for stream, kind in ((False, "response"), (True, "first byte")):
                row = {}
                for name, (at, prefix, secret, client) in columns.items():
                    result = asyncio.run(
                        load(at, prefix, secret, model, stream, concurrency, args.seconds, client)
                    )
                    values = result.firsts if stream else result.totals
                    if result.errors:
                        print(f"  {name}: {result.errors} errors")
                    row[name] = (result.pct(values, 0.5), result.pct(values, 0.99))
                direct = row["direct"][0]
                cells = " ".join(f"{p50:13.2f} {p99:13.2f}" for p50, p99 in row.values())
                added = " ".join(f"{row[name][0] - direct:14.2f}" for name in list(row)[1:])
                print(f"{concurrency:>3} {kind:10} {cells}   {added}")


if __name__ == "__main__":
    main()
