"""A scripted Anthropic Messages upstream: a real HTTP server whose answers a test decides, as
``tests/upstream.py``'s ``ScriptedUpstream`` is for OpenAI-compatible upstreams::

    with scripted_anthropic() as upstream:
        upstream.script(
            ToolUse([("get_weather", '{"city": "Paris"}')]),  # the 1st request gets this,
            Text(["It is ", "sunny."]),                         # the 2nd this,
        )                                                       # later ones the default reply
        ...  # a provider of kind anthropic with base_url=upstream.base_url, key upstream.api_key
        assert upstream.requests[1]["messages"][-1]["content"][0]["type"] == "tool_result"

``POST /v1/messages`` pops one reply per request and answers as Anthropic does: a ``Message``
when ``stream`` is false, else server-sent events in Anthropic's exact framing (``event: NAME``
then ``data: JSON`` then a blank line; ``message_start`` with the input usage, a ``ping`` after
the first block's start, per block start/deltas/stop, ``message_delta`` with the stop reason and
output usage, ``message_stop``; no ``[DONE]``). ``Fail`` answers with Anthropic's error body and
an HTTP status (400, 401, 429, 500, 529, ...), ``StreamError`` sends an ``error`` event part-way,
``Truncated`` stops part-way without one.

Every request is checked as Anthropic would: the key, in ``x-api-key`` or (as the ``anthropic``
SDK 2.x sends it) ``Authorization: Bearer`` (401 ``authentication_error`` otherwise),
``anthropic-version`` (400 when missing), and the body (``model``, ``max_tokens``, non-empty
``messages`` of roles user/assistant, no empty text block, each ``tool_use`` answered by a
``tool_result`` at the start of the next turn), with a 400 ``invalid_request_error`` naming what
is wrong. Such rejected requests take no scripted reply. ``POST /v1/messages/count_tokens``
answers ``{"input_tokens": n}`` (a word count). Every request is recorded in ``requests`` with
its path under ``"_path"`` and its headers under ``"_headers"``.

Fixtures: ``anthropic_upstream_server`` (one per session) and ``anthropic_upstream`` (that one,
reset for the test); register the module as a plugin (``pytest_plugins``) to use them."""

import json
import secrets
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
from threadline.records.anthropic import error_type_for

DEFAULT_API_KEY = "sk-ant-scripted-test"


@dataclass
class Usage:
    input_tokens: int = 10
    output_tokens: int = 5
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0


@dataclass
class Text:
    """A text answer; each chunk is one ``text_delta``."""

    chunks: list[str]
    stop_reason: str = "end_turn"  # or max_tokens, stop_sequence, refusal, ...
    stop_sequence: str | None = None  # the sequence that matched, with stop_sequence
    usage: Usage = field(default_factory=Usage)


@dataclass
class ToolUse:
    """Tool calls (``tool_use`` blocks, their input streamed as ``input_json_delta``s in
    ``split`` fragments), after optional text; ids are ``toolu_<n>``."""

    calls: list[tuple[str, str]]  # (tool name, input as JSON text)
    text: list[str] = field(default_factory=list)
    split: int = 3
    usage: Usage = field(default_factory=Usage)


@dataclass
class Fail:
    """An HTTP error with Anthropic's body ``{"type":"error","error":{type,message}}``."""

    status: int
    message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # e.g. {"retry-after": "1"}


@dataclass
class StreamError:
    """A stream that sends ``chunks`` of text, then an ``error`` event, then ends."""

    chunks: list[str]
    error_type: str = "overloaded_error"
    message: str = "Overloaded"


@dataclass
class Truncated:
    """A stream that sends ``chunks`` of text and ends without ``message_delta``."""

    chunks: list[str]


Reply = Text | ToolUse | Fail | StreamError | Truncated


# --- the wire format (pure) ------------------------------------------------------------------


def error_body(status: int, message: str, error_type: str | None = None) -> dict[str, Any]:
    kind = error_type or error_type_for(status)
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": _req()}


def _req() -> str:
    return f"req_{secrets.token_hex(12)}"


