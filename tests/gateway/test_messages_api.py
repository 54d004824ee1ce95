"""Anthropic's Messages API (``/v1/messages``) in front of an OpenAI-compatible upstream, driven by
the official ``anthropic`` SDK (base_url = the server's root) against the scripted upstream: what
the upstream is sent, the Message and stream that come back, count_tokens, errors in
Anthropic's shape with the SDK's exception classes, the key's limits, usage and the request
log, and Claude Code's request pattern."""

import json
from decimal import Decimal
from typing import Any

import anthropic
import httpx
import pytest

from tests.gateway.conftest import PRICED, cost_of, make_key
from tests.upstream import Broken, Fail, Slow, Text, ToolCalls
from threadline.api.anthropic_front import translated

HELLO = [{"role": "user", "content": "Hello"}]
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5E"
    "rkJggg=="
)


def tool_use(call_id: str, city: str) -> dict[str, Any]:
    return {"type": "tool_use", "id": call_id, "name": "get_weather", "input": {"city": city}}


def tool_call(call_id: str, city: str) -> dict[str, Any]:
    arguments = json.dumps({"city": city}, separators=(",", ":"))  # as orjson writes it
    function = {"name": "get_weather", "arguments": arguments}
    return {"id": call_id, "type": "function", "function": function}


def tool_result(call_id: str, content: Any, **extra: Any) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": call_id, "content": content, **extra}


@pytest.fixture
def key(gw_admin: httpx.Client) -> str:
    return str(make_key(gw_admin)["key"])


@pytest.fixture
def client(gateway_url: str, key: str) -> Any:
    with anthropic.Anthropic(base_url=gateway_url, api_key=key, max_retries=0) as client:
        yield client


@pytest.fixture
def http(gateway_url: str, key: str) -> Any:
    with httpx.Client(base_url=gateway_url, headers={"x-api-key": key}, timeout=30) as client:
        yield client


def sent(upstream: Any) -> dict[str, Any]:
    [request] = upstream.requests
    return {k: v for k, v in request.items() if not k.startswith("_")}


