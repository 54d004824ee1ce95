"""OpenTelemetry traces (docs/tracing.md), read from the SDK's in-memory exporter of a server
built with tracing on (``create_app(tracer=...)``), against the scripted upstream: the server
span of a request and the GenAI client span of its model call, both in the client's trace (its
``traceparent``), which the upstream is sent too; no message content unless captured; runs,
responses and tool calls; ``/v1/messages``' model calls (forwarded to an Anthropic provider, or
translated); and, with tracing off, no OpenTelemetry module loaded at all."""

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tests.anthropic_upstream import ScriptedAnthropic
from tests.anthropic_upstream import Text as AnthropicText
from tests.anthropic_upstream import Usage as AnthropicUsage
from tests.conftest import MASTER_KEY, sdk_client
from tests.servers import threaded_server
from tests.tool_servers import project_key
from tests.upstream import Fail, ScriptedUpstream, Text, ToolCalls
from threadline import __version__
from threadline.engine.tools.file_search import FileSearchTool
from threadline.settings import Settings
from threadline.telemetry import Tracer, TracingOptions, build_tracer

REPO = Path(__file__).resolve().parents[2]
CHAT_REQUEST = "POST /v1/chat/completions"
SEARCH = "execute_tool file_search"


@dataclass(frozen=True)
class Hit:
    file_id: str
    filename: str
    score: float
    text: str


class OneStore:
    """file_search over one stand-in store (retrieval has suites of its own)."""

    async def stores_for_run(self, project_id: str, resources: Any, thread_id: str) -> list[str]:
        return ["vs_one"]

    async def files_in_progress(self, project_id: str, store_ids: Sequence[str]) -> int:
        return 0

    async def search(self, project_id: str, store_ids: Any, queries: Any, **_: Any) -> list[Hit]:
        return [Hit("file-a", "a.txt", 0.9, "The pump runs at 40 bar.")]


@dataclass
class Traced:
    url: str
    key: str
    exporter: InMemorySpanExporter
    tracer: Tracer

    def spans(self, trace_id: int, *expected: str, timeout: float = 10.0) -> list[ReadableSpan]:
        """The trace's spans once those ``expected`` (names, repeated for as many) have ended:
        spans end just after their answer, or run, and are exported in the background."""
        deadline = time.monotonic() + timeout
        while True:
            self.tracer.flush()
            found = [
                span
                for span in self.exporter.get_finished_spans()
                if span.context is not None and span.context.trace_id == trace_id
            ]
            names = [span.name for span in found]
            if all(names.count(name) >= expected.count(name) for name in expected):
                return found
            assert time.monotonic() < deadline, f"{sorted(names)}, not all of {expected}"
            time.sleep(0.02)


@pytest.fixture(scope="module")
def traced(
    upstream_server: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Traced]:
    exporter = InMemorySpanExporter()
    tracer = build_tracer(TracingOptions(endpoint=None), version=__version__, exporter=exporter)
    data = tmp_path_factory.mktemp("traced")
    settings = Settings(
        data_dir=data,
        database_url=f"sqlite+aiosqlite:///{data / 'threadline.db'}",
        master_key=MASTER_KEY,
        upstream_base_url=upstream_server.base_url,
        upstream_api_key=upstream_server.api_key,
        upstream_max_retries=0,
    )
    tools = [FileSearchTool(OneStore())]
    with threaded_server(settings, server_tools=tools, tracer=tracer) as url:
        yield Traced(url, project_key(url), exporter, tracer)


def new_trace() -> tuple[str, int, int]:
    """A client's ``traceparent`` header: (header, trace id, the client's span id)."""
    trace_id, span_id = secrets.randbits(128) | 1, secrets.randbits(64) | 1
    return f"00-{trace_id:032x}-{span_id:016x}-01", trace_id, span_id