def _pieces(text: str, parts: int) -> list[str]:
    size = max(1, -(-len(text) // max(parts, 1)))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _usage(usage: Usage) -> dict[str, int]:
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
    }


def _blocks(reply: Text | ToolUse, first_id: int) -> list[dict[str, Any]]:
    """The answer's content blocks, whole."""
    text = "".join(reply.chunks if isinstance(reply, Text) else reply.text)
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for n, (name, arguments) in enumerate(getattr(reply, "calls", [])):
        tool = {"type": "tool_use", "id": f"toolu_{first_id + n}", "name": name}
        blocks.append({**tool, "input": json.loads(arguments)})
    return blocks


def message(reply: Text | ToolUse, model: str, first_id: int) -> dict[str, Any]:
    stop = reply.stop_reason if isinstance(reply, Text) else "tool_use"
    return {
        "id": f"msg_{secrets.token_hex(12)}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _blocks(reply, first_id),
        "stop_reason": stop,
        "stop_sequence": reply.stop_sequence if isinstance(reply, Text) else None,
        "usage": _usage(reply.usage),
    }


def stream_events(
    reply: Text | ToolUse | StreamError | Truncated, model: str, first_id: int
) -> list[tuple[str, dict[str, Any]]]:
    """The (name, data) events of a streamed answer, in Anthropic's order."""
    usage = reply.usage if isinstance(reply, Text | ToolUse) else Usage()
    start = {**message(Text([], usage=usage), model, first_id), "stop_reason": None}
    start["usage"] = {**_usage(usage), "output_tokens": 1}
    events: list[tuple[str, dict[str, Any]]] = [("message_start", {"message": start})]
    chunks = reply.text if isinstance(reply, ToolUse) else reply.chunks
    index = 0
    if chunks:
        events.append(("content_block_start", _start(0, {"type": "text", "text": ""})))
        events.append(("ping", {}))
        for chunk in chunks:
            events.append(("content_block_delta", _delta(0, {"type": "text_delta", "text": chunk})))
    if isinstance(reply, StreamError):
        error = {"type": reply.error_type, "message": reply.message}
        return [*events, ("error", {"error": error, "request_id": _req()})]
    if isinstance(reply, Truncated):
        return events
    if chunks:
        events.append(("content_block_stop", {"index": 0}))
        index = 1
    for n, (name, arguments) in enumerate(getattr(reply, "calls", [])):
        block = {"type": "tool_use", "id": f"toolu_{first_id + n}", "name": name, "input": {}}
        events.append(("content_block_start", _start(index, block)))
        for piece in _pieces(arguments, reply.split):  # type: ignore[union-attr]
            delta = {"type": "input_json_delta", "partial_json": piece}
            events.append(("content_block_delta", _delta(index, delta)))
        events.append(("content_block_stop", {"index": index}))
        index += 1
    stop = reply.stop_reason if isinstance(reply, Text) else "tool_use"
    sequence = reply.stop_sequence if isinstance(reply, Text) else None
    done = {"stop_reason": stop, "stop_sequence": sequence}
    events.append(
        ("message_delta", {"delta": done, "usage": {"output_tokens": usage.output_tokens}})
    )
    return [*events, ("message_stop", {})]


def _start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"index": index, "content_block": block}


def _delta(index: int, delta: dict[str, Any]) -> dict[str, Any]:
    return {"index": index, "delta": delta}


def frame(name: str, data: dict[str, Any]) -> bytes:
    payload = json.dumps({"type": name, **data}, separators=(",", ":"))
    return f"event: {name}\ndata: {payload}\n\n".encode()


def check_request(body: Any) -> str | None:
    """What Anthropic would reject the body for (its 400 message), or None."""
    if not isinstance(body, dict):
        return "The request body is not valid JSON."
    if not isinstance(body.get("model"), str):
        return "model: Field required"
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        return "max_tokens: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    owed: list[str] = []  # the tool_use ids the previous turn left unanswered
    for i, turn in enumerate(messages):
        role, content = turn.get("role"), turn.get("content")
        if role not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        leading = []
        for block in blocks:
            if block.get("type") != "tool_result":
                break
            leading.append(block.get("tool_use_id"))
        if set(owed) - set(leading):
            return (
                f"messages.{i}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {', '.join(owed)}"
            )
        if any(b.get("type") == "text" and not str(b.get("text", "")).strip() for b in blocks):
            return f"messages.{i}: text content blocks must contain non-whitespace text"
        owed = (
            [b["id"] for b in blocks if b.get("type") == "tool_use"] if role == "assistant" else []
        )
    return None


# --- the server ------------------------------------------------------------------------------


