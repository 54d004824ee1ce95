"""``/console/api``: what the web console needs beyond the OpenAI and admin APIs.

Every route takes a project key (its own project's data) or the master key (every project).
``GET /console/api/session`` tells the console which of the two it was given."""

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import Response

from threadline.api.deps import State, bearer_token, ensure_address_allowed
from threadline.api.responses import json_bytes_response
from threadline.app_state import AppState
from threadline.gateway.client_ip import ClientAddresses
from threadline.gateway.principal import Principal

router = APIRouter(prefix="/console/api", include_in_schema=False)


async def console_viewer(request: Request, state: AppState) -> Principal | None:
    """The project key's principal, or None for the master key; 401 for anything else."""
    token = bearer_token(request.headers.getlist("authorization"))
    master = state.settings.master_key
    if master is not None and hmac.compare_digest(
        token.encode(), master.get_secret_value().encode()
    ):
        return None
    principal = await state.keys.authenticate(token)
    if principal.networks is not None:
        client = request.client.host if request.client else None
        addresses = ClientAddresses(state.settings.trusted_proxies)
        ensure_address_allowed(
            principal, addresses.of(client, request.headers.getlist("x-forwarded-for"))
        )
    return principal


@router.get("/session")
async def session(request: Request, state: State) -> Response:
    viewer = await console_viewer(request, state)
    if viewer is None:
        return json_bytes_response({"role": "master", "project": None})
    return json_bytes_response(
        {
            "role": "project",
            "project": viewer.project,
            "key_id": viewer.key_id,
            "models": list(viewer.models) if viewer.models is not None else None,
        }
    )
