"""A provider of kind ``anthropic`` behind the OpenAI-shaped endpoints, against the scripted
Anthropic upstream: chat completions (JSON and SSE, parameters, tools and their results, images,
usage with cached tokens, stop reasons, errors and retries, a fallback to an OpenAI-compatible
model), embeddings refused, an Assistants run (streamed text, a function call round trip) and a
Responses API call on the same engine, and their usage and cost in ``/admin/usage``."""

import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.anthropic_upstream import (
    Fail,
    ScriptedAnthropic,
    StreamError,
    Text,
    ToolUse,
    Usage,
)
from tests.gateway.conftest import MASTER_KEY, admin_client, make_key, raw, sdk
from tests.runs_helpers import WEATHER, run_id_of, sse_events, stream_run, streamed_text
from tests.servers import threaded_server
from tests.upstream import ScriptedUpstream
from tests.upstream import Text as OpenAIText
from threadline.settings import Settings

MODEL = "claude-test"
UPSTREAM_MODEL = "claude-sonnet-4-5"
KEY_ENV = "TL_TEST_ANTHROPIC_KEY"
OPENAI_KEY_ENV = "TL_TEST_ANTHROPIC_SUITE_OPENAI_KEY"
HELLO = [{"role": "user", "content": "Hello"}]


def _config(anthropic: ScriptedAnthropic, upstream: ScriptedUpstream) -> str:
    return f"""
providers:
  claude:
    kind: anthropic
    base_url: {anthropic.base_url}
    api_key_env: {KEY_ENV}
    max_retries: 1
  scripted:
    base_url: {upstream.base_url}
    api_key_env: {OPENAI_KEY_ENV}
    max_retries: 0
models:
  {MODEL}:
    provider: claude
    upstream_model: {UPSTREAM_MODEL}
    prices: {{input_per_million: 1000, output_per_million: 2000}}
  claude-then-gpt:
    provider: claude
    upstream_model: claude-primary
    fallbacks: [gpt-backup]
  gpt-backup:
    provider: scripted
    upstream_model: gpt-test
"""


@pytest.fixture(scope="module")
def claude_url(
    anthropic_upstream_server: ScriptedAnthropic,
    upstream_server: ScriptedUpstream,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp("claude-gateway")
    config = tmp / "threadline.yaml"
    config.write_text(_config(anthropic_upstream_server, upstream_server))
    os.environ[KEY_ENV] = anthropic_upstream_server.api_key
    os.environ[OPENAI_KEY_ENV] = upstream_server.api_key
    settings = Settings(
        data_dir=tmp,
        database_url=f"sqlite+aiosqlite:///{tmp / 'threadline.db'}",
        master_key=MASTER_KEY,
        config=config,
        upstream_max_retries=0,
        upstream_max_retry_wait=2.0,  # a longer retry-after is not waited for
        request_log_flush_seconds=0.2,
    )
    with threaded_server(settings) as url:
        yield url


@pytest.fixture
def key(claude_url: str) -> dict[str, Any]:
    with admin_client(claude_url) as admin:
        return make_key(admin)


@pytest.fixture
def client(claude_url: str, key: dict[str, Any]) -> Iterator[openai.OpenAI]:
    with sdk(claude_url, key["key"]) as client:
        yield client


@pytest.fixture
def http(claude_url: str, key: dict[str, Any]) -> Iterator[httpx.Client]:
    with raw(claude_url, key["key"]) as client:
        yield client


def _sent(anthropic: ScriptedAnthropic, index: int = -1) -> dict[str, Any]:
    return {k: v for k, v in anthropic.requests[index].items() if not k.startswith("_")}


# --- chat completions ------------------------------------------------------------------------


def test_chat_completion_json(client, anthropic_upstream):
    anthropic_upstream.script(Text(["Bonjour", " !"], usage=Usage(12, 3, 4, 1)))
    response = client.chat.completions.with_raw_response.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            *HELLO,
        ],
        max_completion_tokens=100,
        temperature=1.5,
        top_p=0.9,
        stop=["\n\n", "END"],
        user="end-user-1",
    )
    completion = response.parse()
    assert completion.object == "chat.completion"
    assert completion.model == MODEL
    assert completion.choices[0].message.content == "Bonjour !"
    assert completion.choices[0].finish_reason == "stop"
    usage = completion.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (17, 3, 20)
    assert usage.prompt_tokens_details.cached_tokens == 4
    assert Decimal(response.headers["x-threadline-cost"]) == Decimal("0.023")
    [request] = anthropic_upstream.requests
    assert request["_path"] == "/v1/messages"
    assert request["_headers"]["x-api-key"] == anthropic_upstream.api_key
    assert request["_headers"]["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request["_headers"]
    assert _sent(anthropic_upstream) == {
        "model": UPSTREAM_MODEL,
        "max_tokens": 100,
        "system": [
            {"type": "text", "text": "Be brief."},
            {"type": "text", "text": "Answer in French."},
        ],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}],
        "stop_sequences": ["\n\n", "END"],
        "temperature": 1.0,  # OpenAI's 0-2 range held to Anthropic's 0-1
        "top_p": 0.9,
        "metadata": {"user_id": "end-user-1"},
    }


