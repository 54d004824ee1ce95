"""The one mapping from failures to HTTP responses, in OpenAI's error shape."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from threadline.api.asgi import render_error
from threadline.errors import (
    APIError,
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    RouteNotFound,
)
from threadline.storage.faults import is_out_of_space, unavailable

logger = logging.getLogger("threadline.api")


def error_response(error: APIError) -> Response:
    """The framework's response for ``error``: the same bytes as the raw ASGI paths send."""
    status, headers, body = render_error(error)
    response = Response(body, status_code=status)
    response.raw_headers = headers
    return response


def unknown_url(method: str, path: str) -> RouteNotFound:
    return RouteNotFound(f"Invalid URL ({method} {path})", code="unknown_url")


def validation_error(
    error: ValidationError | RequestValidationError, data: Any = None
) -> InvalidRequest:
    """The most specific problem, worded the way OpenAI words it, ``param`` as a dotted path.

    Pydantic reports one error per union branch it tried; the one that got deepest into the
    request is the one about what the client meant (``content.0.x``, not "content should be a
    string")."""
    # FastAPI prefixes where a value came from ("body", "query"…); a model's own errors do not
    # (and a request field may well be called "query").
    prefixed = isinstance(error, RequestValidationError)
    candidates = [
        (_param(tuple(e.get("loc", ()))[1 if prefixed else 0 :], data, e.get("type", "")), e)
        for e in error.errors()
    ]
    param, first = max(candidates, key=lambda c: c[0].count(".") + c[0].count("[") + bool(c[0]))
    param = param or None
    kind = first.get("type", "")
    if kind == "extra_forbidden":
        return InvalidRequest(f"Unrecognized request argument supplied: {param}", param=param)
    if kind == "missing":
        return InvalidRequest(f"Missing required parameter: '{param}'.", param=param)
    message = str(first.get("msg", "Invalid value")).removeprefix("Value error, ")
    return InvalidRequest(f"Invalid value for '{param}': {message}.", param=param)


def _param(loc: tuple[Any, ...], data: Any, kind: str) -> str:
    """Pydantic's error location as the request's own path.

    The location mixes real keys and indexes with labels for union branches (``str``,
    ``list[...]``, ``tagged-union[...]``) and discriminator tags (the ``function`` of a
    ``{"type": "function"}`` tool). Walking it along the request keeps just the real steps."""
    location = list(loc)
    if data is None:
        return _dotted([p for p in location if not _is_label(p)])
    node, path, tag_seen = data, [], False
    for index, part in enumerate(location):
        if isinstance(node, dict) and node.get("type") == part and not tag_seen:
            following = location[index + 1] if index + 1 < len(location) else None
            inner = node.get(part)
            if not (isinstance(inner, dict) and following in inner):
                tag_seen = True  # a discriminator tag: a key of the same name may come next
                continue
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            node, tag_seen = node[part], False
        elif not (kind == "missing" and index == len(location) - 1):
            continue  # a union-branch label, not a step into the request
        path.append(part)
    return _dotted(path)


def _dotted(path: list[Any]) -> str:
    """``tools[0].function.name``: OpenAI's notation for a place in the request."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _is_label(part: Any) -> bool:
    return isinstance(part, str) and ("[" in part or part in ("str", "int", "float", "bool"))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(_request: Request, error: APIError) -> Response:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(_request: Request, error: RequestValidationError) -> Response:
        return error_response(validation_error(error))

    @app.exception_handler(ValidationError)
    async def _validation(_request: Request, error: ValidationError) -> Response:
        return error_response(validation_error(error))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> Response:
        if error.status_code == 404:
            failure: APIError = unknown_url(request.method, request.url.path)
        elif error.status_code == 405:
            failure = MethodNotAllowed(
                f"Method {request.method} is not allowed on {request.url.path}",
                code="method_not_allowed",
            )
        else:
            failure = APIError(str(error.detail))
            failure.status_code = error.status_code
            failure.error_type = "invalid_request_error"
        return error_response(failure)

    @app.exception_handler(OSError)
    async def _os_error(_request: Request, error: OSError) -> Response:
        # A full disk (blob store, temporary files) is a retryable 503, like a full database.
        # Handled here rather than by the catch-all below, which re-raises after answering: the
        # server then logs it a second time and drops the keep-alive connection.
        if is_out_of_space(error):
            return error_response(unavailable(error))
        return _internal_error(error)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, error: Exception) -> Response:
        return _internal_error(error)


def _internal_error(error: BaseException) -> Response:
    logger.exception("unhandled error", exc_info=error)
    return error_response(InternalError("The server had an error processing your request."))
