"""OpenAICompatibleProvider against a scripted ``httpx.MockTransport``: normalisation of chunks,
the one retry loop (before output only), error mapping, secrecy of failures, cancellation."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from threadline.providers.llm.base import (
    ChatDelta,
    ChatRequest,
    ToolCallDelta,
    UpstreamFailure,
    Usage,
)
from threadline.providers.llm.openai_compatible import (
    OpenAICompatibleProvider,
    Redactor,
    UpstreamOptions,
)

KEY = "sk-canaryPROVIDER-7f3c9a1e5b2d4c6e8f0a1b2c3d4e5f60"
BASE_URL = "http://upstream-canary.test:8911/v1"
REQUEST = ChatRequest(model="gpt-test", messages=[{"role": "user", "content": "Hi"}])


# --- scripting -------------------------------------------------------------------------------


def chunk(
    content: str | None = None,
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    finish: str | None = None,
    usage: dict[str, int] | None = None,
    choices: bool = True,
) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    if content is not None:
        delta["content"] = content
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-test",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if choices else [],
    }
    if usage is not None:
        body["usage"] = usage
    return body


Event = dict[str, Any] | str | bytes


def sse(*events: Event, done: bool = True) -> list[bytes]:
    parts = []
    for event in events:
        if isinstance(event, bytes):
            parts.append(event)
        else:
            data = event if isinstance(event, str) else json.dumps(event)
            parts.append(f"data: {data}\n\n".encode())
    if done:
        parts.append(b"data: [DONE]\n\n")
    return parts


class Body(httpx.AsyncByteStream):
    """A response body that records being closed, and may fail after its parts."""

    def __init__(self, parts: list[bytes], error: Exception | None = None) -> None:
        self.parts = parts
        self.error = error
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            yield part
        if self.error is not None:
            raise self.error

    async def aclose(self) -> None:
        self.closed = True


Reply = Callable[[httpx.Request], httpx.Response]
BODIES: list[Body] = []  # every streamed body, to check that it was closed


def stream(*events: Event, done: bool = True, error: Exception | None = None) -> Reply:
    def reply(request: httpx.Request) -> httpx.Response:
        body = Body(sse(*events, done=done), error)
        BODIES.append(body)
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=body)

    return reply


def status(code: int, body: Any = None, headers: dict[str, str] | None = None) -> Reply:
    def reply(request: httpx.Request) -> httpx.Response:
        payload = body if body is not None else {"error": {"message": f"status {code}"}}
        return httpx.Response(code, json=payload, headers=headers)

    return reply


def raises(error: Exception) -> Reply:
    def reply(request: httpx.Request) -> httpx.Response:
        raise error

    return reply


TEXT = stream(chunk("Hel"), chunk("lo"), chunk(finish="stop"), chunk(choices=False, usage={
    "prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}))  # fmt: skip


class Upstream:
    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.replies.pop(0)(request)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def provider(self, api_key: str | None = KEY, **options: Any) -> OpenAICompatibleProvider:
        client = httpx.AsyncClient(transport=httpx.MockTransport(self.handle))
        return OpenAICompatibleProvider(
            base_url=BASE_URL,
            api_key=api_key,
            name="local",
            options=UpstreamOptions(**options),
            http_client=client,
            sleep=self.sleep,
        )

    def body(self, n: int = 0) -> dict[str, Any]:
        return json.loads(self.requests[n].content)


def collect(provider: OpenAICompatibleProvider, request: ChatRequest = REQUEST) -> list[ChatDelta]:
    async def run() -> list[ChatDelta]:
        return [delta async for delta in provider.stream(request)]

    return asyncio.run(run())


def failure(provider: OpenAICompatibleProvider, request: ChatRequest = REQUEST) -> UpstreamFailure:
    with pytest.raises(UpstreamFailure) as caught:
        collect(provider, request)
    return caught.value


# --- normalisation ---------------------------------------------------------------------------


def test_text_stream_becomes_deltas_then_finish_with_usage() -> None:
    upstream = Upstream(TEXT)
    deltas = collect(upstream.provider())
    assert deltas == [
        ChatDelta(text="Hel"),
        ChatDelta(text="lo"),
        ChatDelta(finish_reason="stop", usage=Usage(prompt_tokens=5, completion_tokens=2)),
    ]
    request = upstream.requests[0]
    assert request.url == "http://upstream-canary.test:8911/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert "openai-organization" not in request.headers
    assert upstream.body() == {
        "model": "gpt-test",
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_request_fields_are_sent_and_none_fields_omitted() -> None:
    upstream = Upstream(TEXT, TEXT)
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    full = ChatRequest(
        model="m",
        messages=[],
        tools=tools,
        tool_choice="auto",
        parallel_tool_calls=False,
        temperature=0.5,
        max_tokens=100,
        response_format={"type": "json_object"},
        reasoning_effort="low",
    )
    collect(upstream.provider(), full)
    body = upstream.body()
    assert body["tools"] == tools and body["tool_choice"] == "auto"
    assert body["parallel_tool_calls"] is False and body["max_tokens"] == 100
    assert body["temperature"] == 0.5 and "top_p" not in body
    assert body["response_format"] == {"type": "json_object"}
    assert body["reasoning_effort"] == "low"
    # Without tools, tool_choice and parallel_tool_calls are upstream errors: never sent.
    collect(upstream.provider(), ChatRequest(model="m", messages=[], tool_choice="none"))
    assert "tool_choice" not in upstream.body(1) and "tools" not in upstream.body(1)


def test_parallel_tool_calls_carry_id_and_name_on_first_fragments_only() -> None:
    def call(index: int, *, id: str | None = None, name: str | None = None, args: str = ""):
        function: dict[str, Any] = {"arguments": args}
        if name:
            function["name"] = name
        fragment: dict[str, Any] = {"index": index, "function": function}
        if id:
            fragment.update(id=id, type="function")
        return fragment

    upstream = Upstream(
        stream(
            chunk(tool_calls=[call(0, id="call_a", name="weather")]),
            chunk(tool_calls=[call(0, args='{"city":')]),
            chunk(tool_calls=[call(1, id="call_b", name="time", args='{"tz"')]),
            chunk(tool_calls=[call(0, id="call_a", args=' "Paris"}')]),  # a repeated id
            chunk(tool_calls=[call(1, args=': "CET"}')]),
            chunk(finish="stop"),  # some servers say stop after tool calls
        )
    )
    deltas = collect(upstream.provider())
    assert [call for delta in deltas for call in delta.tool_calls] == [
        ToolCallDelta(index=0, id="call_a", name="weather", arguments=""),
        ToolCallDelta(index=0, arguments='{"city":'),
        ToolCallDelta(index=1, id="call_b", name="time", arguments='{"tz"'),
        ToolCallDelta(index=0, arguments=' "Paris"}'),
        ToolCallDelta(index=1, arguments=': "CET"}'),
    ]
    assert deltas[-1] == ChatDelta(finish_reason="tool_calls")


def test_a_tool_call_without_an_id_gets_one() -> None:
    fragment = {"index": 0, "function": {"name": "f", "arguments": "{}"}}
    upstream = Upstream(stream(chunk(tool_calls=[fragment]), chunk(finish="tool_calls")))
    first = collect(upstream.provider())[0].tool_calls[0]
    assert first.id is not None and first.id.startswith("call_") and first.name == "f"


# --- retries before output -------------------------------------------------------------------


def test_429_waits_for_retry_after_then_succeeds() -> None:
    upstream = Upstream(
        status(429, headers={"retry-after": "2"}),
        status(429, headers={"retry-after-ms": "150", "retry-after": "9"}),
        TEXT,
    )
    assert collect(upstream.provider())[-1].finish_reason == "stop"
    assert upstream.sleeps == [2.0, 0.15]
    assert len(upstream.requests) == 3


def test_429_exhausted_is_rate_limit_exceeded() -> None:
    upstream = Upstream(*[status(429, headers={"retry-after": "1"})] * 3)
    error = failure(upstream.provider(max_retries=2))
    assert error.code == "rate_limit_exceeded"
    assert len(upstream.requests) == 3 and upstream.sleeps == [1.0, 1.0]


@pytest.mark.parametrize(
    "reply",
    [
        status(429, headers={"retry-after": "3600"}),  # longer than max_retry_wait
        status(429, {"error": {"message": "quota", "code": "insufficient_quota"}}),
        status(429, headers={"x-should-retry": "false"}),
    ],
    ids=["retry-after-too-long", "insufficient-quota", "x-should-retry-false"],
)
def test_429_that_should_not_be_retried_fails_at_once(reply: Reply) -> None:
    upstream = Upstream(reply, TEXT)
    assert failure(upstream.provider()).code == "rate_limit_exceeded"
    assert len(upstream.requests) == 1 and upstream.sleeps == []


@pytest.mark.parametrize("code", [408, 502, 503, 504, 529])
def test_retryable_status_then_success_after_backoff(code: int) -> None:
    upstream = Upstream(status(code), TEXT)
    assert collect(upstream.provider())[-1].finish_reason == "stop"
    assert upstream.sleeps == [0.25]


def test_5xx_exhausted_is_server_error() -> None:
    upstream = Upstream(*[status(503)] * 4)
    error = failure(upstream.provider(max_retries=3))
    assert error.code == "server_error" and "HTTP 503" in error.message
    assert len(upstream.requests) == 4 and upstream.sleeps == [0.25, 0.5, 1.0]


@pytest.mark.parametrize("code", [500, 409, 520])
def test_a_plain_500_or_a_conflict_is_not_retried(code: int) -> None:
    upstream = Upstream(status(code), TEXT)
    error = failure(upstream.provider())
    assert error.code == "server_error" and f"HTTP {code}" in error.message
    assert len(upstream.requests) == 1 and upstream.sleeps == []


def test_x_should_retry_overrides_the_status() -> None:
    upstream = Upstream(status(503, headers={"x-should-retry": "false"}), TEXT)
    assert failure(upstream.provider()).code == "server_error"
    assert len(upstream.requests) == 1
    upstream = Upstream(status(500, headers={"x-should-retry": "true"}), TEXT)
    assert collect(upstream.provider())[-1].finish_reason == "stop"
    assert len(upstream.requests) == 2


@pytest.mark.parametrize(
    "error", [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"), httpx.ReadTimeout("")]
)
def test_connection_failures_before_output_are_retried(error: Exception) -> None:
    upstream = Upstream(raises(error), TEXT)
    assert collect(upstream.provider())[-1].finish_reason == "stop"
    upstream = Upstream(*[raises(error)] * 3)
    assert failure(upstream.provider()).code == "server_error"
    assert len(upstream.requests) == 3


@pytest.mark.parametrize(
    "broken",
    [
        stream(chunk(finish=None), done=False),  # EOF, no finish_reason
        stream("{not json"),
        stream({"error": {"message": "overloaded"}}),
        stream(done=False, error=httpx.ReadError("reset")),
    ],
    ids=["truncated", "garbage", "in-band-error", "reset"],
)
def test_a_broken_stream_before_any_output_is_retried(broken: Reply) -> None:
    upstream = Upstream(broken, TEXT)
    assert collect(upstream.provider())[-1].finish_reason == "stop"
    assert len(upstream.requests) == 2


# --- no retry --------------------------------------------------------------------------------


def test_400_is_invalid_prompt_after_one_attempt() -> None:
    message = "This model's maximum context length is 8192 tokens (key sk-abcdef123456 ignored)"
    body = {"error": {"message": message, "code": "context_length_exceeded"}}
    upstream = Upstream(status(400, body), TEXT)
    error = failure(upstream.provider())
    assert error.code == "invalid_prompt"
    assert "maximum context length is 8192 tokens" in error.message
    assert "sk-abcdef123456" not in error.message
    assert len(upstream.requests) == 1


@pytest.mark.parametrize("code", [401, 403])
def test_a_rejected_key_says_what_to_check_and_never_echoes_it(code: int) -> None:
    echoed = f"Incorrect API key provided: {KEY[:8]}****{KEY[-4:]} ({KEY}) at {BASE_URL}"
    upstream = Upstream(status(code, {"error": {"message": echoed}}), TEXT)
    error = failure(upstream.provider())
    assert error.code == "server_error" and len(upstream.requests) == 1
    assert "rejected Threadline's API key" in error.message
    text = f"{error.message} {error!r} {error.args}"
    assert not any(KEY[i : i + 8] in text for i in range(len(KEY) - 7))
    assert "upstream-canary" not in text and "8911" not in text


def test_404_says_the_model_was_not_found_upstream() -> None:
    upstream = Upstream(status(404), TEXT)
    error = failure(upstream.provider())
    assert error.code == "server_error" and "not found upstream" in error.message
    assert len(upstream.requests) == 1


def test_redirects_are_not_followed() -> None:
    upstream = Upstream(status(307, headers={"location": "http://127.0.0.1:9/steal"}), TEXT)
    error = failure(upstream.provider())
    assert error.code == "server_error" and "redirect" in error.message
    assert len(upstream.requests) == 1


@pytest.mark.parametrize(
    "broken",
    [
        stream(chunk("partial"), done=False),  # EOF without finish_reason
        stream(chunk("partial"), "{garbage"),
        stream(chunk("partial"), b"data: \xff\xfe\n\n"),
        stream(chunk("partial"), {"error": {"message": f"failed for {KEY}"}}),
        stream(chunk("partial"), {"choices": [{"index": 0, "delta": {"content": 5}}]}),
        stream(chunk("partial"), done=False, error=httpx.ReadError("connection reset")),
        stream(chunk("partial"), done=False, error=httpx.ReadTimeout("idle")),
    ],
    ids=["truncated", "garbage", "non-utf8", "in-band", "bad-shape", "reset", "read-timeout"],
)
def test_a_failure_after_output_is_final(broken: Reply) -> None:
    upstream = Upstream(broken, TEXT)
    seen: list[ChatDelta] = []

    async def run() -> None:
        async for delta in upstream.provider().stream(REQUEST):
            seen.append(delta)

    with pytest.raises(UpstreamFailure) as caught:
        asyncio.run(run())
    assert seen == [ChatDelta(text="partial")]
    assert caught.value.code == "server_error"
    assert "after output had started" in caught.value.message
    assert KEY[:12] not in caught.value.message
    assert len(upstream.requests) == 1 and upstream.sleeps == []


# --- cancellation, credentials, redaction ----------------------------------------------------


def test_closing_the_stream_early_closes_the_upstream_response() -> None:
    BODIES.clear()
    upstream = Upstream(stream(chunk("one"), chunk("two"), chunk(finish="stop")))

    async def run() -> None:
        deltas = upstream.provider().stream(REQUEST)
        assert await anext(deltas) == ChatDelta(text="one")
        assert not BODIES[0].closed
        await deltas.aclose()
        assert BODIES[0].closed  # at once, not when the event loop finalises generators

    asyncio.run(run())


def test_cancelling_the_consumer_closes_the_upstream_response() -> None:
    class Stalled(Body):  # one chunk, then the upstream goes quiet
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield sse(chunk("one"), done=False)[0]
            await asyncio.Event().wait()

    body = Stalled([])
    upstream = Upstream(lambda request: httpx.Response(200, stream=body))

    async def run() -> None:
        got_output = asyncio.Event()

        async def consume() -> None:
            async for _ in upstream.provider().stream(REQUEST):
                got_output.set()

        task = asyncio.create_task(consume())
        await got_output.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert body.closed

    asyncio.run(run())


def test_without_a_key_no_authorization_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-environment")
    upstream = Upstream(TEXT)
    collect(upstream.provider(api_key=None))
    headers = upstream.requests[0].headers
    assert "authorization" not in headers and "openai-organization" not in headers


def test_the_provider_repr_holds_no_secret() -> None:
    provider = Upstream().provider()
    assert KEY not in repr(provider) and "canary" not in repr(provider)


def test_redactor_removes_keys_urls_and_echoed_fragments() -> None:
    redact = Redactor([KEY, "upstream-canary.test"])
    text = redact(f"bad key {KEY[:10]}…{KEY[-6:]}, Bearer abc, sk-other-1234, see https://x.y/z")
    assert "sk-" not in text and "Bearer abc" not in text and "https" not in text
    assert redact("context length is 8192 tokens") == "context length is 8192 tokens"
    assert "upstream-canary" not in redact("host upstream-canary.test refused")
