"""The one mapping from failures to HTTP responses, in OpenAI's error shape."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from threadline.api.responses import json_bytes_response
from threadline.errors import (
    APIError,
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    RouteNotFound,
)

logger = logging.getLogger("threadline.api")


def error_response(error: APIError) -> Response:
    return json_bytes_response(error.body(), status_code=error.status_code, headers=error.headers)


def validation_error(error: ValidationError | RequestValidationError) -> InvalidRequest:
    """The first problem, worded the way OpenAI words it, with ``param`` as a dotted path."""
    first = error.errors()[0]
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query")]
    # Drop pydantic's union-branch labels (e.g. "function", "list[...]"): they are not params.
    param = ".".join(p for p in location if not p.startswith(("list[", "function-", "str")))
    param = param or None
    kind = first.get("type", "")
    if kind == "extra_forbidden":
        return InvalidRequest(f"Unrecognized request argument supplied: {param}", param=param)
    if kind == "missing":
        return InvalidRequest(f"Missing required parameter: '{param}'.", param=param)
    message = first.get("msg", "Invalid value")
    return InvalidRequest(f"Invalid value for '{param}': {message}.", param=param)


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
            failure: APIError = RouteNotFound(
                f"Invalid URL ({request.method} {request.url.path})", code="unknown_url"
            )
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

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, error: Exception) -> Response:
        logger.exception("unhandled error", exc_info=error)
        return error_response(InternalError("The server had an error processing your request."))
