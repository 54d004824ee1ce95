"""/admin: key management with the master key."""

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import Field

from threadline.api.deps import State, json_body, require_master_key
from threadline.api.responses import json_bytes_response
from threadline.gateway.api_keys import MAX_LIMIT
from threadline.schemas.common import RequestModel

router = APIRouter(prefix="/admin", dependencies=[Depends(require_master_key)])


class CreateKey(RequestModel):
    project: Annotated[str, Field(min_length=1, max_length=256)]
    name: Annotated[str, Field(max_length=256)] | None = None
    rpm: Annotated[int, Field(ge=1, le=MAX_LIMIT)] | None = None
    tpm: Annotated[int, Field(ge=1, le=MAX_LIMIT)] | None = None
    models: list[Annotated[str, Field(min_length=1, max_length=256)]] | None = None


@router.get("/keys")
async def list_keys(state: State, project: str | None = None) -> Response:
    keys = await state.keys.list(project)
    return json_bytes_response({"object": "list", "data": keys, "has_more": False})


@router.post("/keys")
async def create_key(
    state: State, body: Annotated[CreateKey, Depends(json_body(CreateKey))]
) -> Response:
    created = await state.keys.create(
        body.project, name=body.name, rpm=body.rpm, tpm=body.tpm, models=body.models
    )
    view = await state.keys.get(created.id)
    # The secret is returned this once; only its hash is stored.
    return json_bytes_response({**view, "key": created.secret})


@router.get("/keys/{key_id}")
async def get_key(key_id: str, state: State) -> Response:
    return json_bytes_response(await state.keys.get(key_id))


@router.delete("/keys/{key_id}")
async def revoke_key(key_id: str, state: State) -> Response:
    view = await state.keys.revoke(key_id)
    return json_bytes_response({**view, "deleted": True})


@router.get("/usage")
async def usage(state: State, project: str | None = None) -> Response:
    # Nothing is metered yet: runs and the pass-through endpoints record usage once they exist.
    return json_bytes_response(
        {
            "object": "usage",
            "project": project,
            "input_tokens": 0,
            "output_tokens": 0,
            "total_tokens": 0,
            "cost_usd": "0",
            "data": [],
        }
    )
