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
from time import time_ns
from typing import Any, Protocol

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.span import TraceState

from threadline.telemetry.base import Attributes, AttributeValue, Span, TraceParent
from threadline.telemetry.base import SpanKind as Kind

DEFAULT_SERVICE_NAME = "threadline"
_KINDS = {"server": SpanKind.SERVER, "client": SpanKind.CLIENT, "internal": SpanKind.INTERNAL}
_ERROR_TYPE = "error.type"
_UNSET = Status(StatusCode.UNSET)
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)
_propagator = TraceContextTextMapPropagator()
# The default sampler, and what its description says of a parent's decision: followed.
_PARENT_BASED_ALWAYS_ON = ParentBased(ALWAYS_ON).get_description()
_FOLLOWS_PARENTS = _PARENT_BASED_ALWAYS_ON[_PARENT_BASED_ALWAYS_ON.index(",remoteParentSampled") :]


class _Ids(Protocol):
    """A span context: a ``SpanContext`` (a client's, or an unsampled span's) or a record."""

    trace_id: int
    span_id: int
    trace_flags: TraceFlags
    trace_state: TraceState | None
    is_remote: bool


# The current span's context, within a request, a run or a tool call (``Tracer.activate``).
_current: ContextVar[_Ids | None] = ContextVar("threadline_current_span", default=None)


def _headers(context: _Ids) -> dict[str, str]:
    """W3C trace context naming ``context`` as the parent (as the SDK's propagator writes it)."""
    headers = {
        "traceparent": f"00-{context.trace_id:032x}-{context.span_id:016x}-"
        f"{context.trace_flags:02x}"
    }
    if context.trace_state:
        headers["tracestate"] = context.trace_state.to_header()
    return headers


def _span_context(ids: _Ids) -> SpanContext:
    if isinstance(ids, SpanContext):
        return ids
    return SpanContext(ids.trace_id, ids.span_id, ids.is_remote, ids.trace_flags, ids.trace_state)


class _Unsampled:
    """A span the sampler dropped: nothing is kept, but its trace still goes upstream. It is
    its own span context (not sampled), as a record is."""

    __slots__ = ("span_id", "trace_id", "trace_state")
    is_remote = False
    trace_flags = _NOT_SAMPLED

    def __init__(self, trace_id: int, span_id: int, trace_state: TraceState | None) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.trace_state = trace_state

    @property
    def context(self) -> "_Unsampled":
        return self

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
        return _headers(self)

    def end(self) -> None:
        pass


class _Recorded:
    """A recorded span: its fields, named as a ``ReadableSpan``'s, until ``end`` hands it to the
    processor (once; what is set on it afterwards is not kept)."""

    __slots__ = (
        "_tracer",
        "attributes",
        "end_time",
        "events",
        "kind",
        "name",
        "parent",
        "span_id",
        "start_time",
        "status",
        "trace_flags",
        "trace_id",
        "trace_state",
    )
    # What a ReadableSpan also has, constant here.
    is_remote = False
    links = ()
    dropped_attributes = dropped_events = dropped_links = 0

    def __init__(
        self,
        tracer: "OTelTracer",
        name: str,
        kind: SpanKind,
        trace_id: int,
        trace_flags: TraceFlags,
        trace_state: TraceState | None,
        parent: _Ids | None,
        attributes: dict[str, AttributeValue],
    ) -> None:
        self._tracer = tracer
        self.name = name
        self.kind = kind
        self.trace_id = trace_id
        self.span_id = tracer.new_span_id()
        self.trace_flags = trace_flags
        self.trace_state = trace_state
        self.parent = parent
        self.attributes = attributes
        self.events: list[Event] = []
        self.status = _UNSET
        self.end_time: int | None = None
        self.start_time = time_ns()

    @property
    def context(self) -> "_Recorded":
        """Its span context (the processor reads ``context.trace_flags``): itself."""
        return self

    @property
    def resource(self) -> Resource:
        return self._tracer.resource

    @property
    def instrumentation_scope(self) -> InstrumentationScope:
        return self._tracer.scope

    @property
    def recording(self) -> bool:
        return self.end_time is None

    def set(self, attributes: Attributes) -> None:
        if self.end_time is None:
            self.attributes.update(attributes)

    def event(self, name: str, attributes: Attributes) -> None:
        if self.end_time is None:
            self.events.append(Event(name, dict(attributes)))

    def rename(self, name: str) -> None:
        if self.end_time is None:
            self.name = name

    def fail(self, error_type: str, message: str | None = None) -> None:
        if self.end_time is None:
            self.attributes[_ERROR_TYPE] = error_type
            self.status = Status(StatusCode.ERROR, message)

    def outgoing_headers(self) -> dict[str, str]:
        return _headers(self)

    def end(self) -> None:
        if self.end_time is None:
            self.end_time = time_ns()
            self._tracer.hand_over(self)


def readable(record: _Recorded) -> ReadableSpan:
    """The SDK's ``ReadableSpan`` of a record, for an exporter that reads only those."""
    return ReadableSpan(
        record.name,
        _span_context(record),
        _span_context(record.parent) if record.parent is not None else None,
        record.resource,
        record.attributes,
        record.events,
        (),
        record.kind,
        None,
        record.status,
        record.start_time,
        record.end_time,
        record.instrumentation_scope,
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
        records_exported: bool = False,
    ) -> None:
        """``processor``: the provider's, given its spans directly; ``records_exported``: its
        exporter reads this module's records as they are (else it is given ReadableSpans)."""
        self._provider = provider
        self.processor = processor
        on_end = processor.on_end
        self.hand_over: Callable[[_Recorded], None] = (
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
        up: _Ids | None
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
                    return _Unsampled(up.trace_id, self.new_span_id(), up.trace_state)
                if self._keeps_sampled_children:
                    return _Recorded(
                        self, name, span_kind, up.trace_id, _SAMPLED, up.trace_state, up, recorded
                    )
            trace_id = up.trace_id
            where = trace.set_span_in_context(trace.NonRecordingSpan(_span_context(up)))
        else:
            trace_id = self._ids.generate_trace_id()
            if self._keeps_roots:
                return _Recorded(self, name, span_kind, trace_id, _SAMPLED, None, None, recorded)
            where = Context()
        sampled = self._sampler.should_sample(where, trace_id, name, span_kind, attributes)
        decision = sampled.decision
        if not decision.is_recording():  # (and so not sampled)
            return _Unsampled(trace_id, self.new_span_id(), sampled.trace_state)
        flags = _SAMPLED if decision.is_sampled() else _NOT_SAMPLED
        if sampled.attributes:
            recorded.update(sampled.attributes)  # type: ignore[arg-type]  # what it adds
        return _Recorded(self, name, span_kind, trace_id, flags, sampled.trace_state, up, recorded)

    def current_parent(self) -> TraceParent | None:
        return _current.get()

    def activate(self, span: Span) -> AbstractContextManager[None]:
        return _Activated(span)

    def outgoing_headers(self) -> dict[str, str]:
        context = _current.get()
        return _headers(context) if context is not None else {}

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
