"""/v1/files: upload (multipart, streamed to disk), list, retrieve, delete, download."""

import mimetypes
import re
from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError

from threadline import ids
from threadline.api.deps import CurrentPrincipal, State, pagination
from threadline.api.errors import validation_error
from threadline.api.integers import ascii_int
from threadline.api.responses import model_response
from threadline.api.uploads import receive_upload
from threadline.errors import InvalidRequest, NotFound
from threadline.schemas.vector_stores import UploadForm
from threadline.storage.pagination import PageRequest

router = APIRouter(prefix="/files")

# /files pages are larger than the others: up to 10,000 files, 10,000 by default (the spec).
FilesPage = Annotated[PageRequest, Depends(pagination(max_limit=10_000, default_limit=10_000))]
_EXPIRES_FIELD = re.compile(r"^expires_after\[(anchor|seconds)\]$")


def upload_form(fields: dict[str, str]) -> UploadForm:
    """The form fields as the request model (``expires_after`` arrives in bracket notation)."""
    data: dict[str, object] = {}
    expires: dict[str, object] = {}
    for name, value in fields.items():
        if name == "purpose":
            data["purpose"] = value
        elif match := _EXPIRES_FIELD.match(name):
            # Form fields are text: a number in ASCII digits is the number, anything else
            # stays text for the model to refuse.
            number = ascii_int(value) if match.group(1) == "seconds" else None
            expires[match.group(1)] = value if number is None else number
        else:
            raise InvalidRequest(f"Unrecognized request argument supplied: {name}", param=name)
    if expires:
        data["expires_after"] = expires
    try:
        return UploadForm.model_validate(data)
    except ValidationError as error:
        raise validation_error(error, data) from None


@router.post("")
async def upload_file(request: Request, state: State, principal: CurrentPrincipal) -> Response:
    await state.files.check_room(principal.project_id)
    file_id = ids.file_id()
    writer = state.blobs.writer(file_id)
    try:
        upload = await receive_upload(
            request, writer, max_file_bytes=state.settings.max_upload_bytes
        )
        form = upload_form(upload.fields)
        await writer.commit()
    except BaseException:
        await writer.abort()
        raise
    try:
        created = await state.files.create(
            principal.project_id, file_id, filename=upload.filename, size=upload.size, form=form
        )
    except BaseException:
        await state.blobs.delete(file_id)
        raise
    return model_response(created)


@router.get("")
async def list_files(
    state: State, principal: CurrentPrincipal, page: FilesPage, purpose: str | None = None
) -> Response:
    return model_response(await state.files.list(principal.project_id, page, purpose or None))


@router.get("/{file_id}")
async def retrieve_file(file_id: str, state: State, principal: CurrentPrincipal) -> Response:
    return model_response(await state.files.retrieve(principal.project_id, file_id))


@router.delete("/{file_id}")
async def delete_file(file_id: str, state: State, principal: CurrentPrincipal) -> Response:
    return model_response(await state.files.delete(principal.project_id, file_id))


@router.get("/{file_id}/content")
async def download_file(file_id: str, state: State, principal: CurrentPrincipal) -> Response:
    record, chunks = await state.files.content(principal.project_id, file_id)
    iterator = aiter(chunks)
    try:
        first = await anext(iterator, b"")
    except FileNotFoundError:
        raise NotFound.object("file", file_id) from None  # deleted while we looked

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for chunk in iterator:
            yield chunk

    filename = record["filename"]
    media_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    headers = {
        "content-length": str(record["bytes"]),
        "content-disposition": content_disposition(filename),
        # Uploaded content is served as a download, never rendered as part of this origin (every
        # answer also carries ``x-content-type-options: nosniff``: see cli/serving.py).
        "content-security-policy": "default-src 'none'; sandbox",
    }
    return StreamingResponse(body(), media_type=media_type, headers=headers)


def content_disposition(filename: str) -> str:
    """``attachment`` with the name quoted safely: an ASCII fallback without quotes or
    backslashes, and the exact name percent-encoded (RFC 6266 / 5987)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
