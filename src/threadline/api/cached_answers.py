"""The response cache at the HTTP edge (``gateway.response_cache``): look a model call up, and
replay a stored answer.

An endpoint calls ``look_up`` only when the caller's principal has a ``cache_ttl`` (one
attribute check: nothing else is done for everyone else), after its own checks (model allowed,
body valid) and before anything is reserved or sent upstream. A hit is replayed by ``replay``
and costs nothing: no tokens against TPM or budget, no usage, ``x-threadline-cost: 0`` (its
request was counted against RPM when it was admitted). After a miss, the endpoint gives the
whole successful answer to ``ResponseCache.store``."""

from typing import Any

from starlette.types import Scope, Send

from threadline.api.asgi import header_values
from threadline.api.meter import RequestMeter
from threadline.gateway.response_cache import CacheLookup
from threadline.records.gateway import CachedResponse

_STREAM_HEADERS = [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]


async def look_up(
    scope: Scope,
    meter: RequestMeter,
    route: str,
    model: str,
    body: dict[str, Any],
    vary: str = "",
) -> CacheLookup:
    """The request's cache entry (``body`` as the client sent it; ``vary``: request headers
    that change the answer, joined); the outcome is noted for the ``x-threadline-cache``
    header and the request log."""
    principal = meter.principal
    assert principal is not None and principal.cache_ttl is not None
    cache = scope["app"].state.threadline.gateway.cache
    lookup: CacheLookup = await cache.lookup(
        route,
        principal.project_id,
        model,
        body,
        principal.cache_ttl,
        header_values(scope, b"cache-control"),
        vary,
    )
    meter.cache = lookup.outcome
    return lookup


async def replay(send: Send, meter: RequestMeter, hit: CachedResponse) -> None:
    """Send a stored answer as it was first sent (a stream as a stream), free of charge."""
    meter.input_tokens = meter.output_tokens = meter.cost_nanos = 0
    body = hit["body"]
    headers = [
        (b"content-type", hit["content_type"].encode("latin-1")),
        (b"x-threadline-cost", b"0"),
    ]
    if hit["stream"]:
        headers += _STREAM_HEADERS
    else:
        headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
