"""/v1/conversations: a conversation is a thread (``services.conversations``). Bodies are read
with the Responses API's wording (``api.response_validation``)."""

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel

from threadline.api.deps import CurrentPrincipal, Page, State, read_json
from threadline.api.response_validation import parse_body
from threadline.api.responses import json_bytes_response, model_response
from threadline.app_state import AppState
from threadline.errors import InvalidRequest
from threadline.schemas.response_items import supported_values
from threadline.schemas.responses import (
    INCLUDABLE,
    CreateConversation,
    CreateConversationItems,
    UpdateConversation,
)

router = APIRouter(prefix="/conversations")

Model = TypeVar("Model", bound=BaseModel)


def body(model: type[Model]) -> Callable[[Request, AppState], Awaitable[Model]]:
    async def parse(request: Request, state: State) -> Model:
        return parse_body(model, await read_json(request, state.settings.max_json_body_bytes))

    return parse


async def item_include(request: Request) -> frozenset[str]:
    """``include[]``: what item fields to show beyond the default (tool results, outputs)."""
    values = request.query_params.getlist("include[]") + request.query_params.getlist("include")
    for value in values:
        if value not in INCLUDABLE:
            raise InvalidRequest(
                f"Invalid value: '{value}'. Supported values are: {supported_values(INCLUDABLE)}.",
                param="include",
                code="invalid_value",
            )
    return frozenset(values)


Include = Annotated[frozenset[str], Depends(item_include)]


@router.post("")
async def create_conversation(
    state: State,
    principal: CurrentPrincipal,
    request: Annotated[CreateConversation, Depends(body(CreateConversation))],
) -> Response:
    return model_response(await state.conversations.create(principal.project_id, request))


@router.get("/{conversation_id}")
async def retrieve_conversation(
    conversation_id: str, state: State, principal: CurrentPrincipal
) -> Response:
    conversations = state.conversations
    return model_response(await conversations.retrieve(principal.project_id, conversation_id))


@router.post("/{conversation_id}")
async def update_conversation(
    conversation_id: str,
    state: State,
    principal: CurrentPrincipal,
    request: Annotated[UpdateConversation, Depends(body(UpdateConversation))],
) -> Response:
    return model_response(
        await state.conversations.update(principal.project_id, conversation_id, request)
    )


@router.delete("/{conversation_id}")
async def delete_conversation(
    conversation_id: str, state: State, principal: CurrentPrincipal
) -> Response:
    return model_response(await state.conversations.delete(principal.project_id, conversation_id))


@router.post("/{conversation_id}/items")
async def create_items(
    conversation_id: str,
    state: State,
    principal: CurrentPrincipal,
    include: Include,
    request: Annotated[CreateConversationItems, Depends(body(CreateConversationItems))],
) -> Response:
    added = await state.conversations.add_items(
        principal.project_id, conversation_id, request, include
    )
    return json_bytes_response(added)


@router.get("/{conversation_id}/items")
async def list_items(
    conversation_id: str, state: State, principal: CurrentPrincipal, page: Page, include: Include
) -> Response:
    listed = await state.conversations.list_items(
        principal.project_id, conversation_id, page, include
    )
    return json_bytes_response(listed)


@router.get("/{conversation_id}/items/{item_id}")
async def retrieve_item(
    conversation_id: str, item_id: str, state: State, principal: CurrentPrincipal, include: Include
) -> Response:
    item = await state.conversations.retrieve_item(
        principal.project_id, conversation_id, item_id, include
    )
    return json_bytes_response(item)


@router.delete("/{conversation_id}/items/{item_id}")
async def delete_item(
    conversation_id: str, item_id: str, state: State, principal: CurrentPrincipal
) -> Response:
    return model_response(
        await state.conversations.delete_item(principal.project_id, conversation_id, item_id)
    )