def test_max_tokens_default_and_legacy_name(client, anthropic_upstream):
    client.chat.completions.create(model=MODEL, messages=HELLO)
    client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=77)
    assert [r["max_tokens"] for r in anthropic_upstream.requests] == [4096, 77]


def test_chat_completion_stream(client, http, anthropic_upstream):
    anthropic_upstream.script(
        Text(["Hel", "lo", "!"], usage=Usage(20, 6, cache_read_input_tokens=8)), Text(["Hi"])
    )
    stream = client.chat.completions.create(
        model=MODEL, messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello!"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert {c.id for c in chunks} == {chunks[0].id} and chunks[0].id.startswith("chatcmpl-")
    assert all(c.object == "chat.completion.chunk" and c.model == MODEL for c in chunks)
    last = chunks[-1]
    assert last.choices == []
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (28, 6)
    assert last.usage.prompt_tokens_details.cached_tokens == 8
    assert anthropic_upstream.requests[0]["stream"] is True
    # On the wire: SSE frames ending in [DONE]; no usage chunk unless asked for.
    body = {"model": MODEL, "messages": HELLO, "stream": True}
    with http.stream("POST", "/chat/completions", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = list(sse_events(response))
    assert events[-1].data == "[DONE]"
    assert all('"usage"' not in event.data for event in events)


def test_tools_and_tool_results_round_trip(client, anthropic_upstream):
    anthropic_upstream.script(
        ToolUse(
            [("get_weather", '{"city": "Paris"}'), ("get_weather", '{"city": "Rome"}')],
            text=["Checking."],
        ),
        Text(["Sunny in both."]),
    )
    tools = [WEATHER]
    first = client.chat.completions.create(
        model=MODEL, messages=HELLO, tools=tools, tool_choice="required", parallel_tool_calls=True
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Checking."
    calls = choice.message.tool_calls
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        ("toolu_1", "get_weather", '{"city":"Paris"}'),
        ("toolu_2", "get_weather", '{"city":"Rome"}'),
    ]
    sent = _sent(anthropic_upstream)
    assert sent["tools"] == [
        {
            "name": "get_weather",
            "description": "The weather in a city.",
            "input_schema": WEATHER["function"]["parameters"],
        }
    ]
    assert sent["tool_choice"] == {"type": "any"}
    second = client.chat.completions.create(
        model=MODEL,
        tools=tools,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False,
        messages=[
            *HELLO,
            choice.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
            {
                "role": "tool",
                "tool_call_id": "toolu_2",
                "content": [{"type": "text", "text": "hot"}],
            },
            {"role": "user", "content": "And tomorrow?"},
        ],
    )
    assert second.choices[0].message.content == "Sunny in both."
    sent = _sent(anthropic_upstream)
    assert sent["tool_choice"] == {
        "type": "tool",
        "name": "get_weather",
        "disable_parallel_tool_use": True,
    }
    assert sent["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_2",
                    "name": "get_weather",
                    "input": {"city": "Rome"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "hot"},
                {"type": "text", "text": "And tomorrow?"},
            ],
        },
    ]


