"""The tracing seam: what the rest of Threadline calls, and the implementation used when tracing
is off, whose methods do nothing.

The composition root chooses the ``Tracer`` once, at start-up (``telemetry.build_tracer``): this
one, or the OpenTelemetry one (``telemetry.otel``, imported only then). Nothing here imports
OpenTelemetry, so a server without tracing never loads it. Call sites whose attributes cost
something to build check ``tracer.enabled`` or ``span.recording`` first (``genai.py`` and
``http.py`` do it for them)."""

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Literal, Protocol

# What a span attribute may hold (OpenTelemetry's primitive values and their sequences).
AttributeValue = str | bool | int | float | Sequence[str] | Sequence[int] | Sequence[float]
Attributes = Mapping[str, AttributeValue]
SpanKind = Literal["server", "client", "internal"]


class TraceParent(Protocol):
    """Where a span started later should hang: an opaque trace context (OpenTelemetry's
    ``Context``), taken with ``Tracer.current_parent`` while a request is being served."""


class Span(Protocol):
    @property
    def recording(self) -> bool:
        """Whether what is set on this span is kept (False when off, or not sampled)."""
        ...

    def set(self, attributes: Attributes) -> None: ...

    def event(self, name: str, attributes: Attributes) -> None: ...

    def rename(self, name: str) -> None: ...

    def fail(self, error_type: str, message: str | None = None) -> None:
        """Mark the span as an error (status ERROR, ``error.type``)."""
        ...

    def outgoing_headers(self) -> dict[str, str]:
        """W3C ``traceparent`` (and ``tracestate``) naming this span as the parent of what a
        request it makes does upstream; empty when tracing is off."""
        ...

    def end(self) -> None: ...


class Tracer(Protocol):
    enabled: bool
    # Prompts and completions as span events (THREADLINE_OTEL_CAPTURE_CONTENT): off by default.
    capture_content: bool

    def start(
        self,
        name: str,
        kind: SpanKind,
        attributes: Attributes,
        *,
        parent: TraceParent | None = None,
        carrier: Mapping[str, str] | None = None,
    ) -> Span:
        """A span, child of ``parent`` if given, else of the trace context in ``carrier`` (a
        client's ``traceparent``) if it has one, else of the current span."""
        ...

    def current_parent(self) -> TraceParent | None:
        """The current trace context, to parent a span started later elsewhere (a run the
        worker claims after the request that queued it)."""
        ...

    def activate(self, span: Span) -> AbstractContextManager[None]:
        """Make ``span`` the current span (of this task) for the block."""
        ...

    def outgoing_headers(self) -> dict[str, str]:
        """``traceparent``/``tracestate`` of the current span, for a request sent upstream."""
        ...

    def flush(self) -> None:
        """Export what has ended so far (tests; shutdown does it too)."""
        ...

    def shutdown(self) -> None: ...


class _NoSpan:
    """A span that keeps nothing: tracing is off."""

    __slots__ = ()

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
        return {}

    def end(self) -> None:
        pass


NO_SPAN: Span = _NoSpan()


@contextmanager
def _nothing() -> Iterator[None]:
    yield


class _NoTracer:
    """Tracing is off: every method does nothing, and nothing of OpenTelemetry is loaded."""

    enabled = False
    capture_content = False

    def start(
        self,
        name: str,
        kind: SpanKind,
        attributes: Attributes,
        *,
        parent: TraceParent | None = None,
        carrier: Mapping[str, str] | None = None,
    ) -> Span:
        return NO_SPAN

    def current_parent(self) -> TraceParent | None:
        return None

    def activate(self, span: Span) -> AbstractContextManager[None]:
        return _nothing()

    def outgoing_headers(self) -> dict[str, str]:
        return {}

    def flush(self) -> None:
        pass

    def shutdown(self) -> None:
        pass


NO_TRACER: Tracer = _NoTracer()
