"""The server span of one HTTP request, after OpenTelemetry's HTTP semantic conventions.

Named ``{method} {route}`` once the route is known (``POST /v1/threads/{thread_id}/runs``);
a child of the client's span when its request carries a W3C ``traceparent``; an error when the
answer is a 5xx."""

from collections.abc import Iterable

from threadline.telemetry.base import AttributeValue, Span, Tracer
from threadline.telemetry.genai import KEY_ID, PROJECT

METHOD = "http.request.method"
PATH = "url.path"
ROUTE = "http.route"
STATUS = "http.response.status_code"

_TRACE_HEADERS = (b"traceparent", b"tracestate")


def start_request(
    tracer: Tracer, method: str, path: str, headers: Iterable[tuple[bytes, bytes]]
) -> Span:
    """The request's span (the caller checks ``tracer.enabled``: it is built only when on)."""
    carrier: dict[str, str] | None = None
    for name, value in headers:
        if name in _TRACE_HEADERS:
            carrier = carrier or {}
            carrier[name.decode("latin-1")] = value.decode("latin-1")
    return tracer.start(method, "server", {METHOD: method, PATH: path}, carrier=carrier)


def end_request(
    span: Span,
    method: str,
    status: int,
    route: str | None,
    project: str | None,
    key_id: str | None,
) -> None:
    if span.recording:
        attributes: dict[str, AttributeValue] = {STATUS: status}
        if route is not None:
            attributes[ROUTE] = route
            span.rename(f"{method} {route}")
        if project is not None:
            attributes[PROJECT] = project
        if key_id is not None:
            attributes[KEY_ID] = key_id
        span.set(attributes)
        if status >= 500:
            span.fail(str(status))
    span.end()