def events_of(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of each SSE frame; every frame has both lines and a blank line."""
    assert text.endswith("\n\n")
    frames = []
    for frame in text.strip("\n").split("\n\n"):
        name, data = frame.split("\n")
        assert name.startswith("event: ") and data.startswith("data: "), frame
        payload = json.loads(data[6:])
        assert payload["type"] == name[7:]
        frames.append((name[7:], payload))
    return frames


def test_text_with_a_system_string_and_system_blocks(client, upstream):
    upstream.script(Text(["Bon", "jour"], usage=(12, 3)))
    message = client.messages.create(
        model=PRICED, max_tokens=100, system="Be brief.", messages=HELLO
    )
    assert message.id.startswith("msg_") and message.model == PRICED
    assert [(block.type, block.text) for block in message.content] == [("text", "Bonjour")]
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)
    assert (message.usage.input_tokens, message.usage.output_tokens) == (12, 3)
    assert sent(upstream) == {
        "model": "gpt-test",
        "messages": [{"role": "system", "content": "Be brief."}, *HELLO],
        "max_completion_tokens": 100,
    }
    upstream.reset()
    blocks = [
        {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Answer in French."},
    ]
    client.messages.create(model=PRICED, max_tokens=10, system=blocks, messages=HELLO)
    assert sent(upstream)["messages"][0] == {
        "role": "system",
        "content": "Be brief.\n\nAnswer in French.",
    }


def test_an_image_block_reaches_the_upstream_as_a_data_url(client, upstream):
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    content = [{"type": "text", "text": "What is this?"}, image]
    client.messages.create(
        model=PRICED, max_tokens=10, messages=[{"role": "user", "content": content}]
    )
    assert sent(upstream)["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            ],
        }
    ]


def test_tools_tool_use_and_tool_results(client, upstream):
    upstream.script(ToolCalls([("get_weather", '{"city": "Rome"}')], text=["Checking."]))
    history = [
        {"role": "user", "content": "Weather in Paris and Oslo?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me look."},
                tool_use("toolu_1", "Paris"),
                tool_use("toolu_2", "Oslo"),
            ],
        },
        {
            "role": "user",
            "content": [
                tool_result("toolu_2", "unknown city", is_error=True),
                tool_result("toolu_1", [{"type": "text", "text": "sunny"}]),
                {"type": "text", "text": "And Rome?"},
            ],
        },
    ]
    message = client.messages.create(
        model=PRICED,
        max_tokens=50,
        messages=history,
        tools=[WEATHER],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
    )
    text, call = message.content
    assert text.text == "Checking."
    assert (call.type, call.id, call.name, call.input) == (
        "tool_use",
        "call_1",
        "get_weather",
        {"city": "Rome"},
    )
    assert message.stop_reason == "tool_use"
    body = sent(upstream)
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [tool_call("toolu_1", "Paris"), tool_call("toolu_2", "Oslo")],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: unknown city"},
        {"role": "user", "content": "And Rome?"},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": WEATHER["input_schema"],
                "description": "The weather in a city",
            },
        }
    ]
    assert (body["tool_choice"], body["parallel_tool_calls"]) == ("required", False)
    upstream.reset()
    client.messages.create(
        model=PRICED,
        max_tokens=50,
        messages=HELLO,
        tools=[WEATHER],
        tool_choice={"type": "tool", "name": "get_weather"},
    )
    named = {"type": "function", "function": {"name": "get_weather"}}
    assert sent(upstream)["tool_choice"] == named


def test_sampling_stop_sequences_metadata_and_max_tokens_stop(client, upstream):
    upstream.script(Text(["cut"], finish_reason="length"))
    message = client.messages.create(
        model=PRICED,
        max_tokens=5,
        messages=HELLO,
        stop_sequences=["END", "\n\n"],
        metadata={"user_id": "user-7"},
        # untyped since SDK 1.0, still sent by clients
        extra_body={"temperature": 0.2, "top_p": 0.9, "top_k": 40},
    )
    assert message.stop_reason == "max_tokens"
    body = sent(upstream)
    assert (body["stop"], body["temperature"], body["top_p"], body["user"]) == (
        ["END", "\n\n"],
        0.2,
        0.9,
        "user-7",
    )
    assert "top_k" not in body and "metadata" not in body


def test_stream_with_tools(client, http, upstream):
    calls = [("get_weather", '{"city": "Paris"}'), ("get_weather", '{"city": "Oslo"}')]
    upstream.script(ToolCalls(calls, text=["Checking", " both."], usage=(40, 12)))
    with client.messages.stream(
        model=PRICED, max_tokens=100, messages=HELLO, tools=[WEATHER]
    ) as stream:
        message = stream.get_final_message()
    assert [block.type for block in message.content] == ["text", "tool_use", "tool_use"]
    assert message.content[0].text == "Checking both."
    assert [block.input for block in message.content[1:]] == [{"city": "Paris"}, {"city": "Oslo"}]
    assert message.stop_reason == "tool_use" and message.model == PRICED
    assert (message.usage.input_tokens, message.usage.output_tokens) == (40, 12)
    assert sent(upstream)["stream_options"] == {"include_usage": True}

    upstream.script(ToolCalls([("get_weather", '{"city": "Rome"}')], text=["Hm."], usage=(9, 4)))
    body = {"model": PRICED, "max_tokens": 100, "messages": HELLO, "tools": [WEATHER]}
    with http.stream("POST", "/v1/messages", json={**body, "stream": True}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["request-id"].startswith("req_")
        frames = events_of(response.read().decode())
    kinds = [
        name + (f":{data['delta']['type']}" if name == "content_block_delta" else "")
        for name, data in frames
    ]
    assert kinds == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta:text_delta",
        "content_block_stop",
        "content_block_start",
        *["content_block_delta:input_json_delta"] * 3,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = frames[0][1]["message"]
    assert start["usage"]["input_tokens"] > 0 and start["usage"]["output_tokens"] == 1
    assert (start["content"], start["stop_reason"], start["model"]) == ([], None, PRICED)
    assert frames[5][1] == {
        "type": "content_block_start",
        "index": 1,
        "content_block": {"type": "tool_use", "id": "call_3", "name": "get_weather", "input": {}},
    }
    arguments = "".join(data["delta"]["partial_json"] for _, data in frames[6:9])
    assert json.loads(arguments) == {"city": "Rome"}
    assert frames[-2][1]["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert frames[-2][1]["usage"]["output_tokens"] == 4
    assert frames[-2][1]["usage"]["input_tokens"] == 9


def test_count_tokens_is_answered_locally(client, upstream):
    plain = client.messages.count_tokens(model=PRICED, messages=HELLO)
    system = client.messages.count_tokens(model=PRICED, messages=HELLO, system="Be brief. " * 50)
    tools = client.messages.count_tokens(model=PRICED, messages=HELLO, tools=[WEATHER])
    assert 0 < plain.input_tokens < tools.input_tokens
    assert system.input_tokens > plain.input_tokens + 100
    assert upstream.requests == []


def test_errors_before_the_answer_are_anthropic_shaped(gateway_url, gw_admin, client, upstream):
    with (
        anthropic.Anthropic(base_url=gateway_url, api_key="sk-nope", max_retries=0) as stranger,
        pytest.raises(anthropic.AuthenticationError) as failed,
    ):
        stranger.messages.create(model=PRICED, max_tokens=5, messages=HELLO)
    body = failed.value.body
    assert body["type"] == "error" and body["error"]["type"] == "authentication_error"
    assert body["request_id"] == failed.value.response.headers["request-id"]

    narrow = make_key(gw_admin, models=["gpt-test"])["key"]
    with (
        anthropic.Anthropic(base_url=gateway_url, api_key=narrow, max_retries=0) as limited,
        pytest.raises(anthropic.PermissionDeniedError) as failed,
    ):
        limited.messages.create(model=PRICED, max_tokens=5, messages=HELLO)
    assert failed.value.body["error"]["type"] == "permission_error"
    elsewhere = make_key(gw_admin, ip_allowlist=["10.1.0.0/16"])["key"]
    with (
        anthropic.Anthropic(base_url=gateway_url, api_key=elsewhere, max_retries=0) as outside,
        pytest.raises(anthropic.PermissionDeniedError),
    ):
        outside.messages.count_tokens(model=PRICED, messages=HELLO)

    upstream.script(Fail(500))
    with pytest.raises(anthropic.InternalServerError) as failed:
        client.messages.create(model=PRICED, max_tokens=5, messages=HELLO)
    assert failed.value.body["error"]["type"] == "api_error"
    assert failed.value.body["error"]["message"].endswith("error 500.")
    for bad in ({"messages": HELLO}, {"messages": "Hello", "max_tokens": 5}):
        with pytest.raises(anthropic.BadRequestError) as failed:
            client.post("/v1/messages", cast_to=httpx.Response, body={"model": PRICED, **bad})
        assert failed.value.body["error"]["type"] == "invalid_request_error"
    assert len(upstream.requests) == 1  # bad bodies never reach it


def test_a_model_falls_back_before_any_byte(client, upstream):
    upstream.script(Fail(503), Text(["from the fallback"]), Fail(502), Text(["streamed"]))
    message = client.messages.create(model="falls-back", max_tokens=5, messages=HELLO)
    assert (message.content[0].text, message.model) == ("from the fallback", "falls-back")
    with client.messages.stream(model="falls-back", max_tokens=5, messages=HELLO) as stream:
        assert stream.get_final_text() == "streamed"
    assert [r["model"] for r in upstream.requests] == ["gpt-primary", "gpt-test"] * 2


def test_rate_limits_are_rate_limit_errors_with_retry_after(gateway_url, gw_admin, upstream):
    key = make_key(gw_admin, rpm=1)["key"]
    with anthropic.Anthropic(base_url=gateway_url, api_key=key, max_retries=0) as client:
        client.messages.create(model=PRICED, max_tokens=5, messages=HELLO)
        with pytest.raises(anthropic.RateLimitError) as failed:
            client.messages.create(model=PRICED, max_tokens=5, messages=HELLO)
    assert failed.value.body["error"]["type"] == "rate_limit_error"
    assert int(failed.value.response.headers["retry-after"]) >= 1


def test_failures_mid_stream_are_error_events(client, http, upstream, monkeypatch):
    for mode in ("reset", "eof", "garbage"):
        upstream.script(Broken(["partial"], mode=mode))
        with (
            pytest.raises(anthropic.APIStatusError) as failed,
            client.messages.stream(model=PRICED, max_tokens=9, messages=HELLO) as stream,
        ):
            stream.get_final_message()
        assert failed.value.status_code == 200, mode
        assert failed.value.body["error"]["type"] == "api_error"
    upstream.script(Broken(["partial"], mode="eof"))
    body = {"model": PRICED, "max_tokens": 9, "messages": HELLO, "stream": True}
    frames = events_of(http.post("/v1/messages", json=body).text)
    assert [name for name, _ in frames][-2:] == ["content_block_delta", "error"]
    # A silent upstream: pings keep the connection alive.
    monkeypatch.setattr(translated, "PING_SECONDS", 0.1)
    upstream.script(Slow(Text(["a", "b"]), chunk_delay=0.35))
    names = [name for name, _ in events_of(http.post("/v1/messages", json=body).text)]
    assert names.count("ping") >= 3 and names[-1] == "message_stop"


def test_both_key_headers_unknown_fields_and_betas(gateway_url, key, client, upstream):
    body = {
        "model": PRICED,
        "max_tokens": 5,
        "messages": HELLO,
        "a_field_from_the_future": {"nested": [1]},
        "context_management": {"edits": []},
        "service_tier": "auto",
    }
    headers = {"anthropic-version": "2099-01-01", "anthropic-beta": "no-such-beta-2030-01-01"}
    for auth in ({"x-api-key": key}, {"authorization": f"Bearer {key}"}):
        response = httpx.post(
            f"{gateway_url}/v1/messages?beta=true", json=body, headers={**headers, **auth}
        )
        assert response.status_code == 200, response.text
    assert "a_field_from_the_future" not in upstream.requests[0]
    assert "anthropic-beta" not in upstream.requests[0]["_headers"]
    assert [model.id for model in client.models.list()].count(PRICED) == 1
    models = httpx.get(f"{gateway_url}/v1/models", headers={"x-api-key": key})  # Claude Code's
    assert models.status_code == 200 and PRICED in [model["id"] for model in models.json()["data"]]


def test_usage_cost_and_the_request_log(gateway_url, gw_admin, upstream):
    created = make_key(gw_admin)
    upstream.script(Text(["a"], usage=(100, 20)), Text(["b"], usage=(50, 10)))
    with anthropic.Anthropic(base_url=gateway_url, api_key=created["key"], max_retries=0) as client:
        raw = client.messages.with_raw_response.create(model=PRICED, max_tokens=9, messages=HELLO)
        with client.messages.stream(model=PRICED, max_tokens=9, messages=HELLO) as stream:
            stream.get_final_message()
    assert Decimal(raw.headers["x-threadline-cost"]) == Decimal(str(cost_of(100, 20)))
    report = gw_admin.get(
        "/admin/usage", params={"project": created["project"], "group_by": "meter,model"}
    ).json()
    [row] = report["data"]
    assert (row["meter"], row["model"], row["requests"]) == ("messages", PRICED, 2)
    assert (row["input_tokens"], row["output_tokens"]) == (150, 30)
    assert Decimal(row["cost_usd"]) == Decimal(str(cost_of(150, 30)))
    logs = gw_admin.get("/admin/logs", params={"project": created["project"]}).json()["data"]
    line = next(entry for entry in logs if entry["id"] == raw.headers["request-id"])
    assert (line["path"], line["status"], line["model"]) == ("/v1/messages", 200, PRICED)
    assert (line["input_tokens"], line["output_tokens"]) == (100, 20)


def test_claude_codes_request_pattern(gateway_url, key, upstream):
    """``?beta=true``, betas, x-api-key, a large max_tokens, cache_control everywhere, thinking
    asked for and thinking blocks sent back, a streamed answer."""
    cached = {"cache_control": {"type": "ephemeral"}}
    body = {
        "model": PRICED,
        "max_tokens": 32000,
        "stream": True,
        "thinking": {"type": "enabled", "budget_tokens": 10000},
        "metadata": {"user_id": "user_abc_account__session_1"},
        "system": [
            {"type": "text", "text": "You are Claude Code.", **cached},
            {"type": "text", "text": "Be concise.", **cached},
        ],
        "tools": [{**WEATHER, **cached}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Weather?", **cached}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "Weather, then.", "signature": "c2ln"},
                    {"type": "redacted_thinking", "data": "b3BhcXVl"},
                    tool_use("toolu_01", "Paris"),
                ],
            },
            {"role": "user", "content": [tool_result("toolu_01", "sunny", **cached)]},
        ],
    }
    headers = {
        "x-api-key": key,
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14",
        "x-app": "cli",
        "user-agent": "claude-cli/2.0.0 (external, cli)",
    }
    response = httpx.post(
        f"{gateway_url}/v1/messages?beta=true", json=body, headers=headers, timeout=30
    )
    assert response.status_code == 200, response.text
    assert [name for name, _ in events_of(response.text)][-1] == "message_stop"
    request = sent(upstream)
    assert request["max_completion_tokens"] == 32000 and "reasoning_effort" not in request
    assert "cache_control" not in json.dumps(request) and "thinking" not in json.dumps(request)
    assert request["messages"][2:] == [
        {"role": "assistant", "content": None, "tool_calls": [tool_call("toolu_01", "Paris")]},
        {"role": "tool", "tool_call_id": "toolu_01", "content": "sunny"},
    ]


@pytest.mark.parametrize("stream", [False, True])
def test_answers_are_cached_for_keys_that_ask(gateway_url, gw_admin, upstream, stream):
    cached_key = make_key(gw_admin, cache_ttl=60)["key"]
    upstream.default(Text(["Cached", " once"]))
    body = {"model": PRICED, "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]}
    outcomes, texts = [], []
    with anthropic.Anthropic(base_url=gateway_url, api_key=cached_key, max_retries=0) as client:
        for _ in range(2):
            if stream:
                with client.messages.stream(**body) as events:
                    message = events.get_final_message()
                    outcomes.append(events.response.headers["x-threadline-cache"])
            else:
                raw = client.messages.with_raw_response.create(**body)
                message = raw.parse()
                outcomes.append(raw.headers["x-threadline-cache"])
            texts.append(message.content[0].text)
    assert outcomes == ["miss", "hit"]
    assert texts == ["Cached once", "Cached once"]
    assert len(upstream.requests) == 1
