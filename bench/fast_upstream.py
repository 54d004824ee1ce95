"""A fast OpenAI-compatible streaming upstream for benchmarks: raw asyncio (uvloop if installed).

    python bench/fast_upstream.py --port PORT [--chunks 20] [--delay-ms 0]

``POST /v1/chat/completions`` without ``"stream": true`` answers one ``chat.completion`` object
(with usage), after as long as its stream would take; with it it answers, as OpenAI does, with SSE
``chat.completion.chunk`` objects over ``transfer-encoding: chunked``: a role chunk, N content
chunks (one token each), a ``finish_reason`` chunk, a usage chunk (``choices: []``) when
``stream_options.include_usage`` is set, then ``data: [DONE]``. With a 0 ms delay the whole answer
is one write; otherwise each content chunk waits ``delay`` after the previous one.

The shape can be chosen per request through the model name: ``fast-<chunks>x<delay_ms>`` (e.g.
``fast-50x20``); any other name gets the command-line defaults. Nothing is validated (no API key
check): it is for loopback benchmarks only, and listens on 127.0.0.1.

For each request it records, on ``time.monotonic_ns()`` (one clock for every process on the
machine): when its body was complete, when the first content chunk was written, when the last
byte was written, and a tag (the first user message's first word) so that a client can match
requests to its own. ``GET /_stats`` returns those records as JSON and clears them, with the peak
number of concurrent streams; ``GET /_health`` answers 200. The process exits when its parent
does.

It is also an OpenTelemetry collector that discards what it is sent (for ``gateway_bench.py
--tracing``): ``POST /v1/traces`` (OTLP/HTTP, protobuf) answers 200 and counts the spans by
service name, which ``/_stats`` reports as ``spans`` (never cleared).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import time
from dataclasses import dataclass, field
from typing import Any, cast

import orjson

HOST = "127.0.0.1"
_MODEL = re.compile(rb"^fast-(\d+)x(\d+(?:\.\d+)?)$")
_HEAD_END = b"\r\n\r\n"
_MAX_HEAD = 64 * 1024
_MAX_BODY = 64 * 1024 * 1024
_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"content-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache\r\n"
    b"x-request-id: req_bench\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)
_LAST_CHUNK = b"0\r\n\r\n"


def _chunked(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


def _sse(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


@dataclass(frozen=True)
class Script:
    """The pre-encoded answer to one request shape: every frame already chunk-encoded."""

    head: bytes  # status line and headers, and the role chunk
    tokens: list[bytes]  # one chunk-encoded frame per content token
    tail: bytes  # finish_reason chunk, usage chunk, [DONE], the last (empty) chunk
    delay: float


def build_script(model: str, chunks: int, delay: float, include_usage: bool) -> Script:
    envelope = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        body: dict[str, Any] = {**envelope, "choices": [choice]}
        if include_usage:
            body["usage"] = None
        return body

    role = _chunked(_sse(chunk({"role": "assistant", "content": ""})))
    tokens = [_chunked(_sse(chunk({"content": f" tok{i}"}))) for i in range(chunks)]
    tail = _sse(chunk({}, "stop"))
    if include_usage:
        usage = {"prompt_tokens": 10, "completion_tokens": chunks, "total_tokens": 10 + chunks}
        tail += _sse({**envelope, "choices": [], "usage": usage})
    tail += b"data: [DONE]\n\n"
    return Script(_SSE_HEAD + role, tokens, _chunked(tail) + _LAST_CHUNK, delay)


def completion_body(model: str, tokens: int) -> bytes:
    message = {"role": "assistant", "content": "".join(f" tok{i}" for i in range(tokens))}
    return orjson.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
            ],
            "usage": {
                "prompt_tokens": 10,
                "completion_tokens": tokens,
                "total_tokens": 10 + tokens,
            },
        }
    )


@dataclass
class Stats:
    records: list[tuple[str, int, int, int]] = field(default_factory=list)
    active: int = 0
    peak: int = 0
    connections: int = 0
    requests: int = 0
    spans: dict[str, int] = field(default_factory=dict)  # received on /v1/traces, by service

    def take(self) -> bytes:
        body = orjson.dumps(
            {
                "records": self.records,
                "active": self.active,
                "peak": self.peak,
                "connections": self.connections,
                "requests": self.requests,
                "spans": self.spans,
            }
        )
        self.records = []
        self.peak = self.active
        return body


class Upstream:
    def __init__(self, chunks: int, delay: float) -> None:
        self.chunks = chunks
        self.delay = delay
        self.stats = Stats()
        self._scripts: dict[tuple[bytes, bool], Script] = {}
        self.completions: dict[str, bytes] = {}

    def script(self, model: bytes, include_usage: bool) -> Script:
        key = (model, include_usage)
        found = self._scripts.get(key)
        if found is None:
            match = _MODEL.match(model)
            chunks, delay = self.chunks, self.delay
            if match:
                chunks, delay = int(match[1]), float(match[2]) / 1000
            found = build_script(model.decode(errors="replace"), chunks, delay, include_usage)
            self._scripts[key] = found
        return found


def _json_response(status: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


_TRACES_ACCEPTED = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n"
)


def _count_spans(body: bytes, counts: dict[str, int]) -> None:
    """Adds the spans of an OTLP/HTTP export (protobuf) to ``counts``, by service name."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    for resource_spans in request.resource_spans:
        service = next(
            (
                attribute.value.string_value
                for attribute in resource_spans.resource.attributes
                if attribute.key == "service.name"
            ),
            "",
        )
        spans = sum(len(scope.spans) for scope in resource_spans.scope_spans)
        counts[service] = counts.get(service, 0) + spans


