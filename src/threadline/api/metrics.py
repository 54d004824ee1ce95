"""GET /metrics: Prometheus text format (``THREADLINE_METRICS=false`` turns it off)."""

from fastapi import APIRouter
from fastapi.responses import Response

from threadline.api.deps import State
from threadline.errors import RouteNotFound
from threadline.gateway.metrics import CONTENT_TYPE

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(state: State) -> Response:
    if not state.settings.metrics:
        raise RouteNotFound("Invalid URL (GET /metrics)", code="unknown_url")
    state.gateway.observe()
    return Response(state.gateway.metrics.render(), media_type=CONTENT_TYPE)
