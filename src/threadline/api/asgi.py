"""Small helpers for the raw ASGI parts (gateway middleware, pass-through endpoints), and the
one rendering of an error as an HTTP answer (the framework's exception handlers use it too)."""

from collections.abc import Mapping
from typing import Any, NamedTuple

import orjson
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from threadline.errors import APIError, PayloadTooLarge

JSON = b"application/json"


def header_values(scope: Scope, name: bytes) -> list[str]:
    """Every value of a request header (``name`` in lower case)."""
    return [value.decode("latin-1") for key, value in scope["headers"] if key == name]


def encode_headers(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    headers: list[tuple[bytes, bytes]],
    content_type: bytes = JSON,
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RenderedError(NamedTuple):
    """An error as it goes on the wire."""

    status: int
    headers: list[tuple[bytes, bytes]]  # content type and length included
    body: bytes


def render_error(error: APIError, extra: Mapping[str, str] | None = None) -> RenderedError:
    """``error`` in OpenAI's shape, with its own headers and ``extra`` ones."""
    body = orjson.dumps(error.body())
    headers = [
        (b"content-type", JSON),
        (b"content-length", str(len(body)).encode()),
        *encode_headers({**(extra or {}), **error.headers}),
    ]
    return RenderedError(error.status_code, headers, body)


async def send_error(send: Send, error: APIError, extra: Mapping[str, str] | None = None) -> None:
    status, headers, body = render_error(error, extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body, refused past ``limit`` bytes (declared or actual).

    Raises starlette's ``ClientDisconnect`` (as ``Request.stream`` does) when the client goes
    away before the body is complete: a truncated body must not be taken for the request."""
    for key, value in scope["headers"]:
        if key == b"content-length" and value.isdigit() and int(value) > limit:
            raise PayloadTooLarge(f"Request body is larger than the limit of {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    while True:
        message: Any = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request body is larger than the limit of {limit} bytes.")
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
