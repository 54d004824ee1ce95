"""/v1/vector_stores/{vector_store_id}/files and /file_batches."""

from typing import Annotated, cast

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel

from threadline.api.deps import CurrentPrincipal, Page, State, json_body
from threadline.api.responses import model_response
from threadline.errors import InvalidRequest
from threadline.records.files import StoreFileStatus
from threadline.schemas.vector_stores import (
    CreateFileBatch,
    CreateVectorStoreFile,
    UpdateVectorStoreFile,
)

router = APIRouter(prefix="/vector_stores/{vector_store_id}")

STATUSES = ("in_progress", "completed", "failed", "cancelled")
# How often the SDK pollers (upload_and_poll, create_and_poll) should look again.
POLL_AFTER_MS = "200"


async def status_filter(request: Request) -> StoreFileStatus | None:
    value = request.query_params.get("filter") or None
    if value is not None and value not in STATUSES:
        raise InvalidRequest(
            f"Invalid 'filter': expected one of {', '.join(STATUSES)}, got '{value}'.",
            param="filter",
        )
    return cast(StoreFileStatus | None, value)


StatusFilter = Annotated[StoreFileStatus | None, Depends(status_filter)]


def _polled(model: BaseModel, status: str) -> Response:
    headers = {"openai-poll-after-ms": POLL_AFTER_MS} if status == "in_progress" else None
    return model_response(model, headers=headers)


@router.post("/files")
async def create_vector_store_file(
    vector_store_id: str,
    state: State,
    principal: CurrentPrincipal,
    body: Annotated[CreateVectorStoreFile, Depends(json_body(CreateVectorStoreFile))],
) -> Response:
    return model_response(
        await state.store_files.create(principal.project_id, vector_store_id, body)
    )


@router.get("/files")
async def list_vector_store_files(
    vector_store_id: str,
    state: State,
    principal: CurrentPrincipal,
    page: Page,
    status: StatusFilter,
) -> Response:
    return model_response(
        await state.store_files.list(principal.project_id, vector_store_id, page, status)
    )


@router.get("/files/{file_id}")
async def retrieve_vector_store_file(
    vector_store_id: str, file_id: str, state: State, principal: CurrentPrincipal
) -> Response:
    found = await state.store_files.retrieve(principal.project_id, vector_store_id, file_id)
    return _polled(found, found.status)


@router.post("/files/{file_id}")
async def update_vector_store_file(
    vector_store_id: str,
    file_id: str,
    state: State,
    principal: CurrentPrincipal,
    body: Annotated[UpdateVectorStoreFile, Depends(json_body(UpdateVectorStoreFile))],
) -> Response:
    return model_response(
        await state.store_files.update(
            principal.project_id, vector_store_id, file_id, body.attributes
        )
    )


@router.delete("/files/{file_id}")
async def delete_vector_store_file(
    vector_store_id: str, file_id: str, state: State, principal: CurrentPrincipal
) -> Response:
    return model_response(
        await state.store_files.delete(principal.project_id, vector_store_id, file_id)
    )


@router.get("/files/{file_id}/content")
async def retrieve_vector_store_file_content(
    vector_store_id: str, file_id: str, state: State, principal: CurrentPrincipal
) -> Response:
    return model_response(
        await state.store_files.content(principal.project_id, vector_store_id, file_id)
    )


@router.post("/file_batches")
async def create_file_batch(
    vector_store_id: str,
    state: State,
    principal: CurrentPrincipal,
    body: Annotated[CreateFileBatch, Depends(json_body(CreateFileBatch))],
) -> Response:
    return model_response(
        await state.file_batches.create(principal.project_id, vector_store_id, body)
    )


@router.get("/file_batches/{batch_id}")
async def retrieve_file_batch(
    vector_store_id: str, batch_id: str, state: State, principal: CurrentPrincipal
) -> Response:
    found = await state.file_batches.retrieve(principal.project_id, vector_store_id, batch_id)
    return _polled(found, found.status)


@router.post("/file_batches/{batch_id}/cancel")
async def cancel_file_batch(
    vector_store_id: str, batch_id: str, state: State, principal: CurrentPrincipal
) -> Response:
    return model_response(
        await state.file_batches.cancel(principal.project_id, vector_store_id, batch_id)
    )


@router.get("/file_batches/{batch_id}/files")
async def list_file_batch_files(
    vector_store_id: str,
    batch_id: str,
    state: State,
    principal: CurrentPrincipal,
    page: Page,
    status: StatusFilter,
) -> Response:
    return model_response(
        await state.file_batches.list_files(
            principal.project_id, vector_store_id, batch_id, page, status
        )
    )
