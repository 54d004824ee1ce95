"""GET /metrics: Prometheus text format (``THREADLINE_METRICS=false`` turns it off)."""

from fastapi import APIRouter
from fastapi.responses import Response

from threadline.api.deps import State
from threadline.app_state import AppState
from threadline.errors import RouteNotFound
from threadline.gateway.metrics import CONTENT_TYPE, merged_exposition
from threadline.providers.cluster.link import HubUnavailable

router = APIRouter()
# What the worker processes of one server gather from each other for GET /metrics.
METRICS = "metrics"


@router.get("/metrics", include_in_schema=False)
async def metrics(state: State) -> Response:
    if not state.settings.metrics:
        raise RouteNotFound("Invalid URL (GET /metrics)", code="unknown_url")
    if state.hub is not None:
        # One of several worker processes: the server's metrics are all of theirs.
        try:
            reports = await state.hub.gather(METRICS)
            return Response(merged_exposition([str(r) for r in reports]), media_type=CONTENT_TYPE)
        except HubUnavailable:
            pass  # stopping: this process's own
    return Response(local_metrics(state), media_type=CONTENT_TYPE)


def answer_gathers(state: AppState) -> None:
    """Let the other worker processes gather this one's metrics."""
    if state.hub is not None:
        state.hub.on_gather(METRICS, lambda: local_metrics(state).decode())


def local_metrics(state: AppState) -> bytes:
    """This process's metrics, observed now."""
    state.gateway.observe()
    return state.gateway.metrics.render()
