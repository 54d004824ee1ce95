"""The ``Tracer`` over the OpenTelemetry SDK: imported only when tracing is on.

Spans go through a ``BatchSpanProcessor`` (its ``OTEL_BSP_*`` variables) to the OTLP/HTTP
exporter, which reads its endpoint, headers, timeout and compression from the
``OTEL_EXPORTER_OTLP_*`` variables itself; the ``TracerProvider`` reads the sampler
(``OTEL_TRACES_SAMPLER`` and its ``_ARG``), and the resource ``OTEL_SERVICE_NAME`` and
``OTEL_RESOURCE_ATTRIBUTES``. Only the service name has a default of ours, ``threadline``, when
neither names one. The provider is this server's own, never installed as OpenTelemetry's global
one (tests build several servers in one process, and FastAPI would trace every request a second
time). Trace context crosses processes as W3C ``traceparent``/``tracestate``.

A span is recorded into plain fields rather than through the SDK's ``Span``, which validates
each attribute under a lock: that cost the gateway more than its own work on a pass-through
request (docs/benchmarks.md#tracing). Threadline's attributes are typed where they are built
(strings, numbers, tuples of strings), so nothing that check would catch reaches here. The record
is itself what the processor and the OTLP exporter read (it has a ``ReadableSpan``'s fields, and
is its own span context); an exporter that needs a ``ReadableSpan`` (tests' in-memory one) is
given one made of it. The current span is kept in a context variable of this module, not in
OpenTelemetry's context: nothing else reads that (the provider is not the global one), and
entering and leaving a span is then a variable set and reset. Sampling, ids, the resource and
the processor are the provider's, as the SDK's own tracer uses them; under the default sampler
(``parentbased_always_on``), whose answer is known in advance, the sampler is not asked."""

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, suppress
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from threadline.telemetry.base import Attributes, Span, TraceParent
from threadline.telemetry.base import SpanKind as Kind
from threadline.telemetry.otel_spans import (
    NOT_SAMPLED,
    SAMPLED,
    Ids,
    Recorded,
    Unsampled,
    readable,
    span_context,
    trace_headers,
)

DEFAULT_SERVICE_NAME = "threadline"
_KINDS = {"server": SpanKind.SERVER, "client": SpanKind.CLIENT, "internal": SpanKind.INTERNAL}
_propagator = TraceContextTextMapPropagator()
# The default sampler, and what its description says of a parent's decision: followed.
_PARENT_BASED_ALWAYS_ON = ParentBased(ALWAYS_ON).get_description()
_FOLLOWS_PARENTS = _PARENT_BASED_ALWAYS_ON[_PARENT_BASED_ALWAYS_ON.index(",remoteParentSampled") :]


# The current span's context, within a request, a run or a tool call (``Tracer.activate``).
_current: ContextVar[Ids | None] = ContextVar("threadline_current_span", default=None)


