"""A scripted OpenAI Chat Completions upstream: a real HTTP server whose answers a test decides.

Threadline's run engine talks to its model through ``POST {base_url}/chat/completions``. Tests point
it at this server instead of a real provider and script, reply by reply, what "the model" says::

    with scripted_upstream() as upstream:
        upstream.script(
            ToolCalls([("get_weather", '{"city": "Paris"}')]),  # the 1st request gets this,
            Text(["It is ", "sunny."]),                          # the 2nd this,
        )                                                        # later ones upstream.default(...)
        ...  # run Threadline with base_url=upstream.base_url, api_key=upstream.api_key
        assert upstream.requests[1]["messages"][-1]["role"] == "tool"

Each chat-completions request pops one reply from the queue (or gets the default reply when the
queue is empty) and is answered exactly as OpenAI would: an SSE stream of ``chat.completion.chunk``
objects when the body says ``"stream": true`` (with a final usage chunk when it asks for
``stream_options.include_usage``), else one ``chat.completion`` object. ``Fail`` answers with an
HTTP error, ``Broken`` breaks a stream part-way, ``Slow`` delays any reply, and ``Gated`` holds a
stream part-way until the test lets it go on. ``/v1/embeddings`` answers deterministic vectors;
``hold_embeddings`` holds those with a given word (ingestion stopped part-way).

The server is Starlette under uvicorn in a daemon thread of the test process, on 127.0.0.1. Every
request to ``/v1/chat/completions`` or ``/v1/embeddings`` (authorised or not) is recorded in
``upstream.requests``.

For a server shared by a whole session, register this module as a plugin in the root conftest
(``pytest_plugins = ["tests.upstream"]``) and take the ``upstream`` fixture: it resets the
session's server (``upstream_server``) before each test.
"""

import asyncio
import hashlib
import json
import secrets
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.servers import free_port

DEFAULT_API_KEY = "sk-upstream-test"
DEFAULT_MODEL = "gpt-test"
BROKEN_MODES = ("eof", "garbage", "error_chunk", "reset")


# --- replies ---------------------------------------------------------------------------------


@dataclass
class Text:
    """A streamed assistant text reply; each chunk is one SSE chunk with ``delta.content``."""

    chunks: list[str]
    finish_reason: str = "stop"
    usage: tuple[int, int] | None = (10, 5)  # (prompt_tokens, completion_tokens); None: no usage
    # Reasoning chunks streamed before the text, as ``delta.reasoning_content`` (vLLM, DeepSeek).
    reasoning: list[str] = field(default_factory=list)


@dataclass
class ToolCalls:
    """The model calls functions (several in parallel), optionally after some text."""

    calls: list[tuple[str, str]]  # (function name, arguments JSON string); ids are "call_<n>"
    text: list[str] = field(default_factory=list)  # text chunks streamed before the calls
    split: int = 3  # each call's arguments are streamed in this many fragments
    usage: tuple[int, int] | None = (10, 5)
    reasoning: list[str] = field(default_factory=list)  # as Text's, before the text and calls


@dataclass
class Fail:
    """An HTTP error instead of a completion."""

    status: int
    body: dict | None = None  # None: an OpenAI error body {"error": {message, type, param, code}}
    headers: dict[str, str] = field(default_factory=dict)  # e.g. {"retry-after": "1"}


@dataclass
class Broken:
    """A stream that goes wrong after some good text chunks.

    ``eof``: the body ends cleanly but without a finish_reason or ``[DONE]``; ``garbage``: a
    non-JSON ``data:`` line, then the end; ``error_chunk``: an in-band ``{"error": {...}}`` chunk,
    then the end; ``reset``: the TCP connection is aborted (RST) mid-body.
    """

    chunks: list[str]
    mode: str = "eof"

    def __post_init__(self) -> None:
        if self.mode not in BROKEN_MODES:
            raise ValueError(f"Broken mode must be one of {BROKEN_MODES}, not {self.mode!r}")


@dataclass
class Slow:
    """Any reply, delayed: nothing at all is sent for ``first_byte_delay`` seconds (not even the
    status line), and a stream waits ``chunk_delay`` seconds between consecutive chunks."""

    reply: "Reply"
    first_byte_delay: float = 0.0
    chunk_delay: float = 0.0


