"""The scripted upstream speaks Chat Completions as OpenAI does: the official SDK, the client
Threadline's engine uses, parses every reply, and the failure replies fail the way they should."""

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from openai import OpenAI
from openai.types.chat import ChatCompletionChunk

from tests import upstream as upstream_module
from tests.upstream import (
    Broken,
    Fail,
    ScriptedUpstream,
    Slow,
    Text,
    ToolCalls,
    scripted_upstream,
    stream_payloads,
)

MESSAGES = [{"role": "user", "content": "Hi"}]
TOOLS = [
    {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
    for name in ("get_weather", "get_time")
]


@pytest.fixture
def client(upstream: ScriptedUpstream) -> Iterator[OpenAI]:
    with OpenAI(base_url=upstream.base_url, api_key=upstream.api_key, max_retries=0) as client:
        yield client


def stream(client: OpenAI, include_usage: bool = True) -> list[ChatCompletionChunk]:
    options = {"include_usage": True} if include_usage else openai.omit
    chunks = client.chat.completions.create(
        model="gpt-test", messages=MESSAGES, stream=True, stream_options=options
    )
    return list(chunks)


def contents(chunks: list[ChatCompletionChunk]) -> list[str | None]:
    return [chunk.choices[0].delta.content for chunk in chunks if chunk.choices]


def test_streamed_text_arrives_in_order_with_a_final_usage_chunk(upstream, client) -> None:
    upstream.script(Text(["The ", "answer ", "is 42."], usage=(7, 3)))
    chunks = stream(client)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert contents(chunks) == ["", "The ", "answer ", "is 42.", None]
    assert [c.choices[0].finish_reason for c in chunks[:-1]] == [None] * 4 + ["stop"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.total_tokens) == (7, 10)
    assert {c.id for c in chunks} == {chunks[0].id}
    assert chunks[0].id.startswith("chatcmpl-")
    assert chunks[0].model == "gpt-test"


def test_usage_only_when_asked_for_and_scripted(upstream, client) -> None:
    upstream.script(Text(["a"]), Text(["b"], finish_reason="length", usage=None))
    assert all(chunk.choices for chunk in stream(client, include_usage=False))
    chunks = stream(client)
    assert chunks[-1].choices[0].finish_reason == "length"
    assert all(chunk.usage is None for chunk in chunks)


def test_the_wire_format_is_openais(upstream) -> None:
    upstream.script(ToolCalls([("get_weather", '{"city": "Paris"}')], split=2))
    headers = {"authorization": f"Bearer {upstream.api_key}"}
    body = {"model": "m", "messages": MESSAGES, "stream": True}
    response = httpx.post(f"{upstream.base_url}/chat/completions", json=body, headers=headers)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = response.text.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    assert all(event.startswith("data: ") for event in events[:-1])
    deltas = [json.loads(event[6:])["choices"][0]["delta"] for event in events[:-2]]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]},
        {},
    ]


def test_parallel_tool_calls_reassemble_with_the_sdk_helper(upstream, client) -> None:
    calls = [("get_weather", '{"city": "Paris", "unit": "c"}'), ("get_time", '{"tz": "CET"}')]
    upstream.script(ToolCalls(calls, text=["Let me ", "check."], split=4))
    with client.chat.completions.stream(model="m", messages=MESSAGES, tools=TOOLS) as events:
        completion = events.get_final_completion()
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Let me check."
    tool_calls = choice.message.tool_calls or []
    assert [(c.function.name, c.function.arguments) for c in tool_calls] == calls
    assert [c.id for c in tool_calls] == ["call_1", "call_2"]


def test_tool_call_ids_never_repeat_across_requests(upstream, client) -> None:
    upstream.script(ToolCalls([("get_time", "{}")]), ToolCalls([("get_time", "{}")]))
    ids = [
        client.chat.completions.create(model="m", messages=MESSAGES).choices[0].message.tool_calls
        for _ in range(2)
    ]
    assert [calls[0].id for calls in ids if calls] == ["call_1", "call_2"]


def test_arguments_are_split_into_the_asked_number_of_fragments() -> None:
    reply = ToolCalls([("f", "0123456789")], split=3)
    completion = upstream_module._Completion(model="m", include_usage=False, call_ids=["call_1"])
    chunks = [json.loads(p) for p in stream_payloads(reply, completion)[:-1]]
    fragments = [
        call["function"]["arguments"]
        for chunk in chunks
        for call in chunk["choices"][0]["delta"].get("tool_calls", [])
    ]
    assert fragments == ["", "0123", "456", "789"]


def test_non_streaming_requests_get_a_chat_completion(upstream, client) -> None:
    upstream.script(Text(["Hello", " there"], usage=(3, 2)), ToolCalls([("get_time", "{}")]))
    text = client.chat.completions.create(model="m", messages=MESSAGES)
    assert text.object == "chat.completion"
    assert text.choices[0].message.content == "Hello there"
    assert text.choices[0].finish_reason == "stop"
    assert text.usage is not None and text.usage.total_tokens == 5
    call = client.chat.completions.create(model="m", messages=MESSAGES).choices[0]
    assert call.finish_reason == "tool_calls"
    assert call.message.content is None
    assert call.message.tool_calls is not None
    assert call.message.tool_calls[0].function.name == "get_time"


def test_a_rate_limit_is_a_429_with_retry_after(upstream, client) -> None:
    upstream.script(Fail(429, headers={"retry-after": "1"}))
    with pytest.raises(openai.RateLimitError) as caught:
        stream(client)
    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.code == "rate_limit_exceeded"


