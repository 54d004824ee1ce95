"""The ``Tracer`` over the OpenTelemetry SDK: imported only when tracing is on.

Spans go through a ``BatchSpanProcessor`` (its ``OTEL_BSP_*`` variables) to the OTLP/HTTP
exporter, which reads its endpoint, headers, timeout and compression from the
``OTEL_EXPORTER_OTLP_*`` variables itself; the ``TracerProvider`` reads the sampler
(``OTEL_TRACES_SAMPLER`` and its ``_ARG``), and the resource ``OTEL_SERVICE_NAME`` and
``OTEL_RESOURCE_ATTRIBUTES``. Only the service name has a default of ours, ``threadline``, when
neither names one. The provider is this server's own, never installed as OpenTelemetry's global
one (tests build several servers in one process, and FastAPI would trace every request a second
time). Trace context crosses processes as W3C ``traceparent``/``tracestate``.

A span is recorded into plain fields and handed to the processor as the SDK's ``ReadableSpan``
when it ends, rather than through the SDK's ``Span``, which validates each attribute under a
lock: that cost the gateway more than its own work on a pass-through request
(docs/benchmarks.md#tracing). Threadline's attributes are typed where they are built (strings,
numbers, tuples of strings), so nothing that check would catch reaches here. Sampling, ids, the
resource and the processor are the provider's, as the SDK's own tracer uses them."""

from collections.abc import Mapping
from contextlib import AbstractContextManager
from time import time_ns

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from threadline.telemetry.base import Attributes, AttributeValue, Span, TraceParent
from threadline.telemetry.base import SpanKind as Kind

DEFAULT_SERVICE_NAME = "threadline"
_KINDS = {"server": SpanKind.SERVER, "client": SpanKind.CLIENT, "internal": SpanKind.INTERNAL}
_ERROR_TYPE = "error.type"
_UNSET = Status(StatusCode.UNSET)
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)
_propagator = TraceContextTextMapPropagator()


def _headers(context: SpanContext) -> dict[str, str]:
    """W3C trace context naming ``context`` as the parent (as the SDK's propagator writes it)."""
    headers = {
        "traceparent": f"00-{context.trace_id:032x}-{context.span_id:016x}-"
        f"{context.trace_flags:02x}"
    }
    if context.trace_state:
        headers["tracestate"] = context.trace_state.to_header()
    return headers


class _Unsampled:
    """A span the sampler dropped: nothing is kept, but its trace still goes upstream."""

    __slots__ = ("context",)

    def __init__(self, context: SpanContext) -> None:
        self.context = context

    @property
    def recording(self) -> bool:
        return False

    def set(self, attributes: Attributes) -> None:
        pass

    def event(self, name: str, attributes: Attributes) -> None:
        pass

    def rename(self, name: str) -> None:
        pass

    def fail(self, error_type: str, message: str | None = None) -> None:
        pass

    def outgoing_headers(self) -> dict[str, str]:
        return _headers(self.context)

    def end(self) -> None:
        pass


class _Recorded:
    """A sampled span: its fields until ``end`` hands it to the processor (once)."""

    __slots__ = (
        "_attributes",
        "_events",
        "_kind",
        "_name",
        "_parent",
        "_start",
        "_status",
        "_tracer",
        "context",
    )

    def __init__(
        self,
        tracer: "OTelTracer",
        name: str,
        kind: SpanKind,
        context: SpanContext,
        parent: SpanContext | None,
        attributes: dict[str, AttributeValue],
    ) -> None:
        self._tracer = tracer
        self._name = name
        self._kind = kind
        self.context = context
        self._parent = parent
        self._attributes = attributes
        self._events: list[Event] = []
        self._status = _UNSET
        self._start: int | None = time_ns()

    @property
    def recording(self) -> bool:
        return self._start is not None

    def set(self, attributes: Attributes) -> None:
        self._attributes.update(attributes)

    def event(self, name: str, attributes: Attributes) -> None:
        self._events.append(Event(name, dict(attributes)))

    def rename(self, name: str) -> None:
        self._name = name

    def fail(self, error_type: str, message: str | None = None) -> None:
        self._attributes[_ERROR_TYPE] = error_type
        self._status = Status(StatusCode.ERROR, message)

    def outgoing_headers(self) -> dict[str, str]:
        return _headers(self.context)

    def end(self) -> None:
        start, self._start = self._start, None
        if start is None:
            return  # ended already
        tracer = self._tracer
        tracer.processor.on_end(
            ReadableSpan(
                self._name,
                self.context,
                self._parent,
                tracer.resource,
                self._attributes,
                self._events,
                (),
                self._kind,
                None,
                self._status,
                start,
                time_ns(),
                tracer.scope,
            )
        )


