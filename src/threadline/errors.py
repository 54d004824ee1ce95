"""The error tree. Every failure a client sees is one of these, rendered in OpenAI's shape:
``{"error": {"message", "type", "param", "code"}}``. Nothing here knows about HTTP frameworks."""

from typing import TypedDict


class ErrorDetail(TypedDict):
    message: str
    type: str | None
    param: str | None
    code: str | None


class ErrorBody(TypedDict):
    error: ErrorDetail


class _ClassDefault:
    """Marks "use the class's code", as opposed to an explicit ``code=None``."""


_CLASS_DEFAULT = _ClassDefault()


class APIError(Exception):
    status_code = 500
    error_type = "server_error"
    default_code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | _ClassDefault | None = _CLASS_DEFAULT,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = self.default_code if isinstance(code, _ClassDefault) else code
        self.headers = headers or {}

    def body(self) -> ErrorBody:
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequest(APIError):
    status_code = 400
    error_type = "invalid_request_error"


class AuthenticationFailed(APIError):
    status_code = 401
    error_type = "invalid_request_error"
    default_code = "invalid_api_key"


class PermissionDenied(APIError):
    status_code = 403
    error_type = "invalid_request_error"


class ModelNotAllowed(PermissionDenied):
    """A key (or its project) may not use this model. OpenAI answers a project without access
    to a model with a 403 and this code."""

    default_code = "model_not_found"

    def __init__(self, model: str, param: str | None = "model") -> None:
        super().__init__(
            f"This API key is not allowed to use the model '{model}'.",
            param=param,
            headers={"x-should-retry": "false"},  # retrying cannot help
        )


class NotFound(APIError):
    status_code = 404
    error_type = "invalid_request_error"

    @classmethod
    def object(cls, kind: str, object_id: str, param: str | None = None) -> "NotFound":
        return cls(f"No {kind} found with id '{object_id}'.", param=param)


class RouteNotFound(APIError):
    status_code = 404
    error_type = "invalid_request_error"


class MethodNotAllowed(APIError):
    status_code = 405
    error_type = "invalid_request_error"


class PayloadTooLarge(APIError):
    status_code = 413
    error_type = "invalid_request_error"
    default_code = "request_too_large"


class RequestHeadersTooLarge(APIError):
    """Too many or too large request headers (answered by the HTTP protocol, before any route)."""

    status_code = 431
    error_type = "invalid_request_error"
    default_code = "request_headers_too_large"


class RateLimited(APIError):
    status_code = 429
    error_type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class QuotaExceeded(APIError):
    """A budget is spent: retrying cannot help until the period ends, so clients are told not
    to (the SDKs obey ``x-should-retry``)."""

    status_code = 429
    error_type = "insufficient_quota"
    default_code = "insufficient_quota"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"x-should-retry": "false"})


class InternalError(APIError):
    status_code = 500
    error_type = "server_error"


class ServiceUnavailable(APIError):
    """A dependency (the database) is unreachable: retryable, so clients are told when to retry."""

    status_code = 503
    error_type = "service_unavailable_error"
    default_code = "service_unavailable"

    def __init__(self, message: str, *, retry_after_seconds: int = 1) -> None:
        super().__init__(message, headers={"retry-after": str(retry_after_seconds)})


class UpstreamError(APIError):
    status_code = 502
    error_type = "server_error"


class UpstreamTimeout(APIError):
    status_code = 504
    error_type = "server_error"
    default_code = "upstream_timeout"
