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
from threadline.errors import InvalidRequest
from threadline.gateway.pricing import format_usd
from threadline.gateway.principal import Principal
from threadline.schemas.response_objects import input_tokens, response_data, response_deleted
from threadline.schemas.responses import INCLUDABLE, CountInputTokens, CreateResponse
from threadline.services.response_events import ResponseEvents
from threadline.services.response_view import translator_for
from threadline.services.run_snapshot import Creator

router = APIRouter()


@router.post("/responses")
async def create_response(request: Request, state: State, principal: CurrentPrincipal) -> Response:
    data = await read_json(request, state.settings.max_json_body_bytes)
    body = parse_body(CreateResponse, data)
    service = state.responses
    created = await service.create(principal.project_id, body, _creator(principal))
    include = frozenset(created.stored["include"])
    if body.stream:
        assert created.subscription is not None
        translator = translator_for(created.stored, created.run, include)

        async def on_end() -> None:
            meter_response(request.scope, state.gateway.prices, translator.record)
            if not created.stored["store"]:
                await service.finish(created.stored)

        events = ResponseEvents(created.subscription, translator, on_end)
        return event_stream(events.opening(), events)
    if created.subscription is None:  # in the background: answered at once, queued
        record = await service.retrieve(principal.project_id, created.stored["id"], include)
        return json_bytes_response(response_data(record, include))
    record = await service.wait(created)
    cost = meter_response(request.scope, state.gateway.prices, record)
    headers = {COST_HEADER: format_usd(cost)} if cost is not None else None
    return json_bytes_response(response_data(record, include), headers=headers)


@router.post("/responses/input_tokens")
async def count_input_tokens(
    request: Request, state: State, principal: CurrentPrincipal
) -> Response:
    data = await read_json(request, state.settings.max_json_body_bytes)
    body = parse_body(CountInputTokens, data)
    count = await state.responses.count_input_tokens(principal.project_id, body)
    return json_bytes_response(input_tokens(count))


@router.get("/responses/{response_id}")
async def retrieve_response(
    response_id: str, request: Request, state: State, principal: CurrentPrincipal
) -> Response:
    if request.query_params.get("stream") in ("true", "1"):
        raise InvalidRequest(
            "This response cannot be streamed because it was not created with background=true.",
            param="stream",
        )
    include = _include(request)
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


def _creator(principal: Principal) -> Creator:
    return Creator(key_id=principal.key_id, models=principal.models)
