"""The hand-written OTLP encoder (telemetry/otlp_encoding.py): what it writes decodes to exactly
what the SDK's own encoder makes of the same spans, and its exporter posts it as the SDK's
would (endpoint, headers, compression from the OTEL_* variables)."""

import gzip
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from threadline.telemetry import TracingOptions, build_tracer
from threadline.telemetry.otel import OTelTracer
from threadline.telemetry.otel_spans import readable
from threadline.telemetry.otlp_encoding import SpanEncoder
from threadline.telemetry.otlp_export import OTLPBytesExporter

RESOURCE = Resource({"service.name": "threadline", "service.version": "1.2.3"})
SCOPE = InstrumentationScope("threadline", "1.2.3")
SAMPLED = TraceFlags(TraceFlags.SAMPLED)


def context(
    trace_id: int = 0x0AF7651916CD43DD8448EB211C80319C,
    span_id: int = 0xB7AD6B7169203331,
    *,
    remote: bool = False,
    state: TraceState | None = None,
) -> SpanContext:
    return SpanContext(trace_id, span_id, remote, SAMPLED, state)


def span(
    name: str = "POST /v1/chat/completions",
    attributes: Attributes = None,
    *,
    kind: SpanKind = SpanKind.SERVER,
    parent: SpanContext | None = None,
    span_context: SpanContext | None = None,
    events: tuple[Event, ...] = (),
    links: tuple[Link, ...] = (),
    status: Status | None = None,
    resource: Resource = RESOURCE,
    scope: InstrumentationScope | None = SCOPE,
) -> ReadableSpan:
    return ReadableSpan(
        name,
        span_context or context(),
        parent,
        resource,
        attributes,
        events,
        links,
        kind,
        None,
        status or Status(StatusCode.UNSET),
        1_700_000_000_123_456_789,
        1_700_000_000_124_000_000,
        scope,
    )


def decoded(data: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    request.ParseFromString(data)
    return request


def assert_as_the_sdk_encodes(spans: list[ReadableSpan]) -> None:
    expected = encode_spans(spans)
    encoder = SpanEncoder()
    assert decoded(encoder.encode(spans)) == expected
    # Again, with what it keeps encoded from the first time.
    assert decoded(encoder.encode(spans)) == expected


def test_threadlines_spans_decode_as_the_sdk_encodes_them() -> None:
    request = span(
        attributes={
            "http.request.method": "POST",
            "url.path": "/v1/chat/completions",
            "http.route": "/v1/chat/completions",
            "http.response.status_code": 200,
            "threadline.project": "proj_1",
            "threadline.key_id": "key_1",
        }
    )
    call = span(
        "chat gpt-4o-mini",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.request.max_tokens": 16,
            "gen_ai.request.temperature": 0.5,
            "gen_ai.request.top_p": 1.0,
            "server.address": "127.0.0.1",
            "server.port": 8081,
            "gen_ai.response.id": "chatcmpl-abc",
            "gen_ai.response.finish_reasons": ("stop", "length"),
            "gen_ai.usage.input_tokens": 12,
            "gen_ai.usage.output_tokens": 0,
        },
        kind=SpanKind.CLIENT,
        parent=context(span_id=0xB7AD6B7169203331),
        span_context=context(span_id=0x1234),
        events=(
            Event("gen_ai.content.prompt", {"gen_ai.prompt": '[{"role":"user"}]'}, 1_700_000_001),
            Event("gen_ai.content.completion", {"gen_ai.completion": "Hé, 👋"}, 1_700_000_002),
        ),
        status=Status(StatusCode.ERROR, "upstream said 502"),
    )
    run = span(
        "run",
        {"gen_ai.operation.name": "invoke_agent", "threadline.run.status": "failed"},
        kind=SpanKind.INTERNAL,
        status=Status(StatusCode.ERROR),
    )
    assert_as_the_sdk_encodes([request, call, run, request])


@pytest.mark.parametrize(
    "value",
    [
        "",
        "text with ünïcödé and 🚀",
        "x" * 300,  # longer than what is kept encoded
        0,
        1,
        -1,
        -(1 << 63),
        (1 << 63) - 1,
        300,
        1 << 40,
        True,
        False,
        0.0,
        -0.0,
        1.5,
        float("inf"),
        float("nan"),
        1e-300,
        (),
        ("a", "b"),
        (1, -2, 3),
        (0.5, 2.0),
        (True, False),
        ["list", "too"],
        b"\x00\xffbytes",
        None,
    ],
)
def test_every_kind_of_attribute_value(value: object) -> None:
    spans = [span(attributes={"k": value, "same.key": 1}), span(attributes={"same.key": True})]
    expected = encode_spans(spans)
    got = decoded(SpanEncoder().encode(spans))
    if value != value:  # NaN is not equal to itself, in a message either
        assert got.SerializeToString() == expected.SerializeToString()
    else:
        assert got == expected


