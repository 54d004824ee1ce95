"""The scripted Anthropic upstream (tests/anthropic_upstream.py) read by the official ``anthropic``
SDK: its messages and streams accumulate to the scripted answer, its errors raise the SDK's
classes by status, a mid-stream ``error`` event fails the stream, and it refuses what Anthropic
refuses (a wrong key, no ``anthropic-version``, no ``max_tokens``, an unanswered ``tool_use``)."""

from collections.abc import Iterator

import anthropic
import httpx
import pytest

from tests.anthropic_upstream import (
    Fail,
    ScriptedAnthropic,
    StreamError,
    Text,
    ToolUse,
    Truncated,
    Usage,
)

HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def sdk(anthropic_upstream: ScriptedAnthropic) -> Iterator[anthropic.Anthropic]:
    base_url = anthropic_upstream.base_url.removesuffix("/v1")
    with anthropic.Anthropic(
        base_url=base_url, api_key=anthropic_upstream.api_key, max_retries=0
    ) as client:
        yield client


def test_a_message_and_the_same_streamed(sdk, anthropic_upstream):
    reply = ToolUse(
        [("get_weather", '{"city": "Paris"}')], text=["Checking."], usage=Usage(412, 38)
    )
    anthropic_upstream.script(reply, reply)
    message = sdk.messages.create(model="claude-x", max_tokens=50, messages=HI)
    with sdk.messages.stream(model="claude-x", max_tokens=50, messages=HI) as stream:
        streamed = stream.get_final_message()
    assert (message.content[1].id, streamed.content[1].id) == ("toolu_1", "toolu_2")
    for answer in (message, streamed):
        assert answer.stop_reason == "tool_use"
        text, use = answer.content
        assert text.text == "Checking."
        assert (use.name, use.input) == ("get_weather", {"city": "Paris"})
        assert (answer.usage.input_tokens, answer.usage.output_tokens) == (412, 38)
    assert [r["stream"] for r in anthropic_upstream.requests if "stream" in r] == [True]


def test_stop_reasons_and_cache_usage(sdk, anthropic_upstream):
    anthropic_upstream.script(
        Text(["a"], stop_reason="stop_sequence", stop_sequence="END", usage=Usage(1, 2, 3, 4))
    )
    with sdk.messages.stream(model="m", max_tokens=5, messages=HI) as stream:
        answer = stream.get_final_message()
    assert (answer.stop_reason, answer.stop_sequence) == ("stop_sequence", "END")
    assert answer.usage.cache_read_input_tokens == 3
    assert answer.usage.cache_creation_input_tokens == 4


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, anthropic.BadRequestError),
        (401, anthropic.AuthenticationError),
        (429, anthropic.RateLimitError),
        (500, anthropic.InternalServerError),
        (529, anthropic.OverloadedError),
    ],
)
def test_errors(sdk, anthropic_upstream, status, error):
    anthropic_upstream.script(Fail(status, "scripted"))
    with pytest.raises(error) as failed:
        sdk.messages.create(model="m", max_tokens=5, messages=HI)
    assert failed.value.status_code == status
    assert failed.value.body["error"]["message"] == "scripted"
    assert failed.value.response.headers["request-id"].startswith("req_")


def test_a_failing_stream(sdk, anthropic_upstream):
    anthropic_upstream.script(StreamError(["part"]), Truncated(["cut"]))
    with (
        pytest.raises(anthropic.APIStatusError) as failed,
        sdk.messages.stream(model="m", max_tokens=5, messages=HI) as stream,
    ):
        stream.get_final_message()
    assert failed.value.body["error"]["type"] == "overloaded_error"
    with sdk.messages.stream(model="m", max_tokens=5, messages=HI) as stream:
        assert "".join(stream.text_stream) == "cut"


def test_what_anthropic_refuses(anthropic_upstream):
    url = f"{anthropic_upstream.base_url}/messages"
    good = {"x-api-key": anthropic_upstream.api_key, "anthropic-version": "2023-06-01"}
    body = {"model": "m", "max_tokens": 5, "messages": HI}
    use = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}
    unanswered = [*HI, {"role": "assistant", "content": [use]}, {"role": "user", "content": "?"}]
    cases = [
        ({**good, "x-api-key": "wrong"}, body, 401),
        ({"x-api-key": anthropic_upstream.api_key}, body, 400),
        (good, {"model": "m", "messages": HI}, 400),
        (good, {**body, "messages": unanswered}, 400),
        (good, {**body, "messages": [{"role": "user", "content": " "}]}, 400),
    ]
    for headers, payload, status in cases:
        response = httpx.post(url, headers=headers, json=payload)
        assert response.status_code == status, (payload, response.text)
        assert response.json()["type"] == "error"
    assert anthropic_upstream.pending == 0 and len(anthropic_upstream.requests) == len(cases)
    result = {"type": "tool_result", "tool_use_id": "toolu_1"}
    answered = [*unanswered[:2], {"role": "user", "content": [result]}]
    assert httpx.post(url, headers=good, json={**body, "messages": answered}).status_code == 200
    counted = httpx.post(f"{url}/count_tokens", headers=good, json=body)
    assert counted.json()["input_tokens"] > 0
