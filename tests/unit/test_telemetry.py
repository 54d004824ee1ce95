"""The tracing seam: when Threadline traces, and that the SDK's own ``OTEL_*`` variables are
honoured (OTLP/HTTP to the endpoint with its headers, service name and resource, sampler), shown
against a local collector stand-in that records what it is sent."""

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from threadline import __version__
from threadline.api.tracing import TracingMiddleware
from threadline.app import create_app
from threadline.settings import Settings
from threadline.telemetry import NO_TRACER, TracingOptions, build_tracer
from threadline.telemetry.otel import OTelTracer


@dataclass
class Collector:
    url: str
    posts: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    def resource(self) -> dict[str, str]:
        request = ExportTraceServiceRequest()
        request.ParseFromString(self.posts[-1][2])
        attributes = request.resource_spans[0].resource.attributes
        return {kv.key: kv.value.string_value for kv in attributes}

    def span_names(self) -> list[str]:
        names = []
        for _, _, body in self.posts:
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    names += [span.name for span in scope.spans]
        return names


@pytest.fixture
def collector() -> Iterator[Collector]:
    """An OTLP/HTTP collector stand-in: accepts every POST, keeps path, headers and body."""
    found = Collector("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            headers = {name.lower(): value for name, value in self.headers.items()}
            found.posts.append((self.path, headers, body))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    found.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield found
    finally:
        server.shutdown()


@pytest.fixture(autouse=True)
def no_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_TRACES_SAMPLER",
        "OTEL_TRACES_SAMPLER_ARG",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_SDK_DISABLED",
    ):
        monkeypatch.delenv(name, raising=False)


def test_without_an_endpoint_or_with_the_sdk_disabled_nothing_traces() -> None:
    assert build_tracer(TracingOptions(endpoint=None), version=__version__) is NO_TRACER
    disabled = TracingOptions(endpoint="http://127.0.0.1:4318", sdk_disabled=True)
    assert build_tracer(disabled, version=__version__) is NO_TRACER
    assert NO_TRACER.outgoing_headers() == {}
    span = NO_TRACER.start("x", "server", {})
    assert not span.recording and span.outgoing_headers() == {}


def test_the_app_has_no_tracing_layer_when_tracing_is_off(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, otel_endpoint=None))
    assert all(layer.cls is not TracingMiddleware for layer in app.user_middleware)
    tracer = build_tracer(TracingOptions(None), version="", exporter=InMemorySpanExporter())
    traced = create_app(Settings(data_dir=tmp_path), tracer=tracer)
    assert any(layer.cls is TracingMiddleware for layer in traced.user_middleware)
    tracer.shutdown()


def test_spans_go_to_the_otlp_endpoint_with_its_headers_named_threadline(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
    tracer = build_tracer(TracingOptions(endpoint=collector.url), version=__version__)
    assert isinstance(tracer, OTelTracer)
    tracer.start("GET /v1/models", "server", {"http.request.method": "GET"}).end()
    tracer.shutdown()

    path, headers, _ = collector.posts[-1]
    assert path == "/v1/traces" and headers["x-tenant"] == "acme"
    assert headers["content-type"] == "application/x-protobuf"
    assert collector.span_names() == ["GET /v1/models"]
    resource = collector.resource()
    assert resource["service.name"] == "threadline"
    assert resource["service.version"] == __version__
    assert resource["deployment.environment"] == "test"


def test_the_service_name_and_the_traces_endpoint_are_the_sdks_to_read(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{collector.url}/custom/traces")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "gateway-eu")
    tracer = build_tracer(TracingOptions(endpoint=collector.url), version=__version__)
    tracer.start("run", "internal", {}).end()
    tracer.shutdown()
    assert collector.posts[-1][0] == "/custom/traces"
    assert collector.resource()["service.name"] == "gateway-eu"


def test_the_sampler_is_the_sdks_and_the_trace_goes_on_unsampled(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    tracer = build_tracer(TracingOptions(endpoint=collector.url), version=__version__)
    carrier = {"traceparent": "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"}
    span = tracer.start("POST /v1/chat/completions", "server", {}, carrier=carrier)
    assert not span.recording
    with tracer.activate(span):
        headers = tracer.outgoing_headers()
    span.end()
    tracer.shutdown()
    # Not recorded, but the upstream still joins the client's trace (marked not sampled).
    assert headers["traceparent"].startswith("00-" + "ab" * 16 + "-")
    assert headers["traceparent"].endswith("-00")
    assert collector.posts == []


@pytest.mark.parametrize(
    ("value", "captured"),
    [("true", True), ("TRUE", True), ("false", False), ("SPAN_ONLY", True), ("NO_CONTENT", False)],
)
def test_content_capture_reads_both_variables(
    monkeypatch: pytest.MonkeyPatch, value: str, captured: bool
) -> None:
    monkeypatch.delenv("THREADLINE_OTEL_CAPTURE_CONTENT", raising=False)
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", value)
    assert Settings().otel_capture_content is captured
    monkeypatch.setenv("THREADLINE_OTEL_CAPTURE_CONTENT", "false")
    assert Settings().otel_capture_content is False


def test_the_endpoint_variables_decide_whether_to_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().otel_endpoint is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert Settings().otel_endpoint == "http://collector:4318"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4318/v1/traces")
    assert Settings().otel_endpoint == "http://traces:4318/v1/traces"
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert Settings().otel_sdk_disabled is True
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    assert Settings().otel_endpoint is None


def test_under_an_unsampled_client_nothing_is_recorded_but_the_trace_goes_on(
    collector: Collector,
) -> None:
    tracer = build_tracer(TracingOptions(endpoint=collector.url), version=__version__)
    carrier = {"traceparent": "00-" + "ef" * 16 + "-" + "12" * 8 + "-00", "tracestate": "k=v"}
    request = tracer.start("POST /v1/chat/completions", "server", {}, carrier=carrier)
    with tracer.activate(request):
        call = tracer.start("chat gpt-4o", "client", {"gen_ai.operation.name": "chat"})
    assert not request.recording and not call.recording
    headers = call.outgoing_headers()
    _, trace_id, parent_id, flags = headers["traceparent"].split("-")
    assert (trace_id, flags) == ("ef" * 16, "00") and parent_id != "12" * 8
    assert headers["tracestate"] == "k=v"
    call.end()
    request.end()
    tracer.shutdown()
    assert collector.posts == []