def _tag(body: dict[str, Any]) -> str:
    for message in body.get("messages") or ():
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):  # content parts
                content = next((p.get("text") for p in content if isinstance(p, dict)), "")
            return str(content or "").split(" ", 1)[0]
    return ""


class Protocol(asyncio.Protocol):
    """One client connection: HTTP/1.1 keep-alive, one request at a time (no pipelining)."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.busy = False  # a response is being streamed
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.upstream.stats.connections += 1
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.upstream.stats.connections -= 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self._next_request()

    def _fail(self, status: str, message: str) -> None:
        assert self.transport is not None
        body = orjson.dumps({"error": {"message": message, "type": "invalid_request_error"}})
        self.transport.write(_json_response(status, body))
        self.transport.close()

    def _next_request(self) -> None:
        """Parses one complete request from the buffer, if there is one, and answers it."""
        end = self.buffer.find(_HEAD_END)
        if end < 0:
            if len(self.buffer) > _MAX_HEAD:
                self._fail("431 Request Header Fields Too Large", "head too large")
            return
        head = bytes(self.buffer[:end])
        match = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.IGNORECASE)
        length = int(match[1]) if match else 0
        if length > _MAX_BODY:
            self._fail("413 Payload Too Large", "body too large")
            return
        if len(self.buffer) < end + 4 + length:
            return
        body = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        received = time.monotonic_ns()
        line = head.split(b"\r\n", 1)[0].split(b" ")
        method, path = [*line, b"", b""][:2]
        self._answer(method, path, body, received)

    def _answer(self, method: bytes, path: bytes, body: bytes, received: int) -> None:
        assert self.transport is not None
        if method == b"GET" and path == b"/_stats":
            self.transport.write(_json_response("200 OK", self.upstream.stats.take()))
        elif method == b"GET" and path == b"/_health":
            self.transport.write(_json_response("200 OK", b"{}"))
        elif method == b"POST" and path.split(b"?", 1)[0] == b"/v1/chat/completions":
            self._chat(body, received)
            return
        elif method == b"POST" and path == b"/v1/traces":
            _count_spans(body, self.upstream.stats.spans)
            self.transport.write(_TRACES_ACCEPTED)
        else:
            self.transport.write(_json_response("404 Not Found", b'{"error":"not found"}'))
        self._after_response()

    def _after_response(self) -> None:
        self.busy = False
        if self.buffer and not self.closed:
            self._next_request()

    def _chat(self, raw: bytes, received: int) -> None:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            self._fail("400 Bad Request", "the body must be a JSON object")
            return
        if not body.get("stream"):
            model = str(body.get("model") or "")
            script = self.upstream.script(model.encode(), False)
            delay = script.delay * len(script.tokens)  # as long as its stream would take
            if delay <= 0:
                self._complete(model, _tag(body), received)
            else:
                self.busy = True
                loop = asyncio.get_running_loop()
                loop.call_later(delay, self._complete, model, _tag(body), received)
            return
        options = body.get("stream_options") or {}
        script = self.upstream.script(
            str(body.get("model") or "").encode(), bool(options.get("include_usage"))
        )
        tag = _tag(body)
        stats = self.upstream.stats
        stats.requests += 1
        if script.delay <= 0 or not script.tokens:
            assert self.transport is not None
            self.transport.write(script.head + b"".join(script.tokens) + script.tail)
            now = time.monotonic_ns()
            stats.records.append((tag, received, now, now))
            self._after_response()
            return
        self.busy = True
        stats.active += 1
        stats.peak = max(stats.peak, stats.active)
        asyncio.get_running_loop().create_task(self._stream(script, tag, received))

    def _complete(self, model: str, tag: str, received: int) -> None:
        """A non-streaming answer: one chat.completion object with usage."""
        if self.closed or self.transport is None:
            return
        answer = self.upstream.completions.get(model)
        if answer is None:
            tokens = len(self.upstream.script(model.encode(), False).tokens)
            answer = _json_response("200 OK", completion_body(model, tokens))
            self.upstream.completions[model] = answer
        self.upstream.stats.requests += 1
        self.transport.write(answer)
        now = time.monotonic_ns()
        self.upstream.stats.records.append((tag, received, now, now))
        self._after_response()

    async def _stream(self, script: Script, tag: str, received: int) -> None:
        assert self.transport is not None
        stats = self.upstream.stats
        try:
            self.transport.write(script.head + script.tokens[0])
            first = time.monotonic_ns()
            for token in script.tokens[1:]:
                await asyncio.sleep(script.delay)
                if self.closed:
                    return
                self.transport.write(token)
            await asyncio.sleep(script.delay)
            if self.closed:
                return
            self.transport.write(script.tail)
            stats.records.append((tag, received, first, time.monotonic_ns()))
        finally:
            stats.active -= 1
        self._after_response()


async def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        await asyncio.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


async def serve(port: int, chunks: int, delay: float) -> None:
    loop = asyncio.get_running_loop()
    upstream = Upstream(chunks, delay)
    server = await loop.create_server(
        lambda: Protocol(upstream), HOST, port, backlog=4096, reuse_address=True
    )
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    watcher = loop.create_task(_watch_parent(os.getppid()))
    print(f"fast upstream on http://{HOST}:{port}/v1", flush=True)
    try:
        await stop.wait()
    finally:
        watcher.cancel()
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per answer")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="delay between chunks")
    args = parser.parse_args()
    coroutine = serve(args.port, args.chunks, args.delay_ms / 1000)
    try:
        import uvloop
    except ImportError:
        asyncio.run(coroutine)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(coroutine)


if __name__ == "__main__":
    main()
