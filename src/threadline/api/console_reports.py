"""``/console/api/usage`` and ``/console/api/logs``: the usage report and the request log of
``/admin/usage`` and ``/admin/logs`` (the same parameters, the same reports) for the console.

The master key sees every project (``project`` filters); a project key sees its own project
only: its filter is forced to that project, and naming another project is refused (403)."""

import dataclasses

from fastapi import APIRouter, Request
from fastapi.responses import Response

from threadline.api.console_api import console_viewer
from threadline.api.deps import State
from threadline.api.report_params import log_query, usage_query
from threadline.api.responses import json_bytes_response
from threadline.errors import PermissionDenied
from threadline.gateway.principal import Principal

router = APIRouter(prefix="/console/api", include_in_schema=False)


def _viewers_project(viewer: Principal | None, asked: str | None) -> str | None:
    """The project a report covers: the one asked for (None: all) for the master key, the
    key's own for a project key."""
    if viewer is None:
        return asked
    if asked is not None and asked != viewer.project:
        raise PermissionDenied(
            "A project key sees only its own project's usage and logs.",
            param="project",
            code="project_not_allowed",
        )
    return viewer.project


@router.get("/usage")
async def usage(request: Request, state: State) -> Response:
    viewer = await console_viewer(request, state)
    query = usage_query(request.query_params)
    query = dataclasses.replace(query, project=_viewers_project(viewer, query.project))
    return json_bytes_response(await state.reports.usage(query))


@router.get("/logs")
async def logs(request: Request, state: State) -> Response:
    viewer = await console_viewer(request, state)
    query = log_query(request.query_params)
    project = _viewers_project(viewer, query.filters.pop("project", None))
    if project is not None:
        query.filters["project"] = project
    return json_bytes_response(await state.reports.logs(query.filters, query.limit))
