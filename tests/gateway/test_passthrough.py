"""Chat completions and embeddings through the gateway, against the scripted upstream: JSON and
streaming, tools, every parameter forwarded, the provider's key upstream (never the client's),
upstream errors passed on without secrets, retries and fallbacks before any byte reached the
client, and the cost of each response."""

import json
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest

from tests.gateway.conftest import PRICED, cost_of, make_key, raw, sdk
from tests.upstream import Broken, Fail, Slow, Text, ToolCalls

MESSAGES = [{"role": "user", "content": "Hello"}]


@pytest.fixture
def key(gw_admin: httpx.Client) -> str:
    return str(make_key(gw_admin)["key"])


@pytest.fixture
def client(gateway_url: str, key: str) -> Any:
    with sdk(gateway_url, key) as client:
        yield client


@pytest.fixture
def http(gateway_url: str, key: str) -> Any:
    with raw(gateway_url, key) as client:
        yield client


def test_chat_completion_with_the_sdk(client, upstream):
    upstream.script(Text(["Bonjour", " !"], usage=(12, 3)))
    completion = client.chat.completions.create(model=PRICED, messages=MESSAGES)
    assert completion.choices[0].message.content == "Bonjour !"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (12, 3)
    [sent] = upstream.requests
    assert sent["model"] == "gpt-test"  # the configured upstream id
    assert sent["messages"] == MESSAGES


def test_cost_header_and_request_id(http, upstream):
    upstream.script(Text(["ok"], usage=(100, 50)))
    response = http.post("/chat/completions", json={"model": PRICED, "messages": MESSAGES})
    assert response.status_code == 200, response.text
    assert Decimal(response.headers["x-threadline-cost"]) == Decimal(str(cost_of(100, 50)))
    assert response.headers["x-threadline-request-id"].startswith("req_")


def test_every_parameter_is_forwarded_unchanged(http, upstream):
    body = {
        "model": "gpt-test",
        "messages": MESSAGES,
        "temperature": 0.3,
        "top_p": 0.9,
        "n": 1,
        "seed": 7,
        "stop": ["\n\n"],
        "logit_bias": {"50256": -100},
        "user": "end-user-1",
        "response_format": {"type": "json_object"},
        "max_completion_tokens": 50,
        "metadata": {"a": "b"},
        "some_vendor_extension": {"nested": [1, 2, 3]},
    }
    assert http.post("/chat/completions", json=body).status_code == 200
    [sent] = upstream.requests
    assert {k: v for k, v in sent.items() if not k.startswith("_")} == body


def test_upstream_gets_the_provider_key_never_the_clients(http, key, upstream):
    http.post("/chat/completions", json={"model": PRICED, "messages": MESSAGES})
    http.post("/chat/completions", json={"model": "gpt-test", "messages": MESSAGES})
    for sent in upstream.requests:
        assert sent["_headers"]["authorization"] == f"Bearer {upstream.api_key}"
        assert key not in json.dumps(sent)