class OTelTracer:
    enabled = True

    def __init__(
        self,
        provider: TracerProvider,
        processor: BatchSpanProcessor,
        *,
        capture_content: bool,
        version: str,
    ) -> None:
        """``processor``: the provider's, given its spans directly."""
        self._provider = provider
        self.processor = processor
        self.resource = provider.resource
        self.scope = InstrumentationScope("threadline", version)
        self._sampler = provider.sampler
        # The samplers the OTEL_TRACES_SAMPLER variable names that follow a parent's decision
        # (the default, parentbased_always_on, is one): under an unsampled parent they are not
        # asked (a child of an unsampled request costs an id, no more).
        self._follows_parent = isinstance(self._sampler, ParentBased)
        self._ids = provider.id_generator
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
        processor = BatchSpanProcessor(exporter)
        provider.add_span_processor(processor)
        return cls(provider, processor, capture_content=capture_content, version=version)

    def start(
        self,
        name: str,
        kind: Kind,
        attributes: Attributes,
        *,
        parent: TraceParent | None = None,
        carrier: Mapping[str, str] | None = None,
    ) -> Span:
        if parent is not None:
            where: Context = parent  # type: ignore[assignment]  # from current_parent()
        elif carrier:
            where = _propagator.extract(carrier)
        else:
            where = otel_context.get_current()
        parent_span = trace.get_current_span(where).get_span_context()
        valid = parent_span.is_valid
        if valid and self._follows_parent and not parent_span.trace_flags.sampled:
            return _Unsampled(
                SpanContext(
                    parent_span.trace_id,
                    self._ids.generate_span_id(),
                    False,
                    _NOT_SAMPLED,
                    parent_span.trace_state,
                )
            )
        trace_id = parent_span.trace_id if valid else self._ids.generate_trace_id()
        span_kind = _KINDS[kind]
        sampled = self._sampler.should_sample(where, trace_id, name, span_kind, attributes)
        decision = sampled.decision
        context = SpanContext(
            trace_id,
            self._ids.generate_span_id(),
            False,
            _SAMPLED if decision.is_sampled() else _NOT_SAMPLED,
            sampled.trace_state,
        )
        if not decision.is_recording():
            return _Unsampled(context)
        recorded = dict(attributes)
        if sampled.attributes:
            recorded.update(sampled.attributes)  # type: ignore[arg-type]  # what it adds
        return _Recorded(self, name, span_kind, context, parent_span if valid else None, recorded)

    def current_parent(self) -> TraceParent | None:
        return otel_context.get_current()

    def activate(self, span: Span) -> AbstractContextManager[None]:
        return _Activated(span)

    def outgoing_headers(self) -> dict[str, str]:
        context = trace.get_current_span().get_span_context()
        return _headers(context) if context.is_valid else {}

    def flush(self) -> None:
        self._provider.force_flush()

    def shutdown(self) -> None:
        self._provider.shutdown()


class _Activated:
    """``span`` as the current span within the block (a class, not a generator: it is entered
    on every traced request)."""

    __slots__ = ("_span", "_token")

    def __init__(self, span: Span) -> None:
        self._span = span

    def __enter__(self) -> None:
        context = getattr(self._span, "context", None)
        current = trace.NonRecordingSpan(context) if context is not None else trace.INVALID_SPAN
        self._token = otel_context.attach(trace.set_span_in_context(current))

    def __exit__(self, *exc_info: object) -> None:
        otel_context.detach(self._token)


def _resource(version: str) -> Resource:
    """The SDK's resource (``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_SERVICE_NAME``), named
    ``threadline`` when neither names the service."""
    resource = Resource.create({SERVICE_VERSION: version})
    named = str(resource.attributes.get(SERVICE_NAME, ""))
    if not named or named.startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    return resource
