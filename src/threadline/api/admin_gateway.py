"""/admin: projects' limits and budgets, usage and cost, the request log (master key)."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from threadline.api.admin import CacheTtl, Limit, ModelName, Usd
from threadline.api.deps import State, json_body, require_master_key
from threadline.api.report_params import log_query, usage_query
from threadline.api.responses import json_bytes_response
from threadline.errors import InvalidRequest
from threadline.gateway.pricing import usd_to_nanos
from threadline.gateway.projects import ProjectSettings
from threadline.schemas.common import RequestModel

router = APIRouter(prefix="/admin", dependencies=[Depends(require_master_key)])


class UpdateProject(RequestModel):
    """Fields present change (null clears one); absent ones keep their value. ``models``: null
    lifts the restriction, an empty list is refused (400, ``param`` ``models``)."""

    rpm: Limit | None = None
    tpm: Limit | None = None
    max_parallel: Limit | None = None
    budget_usd: Usd | None = None
    budget_period: Literal["day", "month"] | None = None
    models: list[ModelName] | None = None
    assistants_passthrough: ModelName | None = None
    cache_ttl: CacheTtl | None = None

    def settings(self) -> ProjectSettings:
        values = {name: getattr(self, name) for name in self.model_fields_set}
        if "budget_usd" in values:
            budget = values.pop("budget_usd")
            values["budget_nanos"] = usd_to_nanos(budget) if budget is not None else None
        return ProjectSettings(**values)


@router.get("/projects")
async def list_projects(state: State) -> Response:
    projects = await state.projects.list()
    return json_bytes_response({"object": "list", "data": projects, "has_more": False})


@router.get("/projects/{name}")
async def get_project(name: str, state: State) -> Response:
    return json_bytes_response(await state.projects.get(name))


@router.post("/projects/{name}")
async def update_project(
    name: str,
    state: State,
    body: Annotated[UpdateProject, Depends(json_body(UpdateProject))],
) -> Response:
    if not 1 <= len(name) <= 256:
        raise InvalidRequest("A project name has 1 to 256 characters.", param="name")
    return json_bytes_response(await state.projects.update(name, body.settings()))


@router.get("/usage")
async def usage(request: Request, state: State) -> Response:
    """Filters: project, key, model, meter, since/until (YYYY-MM-DD); ``group_by``: any of
    project, key, model, day, meter (default project,key,model,day)."""
    return json_bytes_response(await state.reports.usage(usage_query(request.query_params)))


@router.get("/logs")
async def logs(request: Request, state: State) -> Response:
    """Filters: project, key, model, method, path, cache (hit or miss), status (404 or 4xx),
    since/until (Unix ms), before (a request id, to page back), limit (1 to 1000, default 100)."""
    query = log_query(request.query_params)
    return json_bytes_response(await state.reports.logs(query.filters, query.limit))