def test_a_fail_can_carry_its_own_body(upstream, client) -> None:
    body = {"error": {"message": "overloaded", "type": "server_error", "param": None, "code": "x"}}
    upstream.script(Fail(503, body=body), Fail(500))
    with pytest.raises(openai.InternalServerError) as caught:
        stream(client)
    assert caught.value.status_code == 503
    assert caught.value.message.endswith("overloaded")
    with pytest.raises(openai.InternalServerError, match="Scripted upstream error 500"):
        client.chat.completions.create(model="m", messages=MESSAGES)


def test_a_wrong_or_missing_key_is_a_401_that_consumes_no_reply(upstream) -> None:
    upstream.script(Text(["kept"]))
    wrong = OpenAI(base_url=upstream.base_url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        wrong.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert caught.value.code == "invalid_api_key"
    missing = httpx.post(f"{upstream.base_url}/chat/completions", json={"model": "m"})
    assert missing.status_code == 401
    assert upstream.pending == 1
    assert [r["_headers"].get("authorization") for r in upstream.requests] == [
        "Bearer sk-wrong",
        None,
    ]


def test_models_are_listed(client) -> None:
    assert [model.id for model in client.models.list()] == ["gpt-test"]


def test_broken_eof_ends_the_iteration_early(upstream, client) -> None:
    upstream.script(Broken(["partial", " answer"], mode="eof"))
    chunks = stream(client)
    assert contents(chunks) == ["", "partial", " answer"]
    assert all(chunk.choices[0].finish_reason is None for chunk in chunks)


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("garbage", json.JSONDecodeError),
        ("error_chunk", openai.APIError),
        ("reset", openai.APIConnectionError),
    ],
)
def test_broken_streams_raise_after_the_good_chunks(upstream, client, mode, error) -> None:
    upstream.script(Broken(["good", " start"], mode=mode))
    received: list[str | None] = []
    chunks = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    with pytest.raises(error):
        for chunk in chunks:
            received.append(chunk.choices[0].delta.content)
    assert received == ["", "good", " start"]


def test_an_unknown_broken_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="Broken mode"):
        Broken(["x"], mode="explode")


def test_slow_replies_still_work(upstream, client) -> None:
    upstream.script(
        Slow(Text(["late", " but", " fine"]), first_byte_delay=0.2, chunk_delay=0.01),
        Slow(Fail(429), first_byte_delay=0.05),
    )
    assert contents(stream(client))[1:4] == ["late", " but", " fine"]
    with pytest.raises(openai.RateLimitError):
        stream(client)


def test_the_async_client_streams_too(upstream) -> None:
    upstream.script(Text(["async", " works"]))

    async def collect() -> list[str | None]:
        async with openai.AsyncOpenAI(
            base_url=upstream.base_url, api_key=upstream.api_key, max_retries=0
        ) as client:
            chunks = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            return [chunk.choices[0].delta.content async for chunk in chunks]

    assert asyncio.run(collect()) == ["", "async", " works", None]


def test_requests_are_recorded_with_bodies_and_headers(upstream, client) -> None:
    upstream.script(Text(["first"]))
    stream(client)
    client.chat.completions.create(model="gpt-other", messages=MESSAGES, temperature=0.5)
    first, second = upstream.wait_for_requests(2)
    assert first["stream"] is True
    assert first["stream_options"] == {"include_usage": True}
    assert first["messages"] == MESSAGES
    assert first["_path"] == "/v1/chat/completions"
    assert first["_headers"]["authorization"] == f"Bearer {upstream.api_key}"
    assert first["_headers"]["content-type"] == "application/json"
    assert (second["model"], second["temperature"]) == ("gpt-other", 0.5)


def test_the_queue_then_the_default_then_reset(upstream, client) -> None:
    upstream.script(Text(["one"]), Text(["two"]))
    upstream.default(Text(["fallback"]))
    assert [contents(stream(client))[1] for _ in range(3)] == ["one", "two", "fallback"]
    upstream.default(None)
    with pytest.raises(openai.InternalServerError, match="no reply scripted"):
        stream(client)
    upstream.script(Text(["unused"]))
    upstream.reset()
    assert (upstream.pending, upstream.requests) == (0, [])
    assert contents(stream(client))[1:3] == ["Hello", " world"]


def test_concurrent_requests_each_take_one_reply(upstream, client) -> None:
    upstream.script(*(Text([str(n)]) for n in range(8)))
    answers: list[str | None] = []
    lock = threading.Lock()

    def ask() -> None:
        answer = contents(stream(client))[1]
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(answers, key=str) == [str(n) for n in range(8)]
    assert upstream.pending == 0


def test_close_is_prompt_even_mid_delay_and_then_nothing_serves() -> None:
    with scripted_upstream() as upstream:
        upstream.script(Slow(Text(["never"]), first_byte_delay=60))
        client = OpenAI(base_url=upstream.base_url, api_key=upstream.api_key, max_retries=0)

        def ask() -> None:
            with contextlib.suppress(openai.APIError):
                stream(client)

        waiting = threading.Thread(target=ask, daemon=True)
        waiting.start()
        upstream.wait_for_requests(1)
        started = time.monotonic()
    assert time.monotonic() - started < 5
    waiting.join(timeout=5)
    assert not waiting.is_alive()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{upstream.base_url}/models")