class OTelTracer:
    enabled = True

    def __init__(
        self,
        provider: TracerProvider,
        processor: BatchSpanProcessor,
        *,
        capture_content: bool,
        version: str,
        records_exported: bool = False,
    ) -> None:
        """``processor``: the provider's, given its spans directly; ``records_exported``: its
        exporter reads this module's records as they are (else it is given ReadableSpans)."""
        self._provider = provider
        self.processor = processor
        on_end = processor.on_end
        self.hand_over: Callable[[Recorded], None] = (
            on_end if records_exported else lambda record: on_end(readable(record))
        )
        self.resource = provider.resource
        self.scope = InstrumentationScope("threadline", version)
        self._sampler = provider.sampler
        # The samplers the OTEL_TRACES_SAMPLER variable names that follow a parent's decision
        # (the default, parentbased_always_on, is one): under an unsampled parent they are not
        # asked (a child of an unsampled request costs an id, no more), nor under a sampled one
        # when they keep what a sampled parent keeps, as all of them do; the default is not
        # asked of a root either (it keeps every one).
        self._follows_parent = isinstance(self._sampler, ParentBased)
        description = self._sampler.get_description()
        self._keeps_sampled_children = self._follows_parent and description.endswith(
            _FOLLOWS_PARENTS
        )
        self._keeps_roots = description == _PARENT_BASED_ALWAYS_ON
        self._ids = provider.id_generator
        self.new_span_id = self._ids.generate_span_id
        self.capture_content = capture_content

    @classmethod
    def build(
        cls, exporter: SpanExporter | None, *, capture_content: bool, version: str
    ) -> "OTelTracer":
        """``exporter``: where spans go (tests pass an in-memory one); None: OTLP/HTTP, as the
        ``OTEL_EXPORTER_OTLP_*`` variables say (``otlp_export``)."""
        if exporter is None:
            from threadline.telemetry.otlp_export import OTLPBytesExporter

            exporter = OTLPBytesExporter()
        provider = TracerProvider(resource=_resource(version))
        processor = BatchSpanProcessor(exporter)
        provider.add_span_processor(processor)
        return cls(
            provider,
            processor,
            capture_content=capture_content,
            version=version,
            records_exported=getattr(exporter, "encodes", False),
        )

    def start(
        self,
        name: str,
        kind: Kind,
        attributes: Attributes,
        *,
        parent: TraceParent | None = None,
        carrier: Mapping[str, str] | None = None,
    ) -> Span:
        """The span keeps ``attributes`` as given when it is recorded (a dict of the caller's
        own: the helpers build one per span)."""
        up: Ids | None
        if parent is not None:
            up = parent  # type: ignore[assignment]  # from current_parent()
        elif carrier:
            up = _remote_parent(carrier)
        else:
            up = _current.get()
        span_kind = _KINDS[kind]
        recorded = attributes if type(attributes) is dict else dict(attributes)
        if up is not None:
            if self._follows_parent:
                if not up.trace_flags.sampled:
                    return Unsampled(up.trace_id, self.new_span_id(), up.trace_state)
                if self._keeps_sampled_children:
                    return Recorded(
                        self, name, span_kind, up.trace_id, SAMPLED, up.trace_state, up, recorded
                    )
            trace_id = up.trace_id
            where = trace.set_span_in_context(trace.NonRecordingSpan(span_context(up)))
        else:
            trace_id = self._ids.generate_trace_id()
            if self._keeps_roots:
                return Recorded(self, name, span_kind, trace_id, SAMPLED, None, None, recorded)
            where = Context()
        sampled = self._sampler.should_sample(where, trace_id, name, span_kind, attributes)
        decision = sampled.decision
        if not decision.is_recording():  # (and so not sampled)
            return Unsampled(trace_id, self.new_span_id(), sampled.trace_state)
        flags = SAMPLED if decision.is_sampled() else NOT_SAMPLED
        if sampled.attributes:
            recorded.update(sampled.attributes)  # type: ignore[arg-type]  # what it adds
        return Recorded(self, name, span_kind, trace_id, flags, sampled.trace_state, up, recorded)

    def current_parent(self) -> TraceParent | None:
        return _current.get()

    def activate(self, span: Span) -> AbstractContextManager[None]:
        return _Activated(span)

    def outgoing_headers(self) -> dict[str, str]:
        context = _current.get()
        return trace_headers(context) if context is not None else {}

    def flush(self) -> None:
        self._provider.force_flush()

    def shutdown(self) -> None:
        self._provider.shutdown()


def _remote_parent(carrier: Mapping[str, str]) -> SpanContext | None:
    """A client's span context, from its ``traceparent``/``tracestate`` (None if invalid)."""
    context = trace.get_current_span(_propagator.extract(carrier)).get_span_context()
    return context if context.is_valid else None


class _Activated:
    """``span`` as the current span within the block (a class, not a generator: it is entered
    on every traced request)."""

    __slots__ = ("_span", "_token")

    def __init__(self, span: Span) -> None:
        self._span = span

    def __enter__(self) -> None:
        context: Any = getattr(self._span, "context", None)
        self._token = _current.set(context)

    def __exit__(self, *exc_info: object) -> None:
        with suppress(ValueError):  # left in another context than it was entered in
            _current.reset(self._token)


def _resource(version: str) -> Resource:
    """The SDK's resource (``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_SERVICE_NAME``), named
    ``threadline`` when neither names the service."""
    resource = Resource.create({SERVICE_VERSION: version})
    named = str(resource.attributes.get(SERVICE_NAME, ""))
    if not named or named.startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    return resource
