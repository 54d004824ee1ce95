"""OpenTelemetry traces of HTTP requests, runs, model calls and tool calls (docs/tracing.md).

``build_tracer`` is called once, by the composition root: without an OTLP endpoint (or with
``OTEL_SDK_DISABLED=true``) it returns ``NO_TRACER``, whose methods do nothing, and
OpenTelemetry is never imported; otherwise the OpenTelemetry implementation (``otel.py``).
This package imports nothing of Threadline's other layers, and only it imports OpenTelemetry."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from threadline.telemetry.base import NO_SPAN, NO_TRACER, Span, TraceParent, Tracer

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

__all__ = [
    "NO_SPAN",
    "NO_TRACER",
    "Span",
    "TraceParent",
    "Tracer",
    "TracingOptions",
    "build_tracer",
]


@dataclass(frozen=True, slots=True)
class TracingOptions:
    """What decides whether to trace (from ``Settings``); the SDK reads the rest itself."""

    endpoint: str | None  # OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT
    sdk_disabled: bool = False  # OTEL_SDK_DISABLED
    capture_content: bool = False  # THREADLINE_OTEL_CAPTURE_CONTENT


def build_tracer(
    options: TracingOptions, *, version: str, exporter: "SpanExporter | None" = None
) -> Tracer:
    """The tracer this server uses. ``exporter`` (tests, benchmarks) traces into it whatever the
    options say; otherwise spans go to the OTLP endpoint when one is set."""
    if exporter is None and (options.endpoint is None or options.sdk_disabled):
        return NO_TRACER
    from threadline.telemetry.otel import OTelTracer

    return OTelTracer.build(exporter, capture_content=options.capture_content, version=version)
