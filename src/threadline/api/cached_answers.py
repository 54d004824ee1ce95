"""The response cache at the HTTP edge (``gateway.response_cache``): look a model call up, and
replay a stored answer.

An endpoint calls ``look_up`` only when the caller's principal has a ``cache_ttl`` (one
attribute check: nothing else is done for everyone else), after its own checks (model allowed,
body valid) and before anything is reserved or sent upstream. A hit is replayed by ``replay``
and costs nothing: no tokens against TPM or budget, no usage, ``x-threadline-cost: 0`` (its
request was counted against RPM when it was admitted). After a miss, the endpoint gives the
whole successful answer to ``ResponseCache.store``, or answers through ``storing``."""

from collections.abc import Mapping

from starlette.types import Message, Scope, Send

from threadline.api.asgi import header_values
from threadline.api.meter import RequestMeter
from threadline.gateway.response_cache import CacheLookup, ResponseCache
from threadline.records.gateway import CachedResponse

_STREAM_HEADERS = [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]


async def look_up(
    scope: Scope,
    meter: RequestMeter,
    route: str,
    model: str,
    body: Mapping[str, object],
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


def storing(
    send: Send, cache: ResponseCache, lookup: CacheLookup, *, stream: bool, end_marker: bytes
) -> Send:
    """``send`` that keeps a successful answer in the cache as it goes out, for endpoints that
    write their answer themselves (a translated one): a JSON body once whole, a stream once its
    last event (``end_marker``) is in. It is stored before its last bytes are sent, so that the
    client's next identical request finds it."""
    capture = cache.capture(lookup, end_marker) if stream else None
    parts: list[bytes] = []
    state = {"ok": False, "content_type": ""}

    async def send_storing(message: Message) -> None:
        if message["type"] == "http.response.start":
            state["ok"] = message["status"] == 200
            for name, value in message.get("headers", ()):
                if name.lower() == b"content-type":
                    state["content_type"] = value.decode("latin-1")
        elif message["type"] == "http.response.body" and state["ok"]:
            data = message.get("body", b"")
            if capture is not None:
                whole = capture.body() if capture.add(data) else None
                if whole is not None:
                    await cache.store(lookup, state["content_type"], whole, stream=True)
            elif not stream:
                parts.append(data)
                if not message.get("more_body"):
                    body = b"".join(parts)
                    await cache.store(lookup, state["content_type"], body, stream=False)
        await send(message)

    return send_storing