def test_streamed_tool_calls(client, anthropic_upstream):
    anthropic_upstream.script(ToolUse([("get_weather", '{"city": "Paris"}')], split=4))
    chunks = list(
        client.chat.completions.create(model=MODEL, messages=HELLO, tools=[WEATHER], stream=True)
    )
    fragments = [call for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or []]
    assert (fragments[0].id, fragments[0].function.name) == ("toolu_1", "get_weather")
    assert "".join(f.function.arguments or "" for f in fragments) == '{"city": "Paris"}'
    assert {f.index for f in fragments} == {0}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_images(client, anthropic_upstream):
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}},
    ]
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": content}])
    [turn] = _sent(anthropic_upstream)["messages"]
    assert turn["content"] == [
        {"type": "text", "text": "What is this?"},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
        },
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


@pytest.mark.parametrize(
    ("reply", "finish"),
    [
        (Text(["cut"], stop_reason="max_tokens"), "length"),
        (Text(["a"], stop_reason="stop_sequence", stop_sequence="END"), "stop"),
        (Text(["no"], stop_reason="refusal"), "content_filter"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_stop_reasons(client, anthropic_upstream, reply, finish, stream):
    anthropic_upstream.script(reply)
    if stream:
        chunks = list(client.chat.completions.create(model=MODEL, messages=HELLO, stream=True))
        assert chunks[-1].choices[0].finish_reason == finish
    else:
        completion = client.chat.completions.create(model=MODEL, messages=HELLO)
        assert completion.choices[0].finish_reason == finish


def test_overloaded_is_retried_then_a_503(client, anthropic_upstream):
    anthropic_upstream.script(Fail(529), Text(["after a retry"]))
    completion = client.chat.completions.create(model=MODEL, messages=HELLO)
    assert completion.choices[0].message.content == "after a retry"
    anthropic_upstream.script(Fail(529), Fail(529, "Overloaded"))
    with pytest.raises(openai.InternalServerError) as failed:
        client.chat.completions.create(model=MODEL, messages=HELLO, stream=True)
    assert failed.value.status_code == 503
    assert failed.value.body["type"] == "server_error"
    assert failed.value.code == "upstream_overloaded"
    assert "Overloaded" in failed.value.message
    assert len(anthropic_upstream.requests) == 4


def test_client_errors_pass_as_openai_errors(client, http, anthropic_upstream):
    anthropic_upstream.script(Fail(400, "messages.0: bad request"))
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model=MODEL, messages=HELLO)
    assert bad.value.body["type"] == "invalid_request_error"
    assert "messages.0: bad request" in bad.value.message
    anthropic_upstream.script(Fail(429, "slow down", headers={"retry-after": "30"}))
    response = http.post("/chat/completions", json={"model": MODEL, "messages": HELLO})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "30"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    anthropic_upstream.script(Fail(500))
    response = http.post("/chat/completions", json={"model": MODEL, "messages": HELLO})
    assert response.status_code == 502
    assert len(anthropic_upstream.requests) == 3  # 429 (long retry-after) and 500: no retry


def test_untranslatable_request_is_a_400_not_sent(http, anthropic_upstream):
    audio = {"type": "input_audio", "input_audio": {"data": "AA==", "format": "wav"}}
    ftp = {"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}
    ftp_param = "messages[0].content[0].image_url.url"
    for body, param in [
        ({"n": 2}, "n"),
        ({"messages": [{"role": "user", "content": [audio]}]}, "messages[0].content[0].type"),
        ({"messages": [{"role": "user", "content": [ftp]}]}, ftp_param),
    ]:
        response = http.post("/chat/completions", json={"model": MODEL, "messages": HELLO, **body})
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == param
    assert anthropic_upstream.requests == []


def test_error_mid_stream(client, anthropic_upstream):
    anthropic_upstream.script(StreamError(["partial "]))
    stream = client.chat.completions.create(model=MODEL, messages=HELLO, stream=True)
    received = []
    with pytest.raises(openai.APIError) as failed:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "partial "
    assert "Overloaded" in failed.value.message


def test_fallback_to_an_openai_compatible_model(client, anthropic_upstream, upstream):
    anthropic_upstream.script(Fail(529), Fail(529))
    upstream.script(OpenAIText(["from gpt"]), OpenAIText(["streamed", " gpt"]))
    completion = client.chat.completions.create(model="claude-then-gpt", messages=HELLO)
    assert completion.choices[0].message.content == "from gpt"
    assert [r["model"] for r in upstream.requests] == ["gpt-test"]
    anthropic_upstream.script(Fail(529), Fail(529))
    chunks = client.chat.completions.create(model="claude-then-gpt", messages=HELLO, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "streamed gpt"


def test_embeddings_are_a_clear_400(client, anthropic_upstream):
    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model=MODEL, input="hello")
    assert refused.value.param == "model"
    assert "no embeddings API" in refused.value.message
    assert anthropic_upstream.requests == []


# --- runs and responses ----------------------------------------------------------------------


def test_streamed_run(client, http, anthropic_upstream):
    anthropic_upstream.script(Text(["It is ", "sunny."], usage=Usage(30, 4)))
    assistant = client.beta.assistants.create(model=MODEL, instructions="You are terse.")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Weather?"}])
    events = stream_run(http, thread.id, {"assistant_id": assistant.id})
    assert streamed_text(events) == "It is sunny."
    run = client.beta.threads.runs.retrieve(run_id_of(events), thread_id=thread.id)
    assert run.status == "completed"
    assert (run.usage.prompt_tokens, run.usage.completion_tokens) == (30, 4)
    sent = _sent(anthropic_upstream)
    assert sent["model"] == UPSTREAM_MODEL and sent["stream"] is True
    assert sent["system"] == [{"type": "text", "text": "You are terse."}]
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Weather?"}]}]


def test_run_function_call_round_trip(client, anthropic_upstream):
    anthropic_upstream.script(
        ToolUse([("get_weather", '{"city": "Paris"}')]), Text(["Sunny in Paris."])
    )
    assistant = client.beta.assistants.create(model=MODEL, tools=[WEATHER])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Weather?"}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=50
    )
    assert run.status == "requires_action", run.last_error
    [call] = run.required_action.submit_tool_outputs.tool_calls
    assert (call.function.name, call.function.arguments) == ("get_weather", '{"city": "Paris"}')
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=thread.id,
        tool_outputs=[{"tool_call_id": call.id, "output": "22C"}],
        poll_interval_ms=50,
    )
    assert run.status == "completed", run.last_error
    [answer, _] = client.beta.threads.messages.list(thread.id)
    assert answer.content[0].text.value == "Sunny in Paris."
    assistant_turn, results = _sent(anthropic_upstream)["messages"][1:]
    [use] = assistant_turn["content"]
    assert (use["type"], use["name"], use["input"]) == (
        "tool_use",
        "get_weather",
        {"city": "Paris"},
    )
    assert results == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": use["id"], "content": "22C"}],
    }