def test_streaming_with_the_sdk(client, upstream):
    upstream.script(Text(["a", "b", "c"], usage=(8, 3)))
    stream = client.chat.completions.create(model=PRICED, messages=MESSAGES, stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "abc"
    # The client did not ask for usage: the usage-only chunk the gateway asked for is removed.
    assert all(chunk.choices for chunk in chunks)
    assert upstream.requests[0]["stream_options"] == {"include_usage": True}


def test_streaming_with_usage_asked_is_forwarded_byte_for_byte(http, upstream):
    upstream.script(Text(["x", "y"], usage=(5, 2)))
    body = {
        "model": "gpt-test",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with http.stream("POST", "/chat/completions", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        text = response.read().decode()
    payloads = [line[6:] for line in text.split("\n") if line.startswith("data: ")]
    assert payloads[-1] == "[DONE]"
    assert json.loads(payloads[-2])["usage"]["prompt_tokens"] == 5


def test_tools_non_streaming_and_streaming(client, upstream):
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    upstream.script(ToolCalls([("get_weather", '{"city": "Paris"}')]))
    completion = client.chat.completions.create(
        model=PRICED, messages=MESSAGES, tools=tools, tool_choice="auto"
    )
    [call] = completion.choices[0].message.tool_calls
    assert (call.function.name, call.function.arguments) == ("get_weather", '{"city": "Paris"}')
    assert upstream.requests[0]["tools"] == tools
    assert upstream.requests[0]["tool_choice"] == "auto"

    upstream.script(ToolCalls([("get_weather", '{"city": "Rome"}')]))
    stream = client.chat.completions.create(
        model=PRICED, messages=MESSAGES, tools=tools, stream=True
    )
    arguments = "".join(
        c.choices[0].delta.tool_calls[0].function.arguments or ""
        for c in stream
        if c.choices and c.choices[0].delta.tool_calls
    )
    assert arguments == '{"city": "Rome"}'


def test_embeddings(client, upstream):
    result = client.embeddings.create(model="embed-model", input=["one two", "three"])
    assert len(result.data) == 2
    assert result.usage.prompt_tokens == 3
    [sent] = upstream.requests
    assert sent["model"] == "text-embedding-test"


def test_upstream_client_errors_are_passed_on(http, upstream):
    upstream.script(
        Fail(
            400,
            {
                "error": {
                    "message": "bad 'messages'",
                    "type": "invalid_request_error",
                    "param": "messages",
                    "code": "bad",
                }
            },
        )
    )
    response = http.post("/chat/completions", json={"model": PRICED, "messages": MESSAGES})
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": "bad 'messages'",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "bad",
        }
    }


def test_upstream_errors_never_echo_the_provider_key(http, upstream):
    echo = f"Incorrect API key provided: {upstream.api_key}. See https://example.invalid/keys"
    upstream.script(Fail(404, {"error": {"message": echo, "type": "invalid_request_error"}}))
    response = http.post("/chat/completions", json={"model": PRICED, "messages": MESSAGES})
    assert response.status_code == 404
    assert upstream.api_key not in response.text
    upstream.script(Fail(401))
    response = http.post("/chat/completions", json={"model": PRICED, "messages": MESSAGES})
    assert response.status_code == 502  # our key upstream is wrong: not the client's fault
    assert response.json()["error"]["code"] == "upstream_auth_failed"


def test_fallback_on_5xx_before_any_byte(client, upstream):
    upstream.script(Fail(503), Text(["from the fallback"]))
    completion = client.chat.completions.create(model="falls-back", messages=MESSAGES)
    assert completion.choices[0].message.content == "from the fallback"
    assert [r["model"] for r in upstream.requests] == ["gpt-primary", "gpt-test"]


def test_fallback_on_429_and_for_streams(client, upstream):
    upstream.script(Fail(429, headers={"retry-after": "0"}), Text(["fine"]))
    completion = client.chat.completions.create(model="falls-back", messages=MESSAGES)
    assert completion.choices[0].message.content == "fine"
    upstream.reset()
    upstream.script(Fail(502), Text(["streamed"]))
    stream = client.chat.completions.create(model="falls-back", messages=MESSAGES, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "streamed"


def test_fallback_when_the_provider_is_unreachable(client, upstream):
    completion = client.chat.completions.create(model="unreachable", messages=MESSAGES)
    assert completion.choices[0].message.content == "Hello world"


def test_every_attempt_failing_gives_the_last_error(http, upstream):
    upstream.script(Fail(500), Fail(503))
    response = http.post("/chat/completions", json={"model": "falls-back", "messages": MESSAGES})
    assert response.status_code == 503
    assert response.json()["error"]["type"] == "server_error"


def test_a_stream_broken_after_output_ends_with_an_error_event(client, upstream):
    upstream.script(Broken(["partial"], mode="reset"))
    stream = client.chat.completions.create(model="gpt-test", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass
    assert len(upstream.requests) == 1  # output had started: no retry, no fallback


def test_unknown_and_bad_requests_are_openai_shaped_400s(http):
    for body, param in (({"messages": MESSAGES}, "model"), ({"model": ""}, "model")):
        response = http.post("/chat/completions", json=body)
        assert response.status_code == 400
        assert response.json()["error"]["param"] == param
    response = http.post("/chat/completions", content=b"{nope", headers={"content-type": "x"})
    assert response.status_code == 400
    response = http.post("/chat/completions", json=[1, 2])
    assert response.status_code == 400


def test_models_lists_configured_and_upstream_models(client):
    names = {model.id for model in client.models.list()}
    assert {PRICED, "falls-back", "gpt-test"} <= names
    assert client.models.retrieve(PRICED).id == PRICED


def test_slow_upstream_keeps_streaming(client, upstream):
    upstream.script(Slow(Text(["s", "l", "o", "w"]), chunk_delay=0.05))
    stream = client.chat.completions.create(model="gpt-test", messages=MESSAGES, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "slow"
