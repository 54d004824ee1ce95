"""Readiness: 200 once the database answers."""

from fastapi import APIRouter
from fastapi.responses import Response

from threadline.api.deps import State
from threadline.api.responses import json_bytes_response
from threadline.errors import ServiceUnavailable

router = APIRouter()


@router.get("/healthz")
@router.get("/v1/health")
async def health(state: State) -> Response:
    if not await state.database.ping():
        raise ServiceUnavailable("The database is not reachable.")
    return json_bytes_response({"status": "ok"})
