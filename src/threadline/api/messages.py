"""/v1/threads/{thread_id}/messages"""

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from threadline.api.deps import CurrentPrincipal, Page, State, json_body
from threadline.api.responses import model_response
from threadline.schemas.requests import CreateMessage, ModifyMessage

router = APIRouter(prefix="/threads/{thread_id}/messages")


@router.post("")
async def create_message(
    thread_id: str,
    state: State,
    principal: CurrentPrincipal,
    body: Annotated[CreateMessage, Depends(json_body(CreateMessage))],
) -> Response:
    return model_response(await state.messages.create(principal.project_id, thread_id, body))


@router.get("")
async def list_messages(
    thread_id: str,
    state: State,
    principal: CurrentPrincipal,
    page: Page,
    run_id: str | None = None,
) -> Response:
    return model_response(
        await state.messages.list(principal.project_id, thread_id, page, run_id=run_id)
    )


@router.get("/{message_id}")
async def retrieve_message(
    thread_id: str, message_id: str, state: State, principal: CurrentPrincipal
) -> Response:
    return model_response(
        await state.messages.retrieve(principal.project_id, thread_id, message_id)
    )


@router.post("/{message_id}")
async def modify_message(
    thread_id: str,
    message_id: str,
    state: State,
    principal: CurrentPrincipal,
    body: Annotated[ModifyMessage, Depends(json_body(ModifyMessage))],
) -> Response:
    return model_response(
        await state.messages.modify(principal.project_id, thread_id, message_id, body)
    )


@router.delete("/{message_id}")
async def delete_message(
    thread_id: str, message_id: str, state: State, principal: CurrentPrincipal
) -> Response:
    return model_response(await state.messages.delete(principal.project_id, thread_id, message_id))
