"""/v1/threads"""

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from threadline.api.deps import CurrentPrincipal, State, json_body
from threadline.api.responses import model_response
from threadline.schemas.requests import CreateThread, ModifyThread

router = APIRouter(prefix="/threads")


@router.post("")
async def create_thread(
    state: State,
    principal: CurrentPrincipal,
    body: Annotated[CreateThread, Depends(json_body(CreateThread))],
) -> Response:
    return model_response(await state.threads.create(principal.project_id, body))


@router.get("/{thread_id}")
async def retrieve_thread(thread_id: str, state: State, principal: CurrentPrincipal) -> Response:
    return model_response(await state.threads.retrieve(principal.project_id, thread_id))


@router.post("/{thread_id}")
async def modify_thread(
    thread_id: str,
    state: State,
    principal: CurrentPrincipal,
    body: Annotated[ModifyThread, Depends(json_body(ModifyThread))],
) -> Response:
    return model_response(await state.threads.modify(principal.project_id, thread_id, body))


@router.delete("/{thread_id}")
async def delete_thread(thread_id: str, state: State, principal: CurrentPrincipal) -> Response:
    return model_response(await state.threads.delete(principal.project_id, thread_id))
