"""The server span of every request the gateway watches (docs/tracing.md): installed by the
composition root only when tracing is on, just outside the gateway middleware.

The span is the current span while the request is served, so what the request does (its model
call, the run it queues) hangs under it; a client's W3C ``traceparent`` makes it part of the
client's trace. Its route, status, project and key come from the gateway's ``RequestMeter``.
Health checks, metrics and the console's static files are not traced, as they are not logged."""

from starlette.types import ASGIApp, Receive, Scope, Send

from threadline.api.gateway_middleware import is_unwatched
from threadline.api.meter import RequestMeter
from threadline.telemetry import Tracer
from threadline.telemetry.http import end_request, start_request


class TracingMiddleware:
    def __init__(self, app: ASGIApp, tracer: Tracer) -> None:
        self.app = app
        self._tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_unwatched(scope["path"]):
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        span = start_request(self._tracer, method, scope["path"], scope["headers"])
        try:
            with self._tracer.activate(span):
                await self.app(scope, receive, send)
        finally:
            meter: RequestMeter | None = scope.get("state", {}).get("gateway")
            if meter is None:  # the gateway never saw it: something failed before
                end_request(span, method, 500, None, None, None)
            else:
                principal = meter.principal
                end_request(
                    span,
                    method,
                    meter.status,
                    meter.route,
                    principal.project_id if principal else None,
                    principal.key_id if principal else None,
                )