class ScriptedAnthropic:
    """The scripted Anthropic upstream, serving from construction until ``close()``."""

    def __init__(self, api_key: str = DEFAULT_API_KEY) -> None:
        self.api_key = api_key
        self._lock = threading.Condition()
        self._queue: deque[Reply] = deque()
        self._requests: list[dict[str, Any]] = []
        self._default: Reply = Text(["Hello", " world"])
        self._tool_ids = 0
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}/v1"
        app = Starlette(
            routes=[
                Route("/v1/messages", self._messages, methods=["POST"]),
                Route("/v1/messages/count_tokens", self._count_tokens, methods=["POST"]),
            ]
        )
        config = uvicorn.Config(
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
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="anthropic", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the scripted Anthropic upstream did not start")
            time.sleep(0.01)

    def script(self, *replies: Reply) -> None:
        """Queue replies; each accepted ``/v1/messages`` request takes the next one."""
        with self._lock:
            self._queue.extend(replies)

    def default(self, reply: Reply) -> None:
        """The reply for requests that find the queue empty."""
        with self._lock:
            self._default = reply

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self._requests.clear()
            self._default = Text(["Hello", " world"])
            self._tool_ids = 0

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._requests)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)

    def __enter__(self) -> "ScriptedAnthropic":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def _record(self, request: Request) -> Any:
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        entry = dict(body) if isinstance(body, dict) else {"_raw": raw.decode(errors="replace")}
        entry["_path"], entry["_headers"] = request.url.path, dict(request.headers)
        with self._lock:
            self._requests.append(entry)
            self._lock.notify_all()
        return body

    def _authorized(self, request: Request) -> bool:
        headers = request.headers
        return self.api_key in (headers.get("x-api-key"), _bearer(headers.get("authorization")))

    def _refusal(self, request: Request, body: Any) -> Response | None:
        if not self._authorized(request):
            return _error(401, "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return _error(400, "anthropic-version: header is required")
        problem = check_request(body)
        return _error(400, problem) if problem else None

    async def _count_tokens(self, request: Request) -> Response:
        body = await self._record(request)
        if not self._authorized(request):
            return _error(401, "invalid x-api-key")
        if not isinstance(body, dict):
            return _error(400, "The request body is not valid JSON.")
        words = len(json.dumps([body.get("system"), body.get("messages")]).split())
        return JSONResponse({"input_tokens": words})

    async def _messages(self, request: Request) -> Response:
        body = await self._record(request)
        refusal = self._refusal(request, body)
        if refusal is not None:
            return refusal
        with self._lock:
            reply = self._queue.popleft() if self._queue else self._default
            first_id = self._tool_ids + 1
            self._tool_ids += len(getattr(reply, "calls", []))
        if isinstance(reply, Fail):
            message_text = reply.message or f"Scripted upstream error {reply.status}."
            return _error(reply.status, message_text, reply.headers)
        headers = {"request-id": _req()}
        if not body.get("stream"):
            if isinstance(reply, StreamError | Truncated):
                return _error(500, "Internal server error")
            return JSONResponse(message(reply, body["model"], first_id), headers=headers)
        events = stream_events(reply, body["model"], first_id)
        return StreamingResponse(_frames(events), media_type="text/event-stream", headers=headers)


async def _frames(events: list[tuple[str, dict[str, Any]]]) -> AsyncIterator[bytes]:
    for name, data in events:
        yield frame(name, data)


def _bearer(value: str | None) -> str | None:
    return value[7:] if value and value.startswith("Bearer ") else None


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(
        error_body(status, message),
        status_code=status,
        headers={"request-id": _req(), **(headers or {})},
    )


@contextmanager
def scripted_anthropic(api_key: str = DEFAULT_API_KEY) -> Iterator[ScriptedAnthropic]:
    with ScriptedAnthropic(api_key) as upstream:
        yield upstream


@pytest.fixture(scope="session")
def anthropic_upstream_server() -> Iterator[ScriptedAnthropic]:
    """One scripted Anthropic upstream for the session (take ``anthropic_upstream``)."""
    with scripted_anthropic() as upstream:
        yield upstream


@pytest.fixture
def anthropic_upstream(anthropic_upstream_server: ScriptedAnthropic) -> ScriptedAnthropic:
    """The session's scripted Anthropic upstream, reset for this test."""
    anthropic_upstream_server.reset()
    return anthropic_upstream_server
