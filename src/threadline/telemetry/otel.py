"""The ``Tracer`` over the OpenTelemetry SDK: imported only when tracing is on.

Spans go through a ``BatchSpanProcessor`` (its ``OTEL_BSP_*`` variables) to the OTLP/HTTP
exporter, which reads its endpoint, headers, timeout and compression from the
``OTEL_EXPORTER_OTLP_*`` variables itself; the ``TracerProvider`` reads the sampler
(``OTEL_TRACES_SAMPLER`` and its ``_ARG``), and the resource ``OTEL_SERVICE_NAME`` and
``OTEL_RESOURCE_ATTRIBUTES``. Only the service name has a default of ours, ``threadline``, when
neither names one. The provider is this server's own, never installed as OpenTelemetry's global
one (tests build several servers in one process). Trace context crosses processes as W3C
``traceparent``/``tracestate``."""

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from threadline.telemetry.base import Attributes, Span, TraceParent
from threadline.telemetry.base import SpanKind as Kind

DEFAULT_SERVICE_NAME = "threadline"
_KINDS = {"server": SpanKind.SERVER, "client": SpanKind.CLIENT, "internal": SpanKind.INTERNAL}
_ERROR_TYPE = "error.type"
_propagator = TraceContextTextMapPropagator()


class OTelSpan:
    __slots__ = ("_span",)

    def __init__(self, span: trace.Span) -> None:
        self._span = span

    @property
    def recording(self) -> bool:
        return self._span.is_recording()

    def set(self, attributes: Attributes) -> None:
        self._span.set_attributes(attributes)

    def event(self, name: str, attributes: Attributes) -> None:
        self._span.add_event(name, attributes)

    def rename(self, name: str) -> None:
        self._span.update_name(name)

    def fail(self, error_type: str, message: str | None = None) -> None:
        self._span.set_attribute(_ERROR_TYPE, error_type)
        self._span.set_status(Status(StatusCode.ERROR, message))

    def outgoing_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        _propagator.inject(headers, trace.set_span_in_context(self._span))
        return headers

    def end(self) -> None:
        self._span.end()


class OTelTracer:
    enabled = True

    def __init__(self, provider: TracerProvider, *, capture_content: bool, version: str) -> None:
        self._provider = provider
        self._tracer = provider.get_tracer("threadline", version)
        self.capture_content = capture_content

    @classmethod
    def build(
        cls, exporter: SpanExporter | None, *, capture_content: bool, version: str
    ) -> "OTelTracer":
        """``exporter``: where spans go (tests pass an in-memory one); None: OTLP/HTTP, as the
        ``OTEL_EXPORTER_OTLP_*`` variables say."""
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
        provider = TracerProvider(resource=_resource(version))
        provider.add_span_processor(BatchSpanProcessor(exporter))
        return cls(provider, capture_content=capture_content, version=version)

    def start(
        self,
        name: str,
        kind: Kind,
        attributes: Attributes,
        *,
        parent: TraceParent | None = None,
        carrier: Mapping[str, str] | None = None,
    ) -> Span:
        where: Context | None
        if parent is not None:
            where = parent  # type: ignore[assignment]  # a Context from current_parent()
        elif carrier:
            where = _propagator.extract(carrier)
        else:
            where = None  # the current context
        span = self._tracer.start_span(name, where, _KINDS[kind], attributes)
        return OTelSpan(span)

    def current_parent(self) -> TraceParent | None:
        return otel_context.get_current()

    def activate(self, span: Span) -> AbstractContextManager[None]:
        return _activated(span)

    def outgoing_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        _propagator.inject(headers)
        return headers

    def flush(self) -> None:
        self._provider.force_flush()

    def shutdown(self) -> None:
        self._provider.shutdown()


@contextmanager
def _activated(span: Span) -> Iterator[None]:
    inner = span._span if isinstance(span, OTelSpan) else trace.INVALID_SPAN
    token = otel_context.attach(trace.set_span_in_context(inner))
    try:
        yield
    finally:
        otel_context.detach(token)


def _resource(version: str) -> Resource:
    """The SDK's resource (``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_SERVICE_NAME``), named
    ``threadline`` when neither names the service."""
    resource = Resource.create({SERVICE_VERSION: version})
    named = str(resource.attributes.get(SERVICE_NAME, ""))
    if not named or named.startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    return resource
