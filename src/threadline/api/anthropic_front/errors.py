"""Errors of ``/v1/messages`` in Anthropic's shape:
``{"type": "error", "error": {"type", "message"}, "request_id"}``, with the HTTP status the
Anthropic SDKs pick their exception class (and their retries) from.

Every failure is still an ``APIError`` inside Threadline (the gateway's refusals, a bad body,
an upstream's answer); only its rendering differs, chosen by the request's path (see
``gateway_middleware``). The error type follows the status (``records.anthropic``), unless an
Anthropic upstream named its own."""

import re

import orjson
from starlette.types import Scope, Send

from threadline.api.asgi import JSON, encode_headers
from threadline.errors import APIError
from threadline.records.anthropic import ErrorBody, ErrorType, error_type_for

MESSAGES_PATH = "/v1/messages"
REQUEST_ID_HEADER = b"request-id"  # where the Anthropic SDKs read a request's id
# OpenAI-compatible servers' context overflow, and the wording Claude Code recovers from.
_CONTEXT_NUMBERS = re.compile(r"maximum context length is (\d+).*?(\d+) tokens", re.DOTALL)


class AnthropicError(APIError):
    """An error whose Anthropic type is known (an Anthropic upstream's own)."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        anthropic_type: ErrorType,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, headers=headers)
        self.status_code = status
        self.anthropic_type = anthropic_type


def error_body(error: APIError, request_id: str | None) -> ErrorBody:
    kind = getattr(error, "anthropic_type", None) or error_type_for(error.status_code)
    body: ErrorBody = {"type": "error", "error": {"type": kind, "message": error.message}}
    if request_id:
        body["request_id"] = request_id
    return body


def request_id_of(scope: Scope) -> str | None:
    return scope.get("state", {}).get("request_id")  # type: ignore[no-any-return]


def id_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    request_id = request_id_of(scope)
    return [(REQUEST_ID_HEADER, request_id.encode())] if request_id else []


async def send_anthropic_error(scope: Scope, send: Send, error: APIError) -> None:
    body = orjson.dumps(error_body(error, request_id_of(scope)))
    headers = [
        (b"content-type", JSON),
        (b"content-length", str(len(body)).encode()),
        *id_headers(scope),
        *encode_headers(error.headers),
    ]
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def error_event(error: APIError, request_id: str | None) -> bytes:
    """A failure after the answer began: an ``error`` event (the stream ends after it)."""
    return b"event: error\ndata: " + orjson.dumps(error_body(error, request_id)) + b"\n\n"


def as_prompt_too_long(error: APIError) -> APIError:
    """An OpenAI-compatible upstream's context overflow, worded as Anthropic words it
    ("prompt is too long: N tokens > M maximum"), which Claude Code recovers from."""
    if error.status_code != 400:
        return error
    if error.code != "context_length_exceeded" and "context length" not in error.message:
        return error
    found = _CONTEXT_NUMBERS.search(error.message)
    detail = f"{found[2]} tokens > {found[1]} maximum" if found else error.message
    return AnthropicError(
        f"prompt is too long: {detail}", status=400, anthropic_type="invalid_request_error"
    )
