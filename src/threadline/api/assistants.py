"""/v1/assistants"""

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from threadline.api.deps import CurrentPrincipal, Page, State, json_body
from threadline.api.responses import model_response
from threadline.schemas.requests import CreateAssistant, ModifyAssistant

router = APIRouter(prefix="/assistants")


@router.post("")
async def create_assistant(
    state: State,
    principal: CurrentPrincipal,
    body: Annotated[CreateAssistant, Depends(json_body(CreateAssistant))],
) -> Response:
    return model_response(
        await state.assistants.create(principal.project_id, body, principal.models)
    )


@router.get("")
async def list_assistants(state: State, principal: CurrentPrincipal, page: Page) -> Response:
    return model_response(await state.assistants.list(principal.project_id, page))


@router.get("/{assistant_id}")
async def retrieve_assistant(
    assistant_id: str, state: State, principal: CurrentPrincipal
) -> Response:
    return model_response(await state.assistants.retrieve(principal.project_id, assistant_id))


@router.post("/{assistant_id}")
async def modify_assistant(
    assistant_id: str,
    state: State,
    principal: CurrentPrincipal,
    body: Annotated[ModifyAssistant, Depends(json_body(ModifyAssistant))],
) -> Response:
    return model_response(
        await state.assistants.modify(principal.project_id, assistant_id, body, principal.models)
    )


@router.delete("/{assistant_id}")
async def delete_assistant(
    assistant_id: str, state: State, principal: CurrentPrincipal
) -> Response:
    return model_response(await state.assistants.delete(principal.project_id, assistant_id))
