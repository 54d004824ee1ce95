"""/admin: key management with the master key."""

from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BeforeValidator, Field

from threadline.api.deps import State, json_body, require_master_key
from threadline.api.integers import parse_int
from threadline.api.responses import json_bytes_response
from threadline.errors import InvalidRequest
from threadline.gateway.api_keys import MAX_LIMIT, KeyOptions
from threadline.gateway.pricing import usd_to_nanos
from threadline.gateway.response_cache import MAX_CACHE_TTL
from threadline.schemas.common import RequestModel

router = APIRouter(prefix="/admin", dependencies=[Depends(require_master_key)])

MAX_KEYS_PAGE = 1000
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT)]
ModelName = Annotated[str, Field(min_length=1, max_length=256)]
# Seconds answers are kept in the response cache; 0 (or, on a project, null) turns it off.
CacheTtl = Annotated[int, Field(ge=0, le=MAX_CACHE_TTL)]


def _decimal(value: object) -> object:
    """USD as a JSON number or a decimal string ("12.50"); booleans are not amounts."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return value
    try:
        return Decimal(str(value).strip())
    except ArithmeticError:
        raise ValueError("must be a number of US dollars") from None


Usd = Annotated[Decimal, BeforeValidator(_decimal), Field(ge=0, le=10**9, allow_inf_nan=False)]


class CreateKey(RequestModel):
    """``models`` and ``ip_allowlist`` are allowlists: absent or null means no restriction, a
    list allows only what it names, and an empty list is refused (400, ``param`` naming it)."""

    project: Annotated[str, Field(min_length=1, max_length=256)]
    name: Annotated[str, Field(max_length=256)] | None = None
    rpm: Limit | None = None
    tpm: Limit | None = None
    models: list[ModelName] | None = None
    max_parallel: Limit | None = None
    budget_usd: Usd | None = None
    budget_period: Literal["day", "month"] | None = None
    expires_at: Annotated[int, Field(ge=0, le=2**53)] | None = None  # Unix seconds
    ip_allowlist: list[Annotated[str, Field(max_length=64)]] | None = None
    metadata: (
        Annotated[
            dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=512)]],
            Field(max_length=16),
        ]
        | None
    ) = None
    # Null: the project's cache_ttl applies; 0: this key's answers are never cached.
    cache_ttl: CacheTtl | None = None

    def options(self) -> KeyOptions:
        try:
            budget = usd_to_nanos(self.budget_usd) if self.budget_usd is not None else None
        except ValueError as error:
            raise InvalidRequest(f"Invalid 'budget_usd': {error}.", param="budget_usd") from None
        return KeyOptions(
            name=self.name,
            rpm=self.rpm,
            tpm=self.tpm,
            models=self.models,
            max_parallel=self.max_parallel,
            budget_nanos=budget,
            budget_period=self.budget_period,
            expires_at=self.expires_at,
            ip_allowlist=self.ip_allowlist,
            metadata=self.metadata,
            cache_ttl=self.cache_ttl,
        )


@router.get("/keys")
async def list_keys(request: Request, state: State, project: str | None = None) -> Response:
    """Keys oldest first; ``limit`` (1 to 1000) pages them and ``after`` (a key id) goes on
    from one. Without ``limit``, every key."""
    query = request.query_params
    raw_limit = query.get("limit")
    limit = parse_int(raw_limit, "limit", 1, MAX_KEYS_PAGE) if raw_limit is not None else None
    after = query.get("after") or None
    keys = await state.keys.list(project, after, limit + 1 if limit is not None else None)
    has_more = limit is not None and len(keys) > limit
    page = keys[:limit]
    return json_bytes_response(
        {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": has_more,
        }
    )


@router.post("/keys")
async def create_key(
    state: State, body: Annotated[CreateKey, Depends(json_body(CreateKey))]
) -> Response:
    created = await state.keys.create(body.project, options=body.options())
    view = await state.keys.get(created.id)
    # The secret is returned this once; only its hash is stored.
    return json_bytes_response({**view, "key": created.secret})


@router.post("/keys/{key_id}/rotate")
async def rotate_key(key_id: str, state: State) -> Response:
    created = await state.keys.rotate(key_id)
    view = await state.keys.get(created.id)
    # The new secret is returned this once; the old one no longer works.
    return json_bytes_response({**view, "key": created.secret})


@router.get("/keys/{key_id}")
async def get_key(key_id: str, state: State) -> Response:
    return json_bytes_response(await state.keys.get(key_id))


@router.delete("/keys/{key_id}")
async def revoke_key(key_id: str, state: State) -> Response:
    view = await state.keys.revoke(key_id)
    return json_bytes_response({**view, "deleted": True})
