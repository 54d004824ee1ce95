"""Request dependencies: who is calling, the parsed body, the page asked for."""

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, TypeVar

import orjson
from fastapi import Depends, Query, Request
from pydantic import AfterValidator, BaseModel, BeforeValidator, ValidationError

from threadline.api.errors import validation_error
from threadline.api.integers import ascii_int, parse_int
from threadline.app_state import AppState
from threadline.errors import (
    AuthenticationFailed,
    InvalidRequest,
    PayloadTooLarge,
    PermissionDenied,
)
from threadline.gateway.api_keys import Principal
from threadline.schemas.run_objects import FILE_SEARCH_CONTENT
from threadline.storage.pagination import PageRequest

Model = TypeVar("Model", bound=BaseModel)


# Dependencies are ``async``: FastAPI runs a plain ``def`` one on its thread pool, a hop a request.
async def app_state(request: Request) -> AppState:
    return request.app.state.threadline  # type: ignore[no-any-return]


State = Annotated[AppState, Depends(app_state)]


def _bearer(request: Request) -> str:
    return bearer_token(request.headers.getlist("authorization"))


def bearer_token(headers: list[str]) -> str:
    """The key of the Authorization header(s) of a request."""
    if len(headers) > 1:
        # Two credentials are ambiguous: a proxy and a client may disagree on which one counts.
        raise AuthenticationFailed("Send exactly one Authorization header.")
    header = headers[0] if headers else None
    if not header:
        raise AuthenticationFailed(
            "You didn't provide an API key. You need to provide your API key in an Authorization "
            "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            code=None,
        )
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationFailed(
            "The Authorization header must be 'Bearer YOUR_KEY'.", code="invalid_api_key"
        )
    return token


def api_key_header(values: list[str]) -> str:
    """The key of a request without an Authorization header: its ``x-api-key`` (Anthropic's
    older SDKs, Claude Code with ``ANTHROPIC_API_KEY``), else the missing-key error."""
    if not values:
        return bearer_token([])
    if len(values) > 1:
        raise AuthenticationFailed("Send exactly one x-api-key header.")
    key = values[0].strip()
    if not key:
        raise AuthenticationFailed("The x-api-key header is empty.", code="invalid_api_key")
    return key


async def principal_for(state: AppState, token: str) -> Principal:
    master = state.settings.master_key
    if master is not None and hmac.compare_digest(
        token.encode(), master.get_secret_value().encode()
    ):
        raise AuthenticationFailed(
            "The master key only administers Threadline (/admin/...). Use a project key for "
            "the API: `threadline keys create --project NAME`."
        )
    return await state.keys.authenticate(token)


def ensure_address_allowed(principal: Principal, address: str | None) -> None:
    """A key with an IP allowlist is refused (403) from any other address."""
    if principal.networks is not None and not principal.allows_address(address):
        raise PermissionDenied(
            f"Requests from {address} are not allowed for this API key (see its IP allowlist).",
            code="ip_not_allowed",
            headers={"x-should-retry": "false"},
        )


async def current_principal(request: Request, state: State) -> Principal:
    # The gateway middleware has already authenticated every /v1 request (and checked its
    # limits); a route outside /v1 that needs a key authenticates here.
    principal: Principal | None = request.scope.get("state", {}).get("principal")
    if principal is None:
        principal = await principal_for(state, _bearer(request))
        request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def require_master_key(request: Request, state: State) -> None:
    token = _bearer(request)
    master = state.settings.master_key
    if master is None:
        raise AuthenticationFailed(
            "The admin API is disabled: set THREADLINE_MASTER_KEY to enable it.", code=None
        )
    if not hmac.compare_digest(token.encode(), master.get_secret_value().encode()):
        raise AuthenticationFailed("Invalid master key.")


async def read_json(request: Request, limit: int) -> Any:
    declared = ascii_int(request.headers.get("content-length") or "")
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"Request body is larger than the limit of {limit} bytes.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"Request body is larger than the limit of {limit} bytes.")
    if not body.strip():
        return {}
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise invalid_json(error) from None
    # A NUL can only arrive escaped; PostgreSQL cannot store it, so refuse it on every backend
    # alike. The byte scan keeps the walk off the hot path.
    if b"\\u0000" in body and _contains_nul(data):
        raise InvalidRequest("Strings in the request body must not contain null characters.")
    return data


def invalid_json(error: Exception) -> InvalidRequest:
    """OpenAI's words for a body that is not JSON."""
    return InvalidRequest(
        "We could not parse the JSON body of your request. (HINT: This likely means you "
        "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
        f"but what was sent was not valid JSON.) {error}",
    )


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in key or _contains_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_contains_nul(item) for item in value)
    return False


def json_body(model: type[Model]) -> Callable[[Request, AppState], Awaitable[Model]]:
    """A dependency that parses the body into ``model``: every mistake is a 400, never a 422."""

    async def parse(request: Request, state: State) -> Model:
        data = await read_json(request, state.settings.max_json_body_bytes)
        if not isinstance(data, dict):
            raise InvalidRequest("The request body must be a JSON object.")
        try:
            return model.model_validate(data)
        except ValidationError as error:
            raise validation_error(error, data) from None

    return parse


def pagination(
    max_limit: int = 100, default_limit: int = 20
) -> Callable[..., Awaitable[PageRequest]]:
    """A dependency reading ``limit`` (1..max_limit), ``order``, ``after`` and ``before``.

    FastAPI reads and documents the parameters; the integer is read by ``integers`` (ASCII
    digits only, bounded), whose 400 names the parameter."""

    def limit_in_bounds(raw: object) -> int:
        return parse_int(str(raw), "limit", 1, max_limit)

    async def page_request(
        limit: Annotated[
            int, Query(ge=1, le=max_limit), BeforeValidator(limit_in_bounds)
        ] = default_limit,
        order: Annotated[Order, Query(), BeforeValidator(_order)] = "desc",
        after: Annotated[str | None, Query(), AfterValidator(_or_none)] = None,
        before: Annotated[str | None, Query(), AfterValidator(_or_none)] = None,
    ) -> PageRequest:
        return PageRequest(limit=limit, order=order, after=after, before=before)

    return page_request


Order = Literal["asc", "desc"]


def _order(raw: object) -> str:
    order = str(raw) or "desc"  # an empty value is the default
    if order not in ("asc", "desc"):
        raise InvalidRequest(
            f"Invalid 'order': expected 'asc' or 'desc', got '{order}'.", param="order"
        )
    return order


def _or_none(value: str | None) -> str | None:
    return value or None  # an empty cursor is none


page_request = pagination()

Page = Annotated[PageRequest, Depends(page_request)]


async def step_include(request: Request) -> frozenset[str]:
    """``include[]`` of the run and step endpoints: extra step fields a client asks for."""
    values = request.query_params.getlist("include[]") + request.query_params.getlist("include")
    for value in values:
        if value != FILE_SEARCH_CONTENT:
            raise InvalidRequest(
                f"Invalid value for 'include': '{value}'. Supported: '{FILE_SEARCH_CONTENT}'.",
                param="include",
            )
    return frozenset(values)


Include = Annotated[frozenset[str], Depends(step_include)]