@dataclass
class Gated:
    """A streamed text reply that sends its first ``after`` chunks, then waits until the test
    opens ``gate`` before it sends the rest: a test acts at a known point of the answer."""

    reply: Text
    after: int
    gate: threading.Event = field(default_factory=threading.Event)


Reply = Text | ToolCalls | Fail | Broken | Slow | Gated


@dataclass
class EmbeddingsHold:
    """``ScriptedUpstream.hold_embeddings``: embeddings requests with an input containing
    ``containing`` wait until ``gate`` is set; ``held`` counts them."""

    containing: str
    gate: threading.Event = field(default_factory=threading.Event)
    held: int = 0


Answer = Text | ToolCalls | Broken  # a reply that produces a completion (possibly a broken one)


def _unwrap(reply: Reply) -> tuple[Text | ToolCalls | Fail | Broken, float, float]:
    """The reply under any ``Slow`` wrappers, with their delays added up."""
    first_byte_delay = chunk_delay = 0.0
    while isinstance(reply, Slow):
        first_byte_delay += reply.first_byte_delay
        chunk_delay += reply.chunk_delay
        reply = reply.reply
    return reply, first_byte_delay, chunk_delay


# --- the OpenAI wire format (pure functions) -------------------------------------------------


@dataclass
class _Completion:
    """What one answer shares across its chunks."""

    model: str
    include_usage: bool
    call_ids: list[str]
    id: str = field(default_factory=lambda: f"chatcmpl-{secrets.token_hex(12)}")
    created: int = field(default_factory=lambda: int(time.time()))

    def envelope(self, obj: str) -> dict[str, Any]:
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model}

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
        chunk = {**self.envelope("chat.completion.chunk"), "choices": [choice]}
        if self.include_usage:
            chunk["usage"] = None  # as OpenAI: every chunk but the last has "usage": null
        return chunk

    def usage_chunk(self, usage: tuple[int, int]) -> dict[str, Any]:
        return {**self.envelope("chat.completion.chunk"), "choices": [], "usage": _usage(usage)}


def _usage(usage: tuple[int, int]) -> dict[str, int]:
    prompt, completion = usage
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _fragments(text: str, parts: int) -> list[str]:
    """``text`` cut into ``parts`` non-empty pieces of near-equal length (fewer if it is short)."""
    parts = max(1, min(parts, len(text)))
    size, extra = divmod(len(text), parts)
    pieces, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        pieces.append(text[start:end])
        start = end
    return [piece for piece in pieces if piece]


def _text_of(reply: Answer) -> list[str]:
    return reply.text if isinstance(reply, ToolCalls) else reply.chunks


def _tool_call_deltas(reply: ToolCalls, call_ids: list[str]) -> list[dict[str, Any]]:
    """As OpenAI streams them: per call, a header (id, type, name, arguments "") then fragments."""
    deltas: list[dict[str, Any]] = []
    for index, ((name, arguments), call_id) in enumerate(zip(reply.calls, call_ids, strict=True)):
        function = {"name": name, "arguments": ""}
        header = {"index": index, "id": call_id, "type": "function", "function": function}
        deltas.append({"tool_calls": [header]})
        for fragment in _fragments(arguments, reply.split):
            piece = {"index": index, "function": {"arguments": fragment}}
            deltas.append({"tool_calls": [piece]})
    return deltas


def _broken_tail(mode: str) -> list[str]:
    if mode == "garbage":
        return ["this is not JSON {"]
    if mode == "error_chunk":
        return [_dumps(_error_body(500, "The upstream failed mid-stream (scripted)."))]
    return []  # "eof" and "reset" send nothing more


def stream_payloads(reply: Answer, completion: _Completion) -> list[str]:
    """The ``data:`` payloads of a streamed answer, in order (``[DONE]`` included if due)."""
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    if not isinstance(reply, Broken):
        deltas += [{"reasoning_content": chunk} for chunk in reply.reasoning]
    deltas += [{"content": chunk} for chunk in _text_of(reply)]
    if isinstance(reply, ToolCalls):
        deltas += _tool_call_deltas(reply, completion.call_ids)
    payloads = [_dumps(completion.chunk(delta)) for delta in deltas]
    if isinstance(reply, Broken):
        return payloads + _broken_tail(reply.mode)
    finish_reason = "tool_calls" if isinstance(reply, ToolCalls) else reply.finish_reason
    payloads.append(_dumps(completion.chunk({}, finish_reason)))
    if completion.include_usage and reply.usage is not None:
        payloads.append(_dumps(completion.usage_chunk(reply.usage)))
    return [*payloads, "[DONE]"]


