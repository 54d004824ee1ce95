"""Pass-through bodies are checked against the spec's request schemas before anything is sent
upstream: a malformed body is the client's 400 ``invalid_request_error`` naming the field, never
an upstream's 500, however deep or large; explicit nulls the spec allows and unknown top-level
fields (vendor extensions) go through. And the pass-through's retries: a 500 is asked once,
503/429 are retried, ``x-should-retry: false`` is obeyed."""

from typing import Any

import httpx
import openai
import pytest

from tests.gateway.conftest import PRICED, RETRIED, make_key, raw, sdk
from tests.upstream import Fail, Text

MESSAGES = [{"role": "user", "content": "Hello"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture
def key(gw_admin: httpx.Client) -> str:
    return str(make_key(gw_admin)["key"])


@pytest.fixture
def http(gateway_url: str, key: str) -> Any:
    with raw(gateway_url, key) as client:
        yield client


def nested(depth: int) -> str:
    """JSON text of objects nested ``depth`` levels deep (too deep for ``json.dumps``)."""
    return '{"a": ' * (depth - 1) + "{}" + "}" * (depth - 1)


def deep_array(depth: int) -> str:
    return "[" * depth + "]" * depth


def post_text(http: httpx.Client, path: str, text: str) -> httpx.Response:
    return http.post(path, content=text, headers={"content-type": "application/json"})


def assert_refused(response: httpx.Response, param: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param, error
    assert error["message"]


CASES = [
    ({"model": PRICED, "messages": "hi"}, "messages"),
    ({"model": PRICED}, "messages"),
    ({"model": PRICED, "messages": []}, "messages"),
    ({"model": PRICED, "messages": [{"role": "bogus", "content": "x"}]}, "messages[0].role"),
    ({"model": PRICED, "messages": [{"content": "x"}]}, "messages[0].role"),
    ({"model": PRICED, "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    (
        {"model": PRICED, "messages": [{"role": "user", "content": [{"type": "text"}]}]},
        "messages[0].content[0].text",
    ),
    ({"model": PRICED, "messages": MESSAGES, "temperature": "hot"}, "temperature"),
    ({"model": PRICED, "messages": MESSAGES, "temperature": 2.5}, "temperature"),
    ({"model": PRICED, "messages": MESSAGES, "temperature": True}, "temperature"),
    ({"model": PRICED, "messages": MESSAGES, "stream": "yes"}, "stream"),
    ({"model": PRICED, "messages": MESSAGES, "tools": {"type": "function"}}, "tools"),
    ({"model": PRICED, "messages": MESSAGES, "tools": ["get_weather"]}, "tools[0]"),
    (
        {"model": PRICED, "messages": MESSAGES, "tools": [{"type": "function", "function": {}}]},
        "tools[0].function.name",
    ),
    (
        {
            "model": PRICED,
            "messages": MESSAGES,
            "tools": [{"type": "function", "function": {"name": 7}}],
        },
        "tools[0].function.name",
    ),
    ({"model": PRICED, "messages": MESSAGES, "tool_choice": "sometimes"}, "tool_choice"),
    ({"model": PRICED, "messages": MESSAGES, "max_tokens": 1.5}, "max_tokens"),
    ({"model": PRICED, "messages": MESSAGES, "stop": ["a", "b", "c", "d", "e"]}, "stop"),
]


@pytest.mark.parametrize(("body", "param"), CASES, ids=[param for _, param in CASES])
def test_a_body_breaking_the_schema_is_a_400_and_nothing_is_sent(http, upstream, body, param):
    assert_refused(http.post("/chat/completions", json=body), param)
    assert upstream.requests == []


def test_a_missing_model_is_a_400(http, upstream):
    assert_refused(http.post("/chat/completions", json={"messages": MESSAGES}), "model")
    assert upstream.requests == []


@pytest.mark.parametrize("depth", [65, 1000])
def test_deeply_nested_tools_are_a_400_never_a_500(http, upstream, depth):
    start = f'{{"model": "{PRICED}", "messages": [{{"role": "user", "content": "Hi"}}], '
    function = f'{{"name": "f", "parameters": {nested(depth)}}}'
    text = start + f'"tools": [{{"type": "function", "function": {function}}}]}}'
    assert_refused(post_text(http, "/chat/completions", text), "tools[0].function.parameters")
    text = start + f'"tools": {deep_array(depth)}}}'
    assert_refused(post_text(http, "/chat/completions", text), "tools[0]")
    text = start + f'"vendor_extension": {nested(depth)}}}'
    assert_refused(post_text(http, "/chat/completions", text), "vendor_extension")
    assert upstream.requests == []


def test_nesting_up_to_the_bound_is_forwarded(http, upstream):
    start = f'{{"model": "{PRICED}", "messages": [{{"role": "user", "content": "Hi"}}], '
    function = f'{{"name": "f", "parameters": {nested(64)}}}'
    text = start + f'"tools": [{{"type": "function", "function": {function}}}]}}'
    response = post_text(http, "/chat/completions", text)
    assert response.status_code == 200, response.text
    assert len(upstream.requests) == 1


def test_nesting_deeper_than_the_json_parser_allows_is_a_400(http, upstream):
    text = f'{{"model": "{PRICED}", "messages": [], "tools": {deep_array(10_000)}}}'
    response = post_text(http, "/chat/completions", text)
    assert response.status_code == 400, response.text
    assert upstream.requests == []


def test_explicit_nulls_and_unknown_fields_are_forwarded(http, upstream):
    tool_call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    body = {
        "model": "gpt-test",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
            {"role": "assistant", "content": None, "tool_calls": [tool_call]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ],
        "tools": [WEATHER],
        "temperature": None,
        "top_p": None,
        "max_tokens": None,
        "stop": None,
        "stream": None,
        "stream_options": None,
        "seed": None,
        "metadata": None,
        "reasoning_effort": None,
        "user": None,  # not nullable in the spec; libraries send it all the same
        "top_k": 40,  # a vendor extension
        "chat_template_kwargs": {"enable_thinking": False},
    }
    response = http.post("/chat/completions", json=body)
    assert response.status_code == 200, response.text
    [sent] = upstream.requests
    assert {k: v for k, v in sent.items() if not k.startswith("_")} == body


def test_the_sdk_with_tools_and_every_common_parameter_passes(gateway_url, key, upstream):
    with sdk(gateway_url, key) as client:
        completion = client.chat.completions.create(
            model=PRICED,
            messages=[{"role": "user", "content": "Hi"}],
            tools=[WEATHER],
            tool_choice="auto",
            temperature=0.2,
            max_completion_tokens=50,
            response_format={"type": "text"},
            stream_options=None,
        )
    assert completion.choices[0].message.content
    assert len(upstream.requests) == 1


def test_embeddings_bodies_are_checked_too(http, upstream):
    for body, param in (
        ({"model": "embed-model"}, "input"),
        ({"model": "embed-model", "input": []}, "input"),
        ({"model": "embed-model", "input": [1, "two"]}, "input[0]"),
        ({"model": "embed-model", "input": "x", "dimensions": 0}, "dimensions"),
    ):
        assert_refused(http.post("/embeddings", json=body), param)
    assert upstream.requests == []
    body = {"model": "embed-model", "input": ["one"], "encoding_format": "float", "extra": 1}
    assert http.post("/embeddings", json=body).status_code == 200
    assert len(upstream.requests) == 1


# --- retries ------------------------------------------------------------------------------------


def test_an_upstream_500_is_asked_once(http, upstream):
    upstream.script(Fail(500), Text(["never asked"]))
    response = http.post("/chat/completions", json={"model": RETRIED, "messages": MESSAGES})
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"
    assert len(upstream.requests) == 1


@pytest.mark.parametrize("status", [503, 429, 502])
def test_503_429_502_are_retried(http, upstream, status):
    upstream.script(Fail(status, headers={"retry-after": "0"}), Text(["second time"]))
    response = http.post("/chat/completions", json={"model": RETRIED, "messages": MESSAGES})
    assert response.status_code == 200, response.text
    assert len(upstream.requests) == 2


def test_x_should_retry_false_is_obeyed(http, upstream):
    upstream.script(Fail(503, headers={"x-should-retry": "false"}), Text(["never asked"]))
    response = http.post("/chat/completions", json={"model": RETRIED, "messages": MESSAGES})
    assert response.status_code == 503
    assert response.headers["x-should-retry"] == "false"  # passed on to the client
    assert len(upstream.requests) == 1


def test_a_client_error_is_never_retried(gateway_url, key, upstream):
    upstream.script(Fail(400), Text(["never asked"]))
    with sdk(gateway_url, key) as client, pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=RETRIED, messages=MESSAGES)
    assert len(upstream.requests) == 1
