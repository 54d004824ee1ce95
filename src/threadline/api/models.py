"""/v1/models: the models this key may use."""

from fastapi import APIRouter
from fastapi.responses import Response

from threadline.api.deps import CurrentPrincipal, State
from threadline.api.responses import json_bytes_response
from threadline.errors import NotFound

router = APIRouter(prefix="/models")


def _model(name: str) -> dict[str, object]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "threadline"}


@router.get("")
async def list_models(state: State, principal: CurrentPrincipal) -> Response:
    names = await state.catalog.names(principal)
    return json_bytes_response({"object": "list", "data": [_model(name) for name in names]})


@router.get("/{model:path}")
async def retrieve_model(model: str, state: State, principal: CurrentPrincipal) -> Response:
    if model not in await state.catalog.names(principal):
        raise NotFound(
            f"The model '{model}' does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        )
    return json_bytes_response(_model(model))