def completion_body(reply: Text | ToolCalls, completion: _Completion) -> dict[str, Any]:
    """The non-streaming ``chat.completion`` object for a reply."""
    text = "".join(_text_of(reply))
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    finish_reason = "tool_calls" if isinstance(reply, ToolCalls) else reply.finish_reason
    if isinstance(reply, ToolCalls):
        message["content"] = text or None
        message["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}
            for (name, args), call_id in zip(reply.calls, completion.call_ids, strict=True)
        ]
    choice = {"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}
    usage = _usage(reply.usage) if reply.usage is not None else None
    return {**completion.envelope("chat.completion"), "choices": [choice], "usage": usage}


def _error_body(status: int, message: str) -> dict[str, Any]:
    """An OpenAI-shaped error body, with the type and code OpenAI uses for the status."""
    kind, code = "invalid_request_error", None
    if status == 401:
        code = "invalid_api_key"
    elif status == 429:
        kind, code = "requests", "rate_limit_exceeded"
    elif status >= 500:
        kind = "server_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _dumps(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _sse(payload: str) -> bytes:
    return f"data: {payload}\n\n".encode()


def _error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(_error_body(status, message), status_code=status, headers=headers)


EMBEDDING_DIMENSIONS = 64


def bag_of_words_vector(text: str) -> list[float]:
    vector = [0.0] * EMBEDDING_DIMENSIONS
    for word in text.lower().split():
        digest = hashlib.md5(word.strip(".,;:!?()\"'").encode()).digest()
        vector[digest[0] % EMBEDDING_DIMENSIONS] += 1.0
    norm = sum(v * v for v in vector) ** 0.5 or 1.0
    return [v / norm for v in vector]


# --- the server ------------------------------------------------------------------------------


class ScriptedUpstream:
    """The scripted upstream, serving from construction until ``close()``."""

    def __init__(self, api_key: str = DEFAULT_API_KEY) -> None:
        self.api_key = api_key
        self._lock = threading.Condition()
        self._queue: deque[Reply] = deque()
        self._default: Reply | None = None
        self._requests: list[dict[str, Any]] = []
        self._calls_made = 0
        self._embedding_failures: deque[int] = deque()
        self._embeddings_hold: EmbeddingsHold | None = None
        self._closed = threading.Event()
        self.reset()
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self._server = uvicorn.Server(self._config(port))
        self._thread = threading.Thread(target=self._server.run, name="upstream", daemon=True)
        self._thread.start()
        self._wait_started()

    # scripting, from the test's thread

    def script(self, *replies: Reply) -> None:
        """Queue replies; each chat-completions request takes the next one."""
        with self._lock:
            self._queue.extend(replies)

    def default(self, reply: Reply | None) -> None:
        """The reply for requests that find the queue empty; None makes them fail with a 500."""
        with self._lock:
            self._default = reply

    def reset(self) -> None:
        """Back to the initial state: empty queue, no recorded requests, the initial default."""
        with self._lock:
            self._queue.clear()
            self._requests.clear()
            self._default = Text(["Hello", " world"])
            self._calls_made = 0
            self._embedding_failures.clear()
            if self._embeddings_hold is not None:
                self._embeddings_hold.gate.set()  # nothing stays held into the next test
            self._embeddings_hold = None

    @property
    def requests(self) -> list[dict[str, Any]]:
        """A snapshot of the chat-completions request bodies received so far, oldest first, each
        with its path under ``"_path"`` and its headers (lowercased names) under ``"_headers"``."""
        with self._lock:
            return list(self._requests)

    @property
    def pending(self) -> int:
        """How many scripted replies no request has taken yet."""
        with self._lock:
            return len(self._queue)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Block until at least ``count`` requests were received; return them all."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._requests) >= count, timeout):
                raise TimeoutError(f"{len(self._requests)} upstream requests, not {count}")
            return list(self._requests)

    # lifecycle

    def close(self) -> None:
        """Stop serving: in-flight delays and streams end at once; the thread is joined."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._server.should_exit = True
        self._thread.join(timeout=5)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout=2)

    def __enter__(self) -> "ScriptedUpstream":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _config(self, port: int) -> uvicorn.Config:
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat_completions, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/v1/embeddings", self._embeddings, methods=["POST"]),
            ]
        )
        # Pure-Python protocol and loop: behaviour does not depend on optional accelerators.
        return uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            loop="asyncio",
            http="h11",
            ws="none",
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
        )

    def _wait_started(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("the scripted upstream did not start")
            time.sleep(0.01)

    # serving, in the server's thread

    async def _models(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized(request)
        model = {"id": DEFAULT_MODEL, "object": "model", "created": 0, "owned_by": "threadline"}
        return JSONResponse({"object": "list", "data": [model]})

    def fail_embeddings(self, status: int, times: int = 1) -> None:
        """The next ``times`` embeddings requests fail with ``status``."""
        with self._lock:
            self._embedding_failures.extend([status] * times)

    def hold_embeddings(self, containing: str) -> "EmbeddingsHold":
        """Hold every embeddings request any of whose inputs contains ``containing`` until the
        test sets the hold's ``gate`` (``reset`` and ``close`` let them go too); others are
        answered. A file whose later part holds the word is stopped part-way through its
        ingestion, at a known batch, however the files of a batch are scheduled."""
        hold = EmbeddingsHold(containing)
        with self._lock:
            self._embeddings_hold = hold
        return hold

    async def _wait_if_held(self, inputs: list[str]) -> None:
        with self._lock:
            hold = self._embeddings_hold
            if hold is None or not any(hold.containing in text for text in inputs):
                return
            hold.held += 1
            self._lock.notify_all()
        while not hold.gate.is_set() and not self._closed.is_set():
            await asyncio.sleep(0.02)

    def wait_for_held_embeddings(self, count: int = 1, timeout: float = 10.0) -> None:
        """Block until ``count`` embeddings requests were held."""
        with self._lock:
            if not self._lock.wait_for(
                lambda: self._embeddings_hold is not None and self._embeddings_hold.held >= count,
                timeout,
            ):
                raise TimeoutError(f"fewer than {count} embeddings requests were held")

    async def _embeddings(self, request: Request) -> Response:
        """Deterministic embeddings: a hashed bag of the input's words (EMBEDDING_DIMENSIONS
        floats), so texts sharing words are similar, as with a real model."""
        body = await self._record(request)
        if not self._authorized(request):
            return self._unauthorized(request)
        with self._lock:
            failure = self._embedding_failures.popleft() if self._embedding_failures else None
        if failure is not None:
            return _error_response(failure, f"Scripted embeddings failure {failure}.")
        inputs = (body or {}).get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
            return _error_response(400, "input must be a string or a list of strings.")
        await self._wait_if_held(inputs)
        data = [
            {"object": "embedding", "index": i, "embedding": bag_of_words_vector(text)}
            for i, text in enumerate(inputs)
        ]
        tokens = sum(len(text.split()) for text in inputs)
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": str((body or {}).get("model") or "text-embedding-test"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def _chat_completions(self, request: Request) -> Response:
        body = await self._record(request)
        if not self._authorized(request):
            return self._unauthorized(request)
        if body is None:
            return _error_response(400, "The request body is not a JSON object.")
        reply = self._next_reply()
        gated = reply if isinstance(reply, Gated) else None
        if gated is not None:
            reply = gated.reply
        reply, first_byte_delay, chunk_delay = _unwrap(reply)
        await self._sleep(first_byte_delay)
        if isinstance(reply, Fail):
            return self._fail(reply)
        completion = self._completion(reply, body)
        if body.get("stream"):
            client = request.scope.get("client")
            return self._stream(reply, completion, chunk_delay, client, gated)
        return await self._complete(reply, completion, request.scope.get("client"))

    async def _record(self, request: Request) -> dict[str, Any] | None:
        """Record the request; return its body if it is a JSON object."""
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = None
        entry = {**(body or {"_raw": raw.decode(errors="replace")})}
        entry["_path"] = request.url.path
        entry["_headers"] = dict(request.headers)
        with self._lock:
            self._requests.append(entry)
            self._lock.notify_all()
        return body

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.api_key}"

    def _unauthorized(self, request: Request) -> Response:
        sent = request.headers.get("authorization", "").removeprefix("Bearer ")
        if not sent:
            return _error_response(401, "You didn't provide an API key.")
        return _error_response(401, f"Incorrect API key provided: {sent[:8]}...")

    def _next_reply(self) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            if self._default is not None:
                return self._default
        return Fail(500, _error_body(500, "ScriptedUpstream: no reply scripted and no default."))

    def _completion(self, reply: Answer, body: dict[str, Any]) -> _Completion:
        calls = len(reply.calls) if isinstance(reply, ToolCalls) else 0
        with self._lock:
            first = self._calls_made + 1
            self._calls_made += calls
        stream_options = body.get("stream_options") or {}
        return _Completion(
            model=str(body.get("model") or DEFAULT_MODEL),
            include_usage=bool(stream_options.get("include_usage")),
            call_ids=[f"call_{n}" for n in range(first, first + calls)],
        )

    @staticmethod
    def _fail(reply: Fail) -> Response:
        body = reply.body
        if body is None:
            body = _error_body(reply.status, f"Scripted upstream error {reply.status}.")
        return JSONResponse(
            body, status_code=reply.status, headers=_response_headers(reply.headers)
        )

    async def _complete(self, reply: Answer, completion: _Completion, client: Any) -> Response:
        """A non-streaming answer; a Broken one gives a body the client cannot use."""
        if not isinstance(reply, Broken):
            return JSONResponse(completion_body(reply, completion), headers=_response_headers())
        if reply.mode == "reset":
            await self._reset_connection(client)
        text = Text(reply.chunks, usage=None)
        bodies = {
            "eof": _dumps(completion_body(text, completion))[:20],
            "garbage": "this is not JSON {",
            "error_chunk": _dumps(_error_body(500, "The upstream failed (scripted).")),
        }
        content = bodies.get(reply.mode, "")
        return Response(content, media_type="application/json", headers=_response_headers())

    def _stream(
        self,
        reply: Answer,
        completion: _Completion,
        chunk_delay: float,
        client: Any,
        gated: Gated | None = None,
    ) -> Response:
        return StreamingResponse(
            self._frames(reply, completion, chunk_delay, client, gated),
            media_type="text/event-stream",
            headers=_response_headers({"cache-control": "no-cache"}),
        )

    async def _frames(
        self,
        reply: Answer,
        completion: _Completion,
        chunk_delay: float,
        client: Any,
        gated: Gated | None = None,
    ) -> AsyncIterator[bytes]:
        for index, payload in enumerate(stream_payloads(reply, completion)):
            if index:
                await self._sleep(chunk_delay)
            if gated is not None and index == gated.after + 1:  # payload 0 is the role delta
                while not gated.gate.is_set() and not self._closed.is_set():
                    await asyncio.sleep(0.02)
            if self._closed.is_set():
                return
            yield _sse(payload)
        if isinstance(reply, Broken) and reply.mode == "reset":
            await asyncio.sleep(0.05)  # let the good chunks reach the client before the RST
            await self._reset_connection(client)

    async def _reset_connection(self, client: Any) -> None:
        """Abort the client's TCP connection with an RST (SO_LINGER 0), as a crashing peer does."""
        for connection in list(self._server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if getattr(connection, "client", None) == client and transport is not None:
                sock = transport.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                transport.abort()
        await asyncio.sleep(0.01)  # let uvicorn notice, so the rest of the response goes nowhere

    async def _sleep(self, seconds: float) -> None:
        """``asyncio.sleep`` that ends early when the upstream closes."""
        deadline = time.monotonic() + seconds
        while not self._closed.is_set() and (remaining := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(remaining, 0.05))


def _response_headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"x-request-id": f"req_{secrets.token_hex(12)}", **(extra or {})}


# --- helpers for tests -----------------------------------------------------------------------


@contextmanager
def scripted_upstream(api_key: str = DEFAULT_API_KEY) -> Iterator[ScriptedUpstream]:
    """A scripted upstream for the duration of a ``with`` block."""
    with ScriptedUpstream(api_key) as upstream:
        yield upstream


@pytest.fixture(scope="session")
def upstream_server() -> Iterator[ScriptedUpstream]:
    """One scripted upstream for the whole session (take ``upstream`` in tests, which resets)."""
    with scripted_upstream() as upstream:
        yield upstream


@pytest.fixture
def upstream(upstream_server: ScriptedUpstream) -> ScriptedUpstream:
    """The session's scripted upstream, reset to its initial state for this test."""
    upstream_server.reset()
    return upstream_server
