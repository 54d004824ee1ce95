"""/v1/vector_stores: stores and search."""

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from threadline.api.deps import CurrentPrincipal, Page, State, json_body
from threadline.api.responses import model_response
from threadline.schemas.vector_stores import CreateVectorStore, ModifyVectorStore, SearchVectorStore

router = APIRouter(prefix="/vector_stores")


@router.post("")
async def create_vector_store(
    state: State,
    principal: CurrentPrincipal,
    body: Annotated[CreateVectorStore, Depends(json_body(CreateVectorStore))],
) -> Response:
    return model_response(await state.vector_stores.create(principal.project_id, body))


@router.get("")
async def list_vector_stores(state: State, principal: CurrentPrincipal, page: Page) -> Response:
    return model_response(await state.vector_stores.list(principal.project_id, page))


@router.get("/{vector_store_id}")
async def retrieve_vector_store(
    vector_store_id: str, state: State, principal: CurrentPrincipal
) -> Response:
    return model_response(await state.vector_stores.retrieve(principal.project_id, vector_store_id))


@router.post("/{vector_store_id}")
async def modify_vector_store(
    vector_store_id: str,
    state: State,
    principal: CurrentPrincipal,
    body: Annotated[ModifyVectorStore, Depends(json_body(ModifyVectorStore))],
) -> Response:
    return model_response(
        await state.vector_stores.modify(principal.project_id, vector_store_id, body)
    )


@router.delete("/{vector_store_id}")
async def delete_vector_store(
    vector_store_id: str, state: State, principal: CurrentPrincipal
) -> Response:
    return model_response(await state.vector_stores.delete(principal.project_id, vector_store_id))


@router.post("/{vector_store_id}/search")
async def search_vector_store(
    vector_store_id: str,
    state: State,
    principal: CurrentPrincipal,
    body: Annotated[SearchVectorStore, Depends(json_body(SearchVectorStore))],
) -> Response:
    return model_response(
        await state.vector_stores.search(principal.project_id, vector_store_id, body)
    )