def test_values_that_cannot_be_encoded_are_left_out_as_by_the_sdk(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.CRITICAL)  # both log what they leave out
    spans = [span(attributes={"a": 1 << 64, "b": object(), "c": "kept"})]  # type: ignore[dict-item]
    assert_as_the_sdk_encodes(spans)


def test_ids_parents_kinds_links_statuses_and_trace_state() -> None:
    remote_parent = context(span_id=0xFFFFFFFFFFFFFFFF, remote=True)
    linked = context(trace_id=1, span_id=2, remote=True, state=TraceState([("k", "v")]))
    spans = [
        span(
            "consumer",
            kind=SpanKind.CONSUMER,
            parent=remote_parent,
            span_context=context(state=TraceState([("vendor", "a=1"), ("other", "b")])),
            links=(Link(linked, {"link.attr": "x"}), Link(context(span_id=3))),
            status=Status(StatusCode.OK),
        ),
        span("producer", kind=SpanKind.PRODUCER, span_context=context(trace_id=1, span_id=1)),
        span("", kind=SpanKind.INTERNAL),  # no name
    ]
    assert_as_the_sdk_encodes(spans)


def test_resources_and_scopes_are_grouped_as_by_the_sdk() -> None:
    same_resource = Resource({"service.name": "threadline", "service.version": "1.2.3"})
    other = Resource({"service.name": "other", "n": 3}, schema_url="https://schema/1")
    scoped = InstrumentationScope("lib", "2", "https://schema/s", {"scope.attr": True})
    spans = [
        span("a"),
        span("b", resource=same_resource),  # equal, another object: the same group
        span("c", resource=other),
        span("d", resource=other, scope=scoped),
        span("e", scope=None),
        span("f", resource=same_resource, scope=InstrumentationScope("threadline", "1.2.3")),
    ]
    assert_as_the_sdk_encodes(spans)
    assert_as_the_sdk_encodes([])


def test_the_tracers_own_records_encode_as_their_readable_spans() -> None:
    """The tracer hands its records to the exporter as they are: encoded, they say what the
    ReadableSpans made of them (as other exporters are given) would."""
    handed: list[object] = []

    class Keep(OTLPBytesExporter):
        def export(self, spans):  # type: ignore[no-untyped-def]
            handed.extend(spans)
            return super().export(())

    tracer = build_tracer(TracingOptions("http://127.0.0.1:9"), version="1", exporter=Keep())
    assert isinstance(tracer, OTelTracer)
    carrier = {"traceparent": "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01", "tracestate": "k=v"}
    request = tracer.start("POST /v1/x", "server", {"http.request.method": "POST"}, carrier=carrier)
    with tracer.activate(request):
        call = tracer.start("chat m", "client", {"gen_ai.request.temperature": 0.2})
        call.event("gen_ai.content.prompt", {"gen_ai.prompt": "hi"})
        call.fail("502", "bad gateway")
        call.end()
    request.set({"http.response.status_code": 200})
    request.end()
    tracer.flush()
    assert len(handed) == 2
    spans = [readable(record) for record in handed]  # type: ignore[arg-type]
    assert decoded(SpanEncoder().encode(handed)) == encode_spans(spans)
    tracer.shutdown()


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, dict[str, str], bytes]]]]:
    posts: list[tuple[str, dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            posts.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", posts
    finally:
        server.shutdown()


def test_the_exporter_posts_with_the_sdks_endpoint_headers_and_compression(
    collector: tuple[str, list[tuple[str, dict[str, str], bytes]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, posts = collector
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{url}/custom/traces")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme,authorization=Basic%20abc")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    exporter = OTLPBytesExporter()
    assert exporter.encodes
    spans = [span(attributes={"a": "b"})]
    assert exporter.export(spans).name == "SUCCESS"
    exporter.shutdown()
    path, headers, body = posts[-1]
    assert path == "/custom/traces"
    assert headers["content-type"] == "application/x-protobuf"
    assert headers["x-tenant"] == "acme" and headers["authorization"] == "Basic abc"
    assert headers["content-encoding"] == "gzip"
    assert decoded(gzip.decompress(body)) == encode_spans(spans)