def http(traced: Traced, traceparent: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {traced.key}", "traceparent": traceparent}
    return httpx.Client(base_url=f"{traced.url}/v1", headers=headers, timeout=30)


def sdk(traced: Traced, traceparent: str) -> OpenAI:
    client = sdk_client(traced.url, traced.key)
    return client.with_options(default_headers={"traceparent": traceparent})


def named(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


def only(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = named(spans, name)
    assert len(found) == 1, [span.name for span in spans]
    return found[0]


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def every_text(spans: list[ReadableSpan]) -> str:
    """Everything the spans say: names, attributes, events and their attributes."""
    parts = []
    for span in spans:
        parts += [span.name, repr(dict(span.attributes or {}))]
        for event in span.events:
            parts += [event.name, repr(dict(event.attributes or {}))]
    return "\n".join(parts)


def test_a_chat_completion_is_a_server_span_with_its_model_call_under_it(
    traced: Traced, upstream: ScriptedUpstream
) -> None:
    traceparent, trace_id, client_span = new_trace()
    secret = f"secret-prompt-{secrets.token_hex(4)}"
    upstream.script(Text(["Bonjour", " le monde"], usage=(12, 7)))
    body = {
        "model": "gpt-test",
        "messages": [{"role": "user", "content": secret}],
        "max_tokens": 64,
        "temperature": 0.25,
    }
    with http(traced, traceparent) as client:
        answer = client.post("/chat/completions", json=body)
    assert answer.status_code == 200, answer.text

    spans = traced.spans(trace_id, CHAT_REQUEST, "chat gpt-test")
    server = only(spans, CHAT_REQUEST)
    call = only(spans, "chat gpt-test")
    # The server span continues the client's trace; the model call is its child.
    assert server.kind == SpanKind.SERVER and parent_of(server) == client_span
    assert server.parent is not None and server.parent.is_remote
    assert call.kind == SpanKind.CLIENT and parent_of(call) == server.context.span_id
    attributes = dict(server.attributes)
    assert str(attributes.pop("threadline.key_id")).startswith("key_")
    assert str(attributes.pop("threadline.project")).startswith("proj_")
    assert attributes == {
        "http.request.method": "POST",
        "url.path": "/v1/chat/completions",
        "http.route": "/v1/chat/completions",
        "http.response.status_code": 200,
    }
    assert server.status.status_code == StatusCode.UNSET
    host, port = upstream.base_url.removeprefix("http://").split("/")[0].split(":")
    assert dict(call.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-test",
        "gen_ai.request.max_tokens": 64,
        "gen_ai.request.temperature": 0.25,
        "gen_ai.response.model": "gpt-test",
        "gen_ai.response.id": answer.json()["id"],
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 7,
        "server.address": host,
        "server.port": int(port),
    }
    # The upstream was sent this trace, with the model call as its parent.
    sent = upstream.requests[-1]["_headers"]["traceparent"]
    assert sent == f"00-{trace_id:032x}-{call.context.span_id:016x}-01"
    # No message content anywhere by default.
    assert secret not in every_text(spans) and "Bonjour" not in every_text(spans)
    assert not call.events


def test_a_streamed_completion_reads_its_answer_from_the_chunks(
    traced: Traced, upstream: ScriptedUpstream
) -> None:
    traceparent, trace_id, _ = new_trace()
    upstream.script(Text(["a", "b", "c"], finish_reason="length", usage=(3, 3)))
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with http(traced, traceparent) as client:
        answer = client.post("/chat/completions", json=body)
    assert answer.status_code == 200 and "data: [DONE]" in answer.text

    call = only(traced.spans(trace_id, CHAT_REQUEST, "chat gpt-test"), "chat gpt-test")
    assert call.attributes["gen_ai.response.finish_reasons"] == ("length",)
    assert call.attributes["gen_ai.usage.input_tokens"] == 3
    assert call.attributes["gen_ai.usage.output_tokens"] == 3
    assert str(call.attributes["gen_ai.response.id"]).startswith("chatcmpl-")


def test_content_is_captured_only_when_configured(
    traced: Traced, upstream: ScriptedUpstream
) -> None:
    traceparent, trace_id, _ = new_trace()
    secret = f"secret-prompt-{secrets.token_hex(4)}"
    upstream.script(Text(["The answer", " is 42."]))
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": secret}]}
    traced.tracer.capture_content = True  # THREADLINE_OTEL_CAPTURE_CONTENT=true
    try:
        with http(traced, traceparent) as client:
            for stream in (False, True):
                upstream.script(Text(["The answer", " is 42."]))
                assert client.post("/chat/completions", json={**body, "stream": stream})
    finally:
        traced.tracer.capture_content = False

    for call in named(traced.spans(trace_id, "chat gpt-test", "chat gpt-test"), "chat gpt-test"):
        events = {event.name: dict(event.attributes or {}) for event in call.events}
        assert secret in events["gen_ai.content.prompt"]["gen_ai.prompt"]
        assert "The answer is 42." in events["gen_ai.content.completion"]["gen_ai.completion"]


def test_a_runs_content_is_captured_only_when_configured(
    traced: Traced, upstream: ScriptedUpstream
) -> None:
    secret = f"secret-question-{secrets.token_hex(4)}"
    for capture in (False, True):
        traceparent, trace_id, _ = new_trace()
        upstream.script(ToolCalls([("file_search", '{"queries": ["pump"]}')]), Text(["40 bar."]))
        traced.tracer.capture_content = capture
        try:
            with sdk(traced, traceparent) as client:
                assistant = client.beta.assistants.create(
                    model="gpt-test", tools=[{"type": "file_search"}]
                )
                thread = client.beta.threads.create(messages=[{"role": "user", "content": secret}])
                run = client.beta.threads.runs.create_and_poll(
                    thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=20
                )
                assert run.status == "completed", run.last_error
        finally:
            traced.tracer.capture_content = False
        spans = traced.spans(trace_id, "run", "chat gpt-test", "chat gpt-test", SEARCH)
        if not capture:
            text = every_text(spans)
            assert secret not in text and "40 bar" not in text and "pump" not in text
            continue
        search = only(spans, SEARCH)
        assert "pump" in str(search.attributes["gen_ai.tool.call.arguments"])
        assert "The pump runs at 40 bar." in str(search.attributes["gen_ai.tool.call.result"])
        first, second = sorted(named(spans, "chat gpt-test"), key=lambda span: span.start_time or 0)
        prompt = {event.name: dict(event.attributes or {}) for event in first.events}
        assert secret in str(prompt["gen_ai.content.prompt"]["gen_ai.prompt"])
        answer = {event.name: dict(event.attributes or {}) for event in second.events}
        assert answer["gen_ai.content.completion"]["gen_ai.completion"] == "40 bar."


def test_an_upstream_error_marks_both_spans(traced: Traced, upstream: ScriptedUpstream) -> None:
    traceparent, trace_id, _ = new_trace()
    upstream.script(Fail(500))
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
    with http(traced, traceparent) as client:
        assert client.post("/chat/completions", json=body).status_code == 500

    spans = traced.spans(trace_id, CHAT_REQUEST, "chat gpt-test")
    server = only(spans, CHAT_REQUEST)
    call = only(spans, "chat gpt-test")
    for span in (server, call):
        assert span.status.status_code == StatusCode.ERROR
    assert server.attributes["http.response.status_code"] == 500
    assert call.attributes["error.type"] == "500"


def test_a_run_is_a_span_under_its_request_with_model_and_tool_calls_under_it(
    traced: Traced, upstream: ScriptedUpstream
) -> None:
    traceparent, trace_id, _ = new_trace()
    upstream.script(
        ToolCalls([("file_search", '{"queries": ["pump"]}')]),
        ToolCalls([("get_weather", '{"city": "Paris"}')]),
        Text(["Sunny."]),
    )
    with sdk(traced, traceparent) as client:
        tools: Any = [
            {"type": "file_search"},
            {"type": "function", "function": {"name": "get_weather"}},
        ]
        assistant = client.beta.assistants.create(model="gpt-test", tools=tools)
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "Weather?"}])
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=20
        )
        assert run.status == "requires_action", run.last_error
        call_id = run.required_action.submit_tool_outputs.tool_calls[0].id
        run = client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id,
            thread_id=thread.id,
            tool_outputs=[{"tool_call_id": call_id, "output": "sun"}],
            poll_interval_ms=20,
        )
        assert run.status == "completed", run.last_error

    # Two executions (until the function call, then after its output), three model calls.
    spans = traced.spans(
        trace_id,
        *["run", "chat gpt-test"] * 2,
        "chat gpt-test",
        SEARCH,
        "execute_tool get_weather",
        "POST /v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs",
    )
    first, second = sorted(named(spans, "run"), key=lambda span: span.start_time or 0)
    created = only(spans, "POST /v1/threads/{thread_id}/runs")
    submitted = only(spans, "POST /v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs")
    assert parent_of(first) == created.context.span_id
    assert parent_of(second) == submitted.context.span_id
    for execution, status in ((first, "requires_action"), (second, "completed")):
        assert execution.attributes["threadline.run_id"] == run.id
        assert execution.attributes["threadline.thread_id"] == thread.id
        assert execution.attributes["gen_ai.agent.id"] == assistant.id
        assert execution.attributes["gen_ai.operation.name"] == "invoke_agent"
        assert execution.attributes["threadline.run.status"] == status
    assert second.attributes["gen_ai.usage.input_tokens"] == 30  # three turns of (10, 5)
    chats = named(spans, "chat gpt-test")
    assert [parent_of(chat) for chat in chats].count(first.context.span_id) == 2
    assert [parent_of(chat) for chat in chats].count(second.context.span_id) == 1
    # The run engine's model calls, after the GenAI conventions too.
    for chat in chats:
        assert chat.kind == SpanKind.CLIENT
        assert chat.attributes["gen_ai.operation.name"] == "chat"
        assert chat.attributes["gen_ai.provider.name"] == "openai"
        assert chat.attributes["gen_ai.request.model"] == "gpt-test"
        assert chat.attributes["gen_ai.response.model"] == "gpt-test"
        assert str(chat.attributes["gen_ai.response.id"]).startswith("chatcmpl-")
        assert chat.attributes["gen_ai.usage.input_tokens"] == 10
        assert chat.attributes["gen_ai.usage.output_tokens"] == 5
        assert chat.attributes["server.address"] == "127.0.0.1"
    finishes = sorted(chat.attributes["gen_ai.response.finish_reasons"] for chat in chats)
    assert finishes == [("stop",), ("tool_calls",), ("tool_calls",)]

    search = only(spans, SEARCH)
    assert parent_of(search) == first.context.span_id
    assert search.attributes["gen_ai.tool.type"] == "datastore"
    assert str(search.attributes["gen_ai.tool.call.id"]).startswith("call_")
    function = only(spans, "execute_tool get_weather")
    assert parent_of(function) == first.context.span_id
    assert dict(function.attributes) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "get_weather",
        "gen_ai.tool.call.id": call_id,
        "gen_ai.tool.type": "function",
        "threadline.tool.executed_by": "client",
    }
    # Every model call of the run sent this trace upstream, under its own span.
    parents = {f"{chat.context.span_id:016x}" for chat in chats}
    sent = [request["_headers"]["traceparent"] for request in upstream.requests]
    assert {header.split("-")[2] for header in sent} == parents
    assert all(header.split("-")[1] == f"{trace_id:032x}" for header in sent)


