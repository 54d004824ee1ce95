"""/v1/responses: create (JSON once the response has ended, or its ``response.*`` events with
``stream``), retrieve, delete, cancel, input items and input token counts.

A synchronous response whose model call failed is a ``failed`` Response with status 200, not
a 5xx: the SDK would retry a 5xx, and the failure is the response's outcome."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from threadline.api.deps import CurrentPrincipal, Page, State, read_json
from threadline.api.response_meter import COST_HEADER, meter_response
from threadline.api.response_validation import parse_body
from threadline.api.responses import json_bytes_response
from threadline.api.sse import event_stream
from threadline.app_state import AppState
from threadline.errors import InvalidRequest, ModelNotAllowed
from threadline.gateway.pricing import format_usd
from threadline.gateway.principal import Principal
from threadline.records.responses import ResponseUsed
from threadline.schemas.response_objects import input_tokens, response_data, response_deleted
from threadline.schemas.responses import INCLUDABLE, CountInputTokens, CreateResponse
from threadline.services.response_view import opening_record
from threadline.services.run_snapshot import Creator

router = APIRouter()


@router.post("/responses")
async def create_response(request: Request, state: State, principal: CurrentPrincipal) -> Response:
    data = await read_json(request, state.settings.max_json_body_bytes)
    body = parse_body(CreateResponse, data)
    await _check_model(state, principal, body.model)
    service = state.responses
    created = await service.create(principal.project_id, body, _creator(principal))
    include = frozenset(created.stored["include"])
    if body.stream:

        def metered(used: ResponseUsed) -> None:
            meter_response(request.scope, state.gateway.prices, used)

        opening = service.opening(created)
        events = service.events(created, len(opening) - 1, on_usage=metered)
        return event_stream(list(opening), events)
    if created.subscription is None:  # in the background: answered at once, queued
        record = opening_record(created.stored, created.run)
        return json_bytes_response(response_data(record, include))
    record = await service.wait(created)
    used = ResponseUsed(record["model"], record["usage"])
    cost = meter_response(request.scope, state.gateway.prices, used)
    headers = {COST_HEADER: format_usd(cost)} if cost is not None else None
    return json_bytes_response(response_data(record, include), headers=headers)


@router.post("/responses/input_tokens")
async def count_input_tokens(
    request: Request, state: State, principal: CurrentPrincipal
) -> Response:
    data = await read_json(request, state.settings.max_json_body_bytes)
    body = parse_body(CountInputTokens, data)
    if body.model is not None:
        await _check_model(state, principal, body.model)
    count = await state.responses.count_input_tokens(principal.project_id, body)
    return json_bytes_response(input_tokens(count))


@router.get("/responses/{response_id}")
async def retrieve_response(
    response_id: str, request: Request, state: State, principal: CurrentPrincipal
) -> Response:
    include = _include(request)
    if request.query_params.get("stream") in ("true", "1"):
        after = _starting_after(request)
        return event_stream(
            [], await state.responses.resume(principal.project_id, response_id, after)
        )
    record = await state.responses.retrieve(principal.project_id, response_id, include)
    return json_bytes_response(response_data(record, include))


@router.delete("/responses/{response_id}")
async def delete_response(response_id: str, state: State, principal: CurrentPrincipal) -> Response:
    await state.responses.delete(principal.project_id, response_id)
    return json_bytes_response(response_deleted(response_id))


@router.post("/responses/{response_id}/cancel")
async def cancel_response(response_id: str, state: State, principal: CurrentPrincipal) -> Response:
    record = await state.responses.cancel(principal.project_id, response_id)
    return json_bytes_response(response_data(record))


@router.get("/responses/{response_id}/input_items")
async def list_input_items(
    response_id: str, state: State, principal: CurrentPrincipal, page: Page
) -> Response:
    items = await state.responses.input_items(principal.project_id, response_id, page)
    return json_bytes_response(items)


def _include(request: Request) -> frozenset[str]:
    values = request.query_params.getlist("include[]") + request.query_params.getlist("include")
    for value in values:
        if value not in INCLUDABLE:
            raise InvalidRequest(
                f"Invalid value: '{value}'.", param="include", code="invalid_value"
            )
    return frozenset(values)


def _starting_after(request: Request) -> int:
    """The last event the client has (-1: none). The SDK's ``responses.stream(response_id=…,
    starting_after=N)`` does not send it and drops events up to N itself: both work."""
    value = request.query_params.get("starting_after")
    if value is None:
        return -1
    try:
        after = int(value)
    except ValueError:
        raise InvalidRequest(
            f"Invalid type for 'starting_after': expected an integer, but got '{value}'.",
            param="starting_after",
            code="invalid_type",
        ) from None
    return max(after, -1)


async def _check_model(state: AppState, principal: Principal, model: str) -> None:
    """A model the key may not use is a 403 (as for runs); one no upstream serves, a 400."""
    if principal.models is not None and model not in principal.models:
        raise ModelNotAllowed(model)
    if not await state.catalog.exists(model):
        raise InvalidRequest(
            f"The requested model '{model}' does not exist.",
            param="model",
            code="model_not_found",
        )


def _creator(principal: Principal) -> Creator:
    return Creator(key_id=principal.key_id, models=principal.models)
