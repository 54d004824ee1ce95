"""JSON responses serialized with orjson; SDK models dumped with their explicit nulls."""

from typing import Any

import orjson
from fastapi.responses import Response
from pydantic import BaseModel

from threadline.schemas.objects import dump


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
    return json_bytes_response(dump(model), headers=headers)
