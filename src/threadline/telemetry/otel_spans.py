"""The spans of the OpenTelemetry tracer (``otel.py``): a recorded span, an unsampled one, and
the ``ReadableSpan`` made of a record for an exporter that reads only those.

A record has a ``ReadableSpan``'s fields and is its own span context (``trace_id``,
``span_id``, ``trace_flags``, ``trace_state``, ``is_remote``): the batch processor and the OTLP
encoder (``otlp_encoding``) read it as it is, with nothing copied when it ends."""

from time import time_ns
from typing import Protocol

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

from threadline.telemetry.base import Attributes, AttributeValue

_ERROR_TYPE = "error.type"
_UNSET = Status(StatusCode.UNSET)
SAMPLED = TraceFlags(TraceFlags.SAMPLED)
NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)


class Ids(Protocol):
    """A span context: a client's ``SpanContext``, or a record or an unsampled span (each its
    own)."""

    trace_id: int
    span_id: int
    trace_flags: TraceFlags
    trace_state: TraceState | None
    is_remote: bool


class Owner(Protocol):
    """What a record needs of its tracer."""

    resource: Resource
    scope: InstrumentationScope

    def new_span_id(self) -> int: ...

    def hand_over(self, record: "Recorded") -> None:
        """An ended record, to the processor."""
        ...


def trace_headers(context: Ids) -> dict[str, str]:
    """W3C trace context naming ``context`` as the parent (as the SDK's propagator writes it)."""
    headers = {
        "traceparent": f"00-{context.trace_id:032x}-{context.span_id:016x}-"
        f"{context.trace_flags:02x}"
    }
    if context.trace_state:
        headers["tracestate"] = context.trace_state.to_header()
    return headers


def span_context(ids: Ids) -> SpanContext:
    if isinstance(ids, SpanContext):
        return ids
    return SpanContext(ids.trace_id, ids.span_id, ids.is_remote, ids.trace_flags, ids.trace_state)


class Unsampled:
    """A span the sampler dropped: nothing is kept, but its trace still goes upstream. It is
    its own span context (not sampled), as a record is."""

    __slots__ = ("span_id", "trace_id", "trace_state")
    is_remote = False
    trace_flags = NOT_SAMPLED

    def __init__(self, trace_id: int, span_id: int, trace_state: TraceState | None) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.trace_state = trace_state

    @property
    def context(self) -> "Unsampled":
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
        return trace_headers(self)

    def end(self) -> None:
        pass


class Recorded:
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
        tracer: Owner,
        name: str,
        kind: SpanKind,
        trace_id: int,
        trace_flags: TraceFlags,
        trace_state: TraceState | None,
        parent: Ids | None,
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
    def context(self) -> "Recorded":
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
        return trace_headers(self)

    def end(self) -> None:
        if self.end_time is None:
            self.end_time = time_ns()
            self._tracer.hand_over(self)


def readable(record: Recorded) -> ReadableSpan:
    """The SDK's ``ReadableSpan`` of a record, for an exporter that reads only those."""
    return ReadableSpan(
        record.name,
        span_context(record),
        span_context(record.parent) if record.parent is not None else None,
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