def test_a_response_is_a_span_under_its_request(traced: Traced, upstream: ScriptedUpstream) -> None:
    traceparent, trace_id, _ = new_trace()
    upstream.script(Text(["Hi there."]))
    with sdk(traced, traceparent) as client:
        response = client.responses.create(model="gpt-test", input="Hello")
    assert response.status == "completed"

    spans = traced.spans(trace_id, "POST /v1/responses", "response", "chat gpt-test")
    request = only(spans, "POST /v1/responses")
    execution = only(spans, "response")
    assert parent_of(execution) == request.context.span_id
    assert execution.attributes["threadline.response_id"] == response.id
    assert execution.attributes["threadline.run.status"] == "completed"
    assert parent_of(only(spans, "chat gpt-test")) == execution.context.span_id


# The server of the next test, in a process of its own: it serves one request, then says which
# OpenTelemetry modules it loaded beyond those FastAPI loads itself (FastAPI 0.165 imports the
# OpenTelemetry API for its own telemetry, which stays off without a global tracer provider;
# Threadline never installs one).
_UNTRACED = """
import sys
import fastapi
framework = {name for name in sys.modules if name.startswith("opentelemetry")}

import httpx
from tests.conftest import MASTER_KEY
from tests.servers import threaded_server
from threadline.settings import Settings

upstream_url, upstream_key, data_dir = sys.argv[1:4]
settings = Settings(
    data_dir=data_dir, master_key=MASTER_KEY, upstream_base_url=upstream_url,
    upstream_api_key=upstream_key,
)
with threaded_server(settings) as url:
    admin = {"Authorization": f"Bearer {MASTER_KEY}"}
    key = httpx.post(f"{url}/admin/keys", json={"project": "p"}, headers=admin).json()["key"]
    traceparent = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"
    answer = httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {key}", "traceparent": traceparent},
    )
    assert answer.status_code == 200, answer.text
loaded = {name for name in sys.modules if name.startswith("opentelemetry")}
print(sorted(loaded - framework), "threadline.telemetry.otel" in sys.modules)
"""


