"""JSON responses serialized with orjson; SDK models dumped with their explicit nulls."""

from typing import Any

import orjson
from fastapi.responses import Response
from pydantic import BaseModel


def json_bytes_response(
    content: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(content),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )


def model_response(model: BaseModel, headers: dict[str, str] | None = None) -> Response:
    # exclude_unset: builders pass every required key (nulls included) explicitly, so only
    # optional keys that were never given are left out, as OpenAI leaves them out.
    return json_bytes_response(
        model.model_dump(mode="json", by_alias=True, exclude_unset=True), headers=headers
    )