def test_run_fails_cleanly_on_a_rejected_request(client, anthropic_upstream):
    anthropic_upstream.script(Fail(400, "prompt is too long: 300000 tokens > 200000 maximum"))
    assistant = client.beta.assistants.create(model=MODEL)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=50
    )
    assert run.status == "failed"
    assert run.last_error.code == "invalid_prompt"
    assert "prompt is too long" in run.last_error.message


def test_responses_api(client, anthropic_upstream):
    anthropic_upstream.script(Text(["Paris."], usage=Usage(9, 2)), Text(["Still Paris."]))
    response = client.responses.create(
        model=MODEL, input="Capital of France?", instructions="One word."
    )
    assert response.status == "completed"
    assert response.output_text == "Paris."
    assert (response.usage.input_tokens, response.usage.output_tokens) == (9, 2)
    follow_up = client.responses.create(
        model=MODEL, input="Sure?", previous_response_id=response.id
    )
    assert follow_up.output_text == "Still Paris."
    assert [m["role"] for m in _sent(anthropic_upstream)["messages"]] == [
        "user",
        "assistant",
        "user",
    ]


def test_usage_and_cost_are_recorded(claude_url, key, anthropic_upstream):
    anthropic_upstream.script(
        Text(["a"], usage=Usage(100, 20)),
        Text(["b"], usage=Usage(50, 10, cache_read_input_tokens=50)),
        Text(["c"], usage=Usage(10, 5)),
        Text(["d"], usage=Usage(7, 3)),
    )
    with sdk(claude_url, key["key"]) as client:
        answered = client.chat.completions.with_raw_response.create(model=MODEL, messages=HELLO)
        list(client.chat.completions.create(model=MODEL, messages=HELLO, stream=True))
        assistant = client.beta.assistants.create(model=MODEL)
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=50
        )
        assert run.status == "completed"
        assert client.responses.create(model=MODEL, input="Hi").status == "completed"
    with admin_client(claude_url) as admin:
        params = {"project": key["project"], "group_by": "model,meter"}
        report = admin.get("/admin/usage", params=params).json()
        logs = admin.get("/admin/logs", params={"project": key["project"]}).json()["data"]
    [line] = [e for e in logs if e["id"] == answered.headers["x-threadline-request-id"]]
    assert (line["path"], line["status"], line["model"]) == ("/v1/chat/completions", 200, MODEL)
    assert (line["input_tokens"], line["output_tokens"]) == (100, 20)
    assert Decimal(line["cost_usd"]) == Decimal("0.14")
    rows = {row["meter"]: row for row in report["data"]}
    chat, runs, responses = rows["chat.completions"], rows["runs"], rows["responses"]
    assert (chat["model"], chat["requests"]) == (MODEL, 2)
    assert (chat["input_tokens"], chat["output_tokens"]) == (200, 30)
    assert Decimal(chat["cost_usd"]) == Decimal("0.26")
    assert (runs["model"], runs["input_tokens"], runs["output_tokens"]) == (MODEL, 10, 5)
    assert Decimal(runs["cost_usd"]) == Decimal("0.02")
    assert responses["model"] == MODEL
    assert (responses["input_tokens"], responses["output_tokens"]) == (7, 3)


def test_secret_key_never_reaches_the_client(http, anthropic_upstream):
    secret = anthropic_upstream.api_key
    anthropic_upstream.script(Fail(400, f"bad key {secret} in request"))
    response = http.post("/chat/completions", json={"model": MODEL, "messages": HELLO})
    assert response.status_code == 400
    assert secret not in response.text
    assert response.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("stream", [False, True])
def test_a_translated_answer_is_cached_like_any_other(claude_url, anthropic_upstream, stream):
    with admin_client(claude_url) as admin:
        cached_key = make_key(admin, cache_ttl=60)
    anthropic_upstream.default(Text(["Cached", " once"]))
    answers = []
    with sdk(claude_url, cached_key["key"]) as client:
        for _ in range(2):
            response = client.chat.completions.with_raw_response.create(
                model=MODEL, messages=HELLO, stream=stream
            )
            parsed = response.parse()
            if stream:
                text = "".join(c.choices[0].delta.content or "" for c in parsed if c.choices)
            else:
                text = parsed.choices[0].message.content
            answers.append((response.headers["x-threadline-cache"], text))
    assert [outcome for outcome, _ in answers] == ["miss", "hit"]
    assert answers[0][1] == answers[1][1]
    assert len(anthropic_upstream.requests) == 1