def test_without_tracing_nothing_of_opentelemetry_is_loaded(
    upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("OTEL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO)])
    done = subprocess.run(
        [sys.executable, "-c", _UNTRACED, upstream.base_url, upstream.api_key, str(tmp_path)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[] False"
    # Nor was a trace passed on: the client's traceparent stays with Threadline.
    assert "traceparent" not in upstream.requests[-1]["_headers"]


# --- /v1/messages ----------------------------------------------------------------------------

MESSAGES_REQUEST = "POST /v1/messages"
CLAUDE_KEY_ENV = "TL_TEST_TRACING_ANTHROPIC_KEY"
OPENAI_KEY_ENV = "TL_TEST_TRACING_OPENAI_KEY"


@pytest.fixture(scope="module")
def traced_messages(
    anthropic_upstream_server: ScriptedAnthropic,
    upstream_server: ScriptedUpstream,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Traced]:
    """A traced server with a model of an Anthropic provider (``/v1/messages`` passed through)
    and one of an OpenAI-compatible provider (translated to a chat completion)."""
    data = tmp_path_factory.mktemp("traced-messages")
    config = data / "threadline.yaml"
    config.write_text(
        f"""
providers:
  claude:
    kind: anthropic
    base_url: {anthropic_upstream_server.base_url}
    api_key_env: {CLAUDE_KEY_ENV}
    max_retries: 0
  scripted:
    base_url: {upstream_server.base_url}
    api_key_env: {OPENAI_KEY_ENV}
    max_retries: 0
models:
  claude-test:
    provider: claude
    upstream_model: claude-sonnet-4-5
  gpt-test:
    provider: scripted
"""
    )
    os.environ[CLAUDE_KEY_ENV] = anthropic_upstream_server.api_key
    os.environ[OPENAI_KEY_ENV] = upstream_server.api_key
    exporter = InMemorySpanExporter()
    tracer = build_tracer(TracingOptions(endpoint=None), version=__version__, exporter=exporter)
    settings = Settings(
        data_dir=data,
        database_url=f"sqlite+aiosqlite:///{data / 'threadline.db'}",
        master_key=MASTER_KEY,
        config=config,
        upstream_max_retries=0,
    )
    with threaded_server(settings, tracer=tracer) as url:
        yield Traced(url, project_key(url), exporter, tracer)


def messages(traced: Traced, traceparent: str) -> httpx.Client:
    headers = {
        "x-api-key": traced.key,
        "anthropic-version": "2023-06-01",
        "traceparent": traceparent,
    }
    return httpx.Client(base_url=f"{traced.url}/v1", headers=headers, timeout=30)


@pytest.mark.parametrize("stream", [False, True])
def test_a_forwarded_message_is_an_anthropic_model_call_under_its_request(
    traced_messages: Traced, anthropic_upstream: ScriptedAnthropic, stream: bool
) -> None:
    traceparent, trace_id, client_span = new_trace()
    anthropic_upstream.script(
        AnthropicText(["Bonjour", " !"], stop_reason="max_tokens", usage=AnthropicUsage(12, 7))
    )
    body = {
        "model": "claude-test",
        "max_tokens": 64,
        "temperature": 0.5,
        "messages": [{"role": "user", "content": "Hello"}],
        "stream": stream,
    }
    with messages(traced_messages, traceparent) as client:
        answer = client.post("/messages", json=body)
    assert answer.status_code == 200, answer.text

    name = "chat claude-sonnet-4-5"
    spans = traced_messages.spans(trace_id, MESSAGES_REQUEST, name)
    server, call = only(spans, MESSAGES_REQUEST), only(spans, name)
    assert parent_of(server) == client_span and parent_of(call) == server.context.span_id
    assert call.kind == SpanKind.CLIENT and call.status.status_code == StatusCode.UNSET
    attributes = dict(call.attributes)
    assert str(attributes.pop("gen_ai.response.id")).startswith("msg_")
    attributes.pop("server.address"), attributes.pop("server.port")
    assert attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.request.max_tokens": 64,
        "gen_ai.request.temperature": 0.5,
        "gen_ai.response.model": "claude-sonnet-4-5",
        "gen_ai.response.finish_reasons": ("max_tokens",),
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 7,
    }
    # The upstream joined the trace, under the model call.
    sent = anthropic_upstream.requests[-1]["_headers"]["traceparent"]
    assert sent == f"00-{trace_id:032x}-{call.context.span_id:016x}-01"


def test_a_translated_message_is_an_openai_model_call_and_errors_mark_it(
    traced_messages: Traced, upstream: ScriptedUpstream
) -> None:
    traceparent, trace_id, _ = new_trace()
    upstream.script(Text(["Salut"], usage=(5, 2)), Fail(500))
    body = {"model": "gpt-test", "max_tokens": 32, "messages": [{"role": "user", "content": "Hi"}]}
    with messages(traced_messages, traceparent) as client:
        assert client.post("/messages", json=body).status_code == 200
        assert client.post("/messages", json=body).status_code >= 500

    name = "chat gpt-test"
    spans = traced_messages.spans(trace_id, MESSAGES_REQUEST, MESSAGES_REQUEST, name, name)
    answered, failed = sorted(named(spans, name), key=lambda span: span.start_time or 0)
    assert answered.attributes["gen_ai.provider.name"] == "openai"
    assert answered.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert answered.attributes["gen_ai.usage.input_tokens"] == 5
    assert answered.attributes["gen_ai.usage.output_tokens"] == 2
    sent = upstream.requests[0]["_headers"]["traceparent"]
    assert sent == f"00-{trace_id:032x}-{answered.context.span_id:016x}-01"
    assert failed.status.status_code == StatusCode.ERROR
    assert failed.attributes["error.type"] == "500"
