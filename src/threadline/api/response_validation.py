"""Bodies of the Responses and Conversations APIs parsed into their models, with the wording
these APIs use: ``Unknown parameter: 'x'.`` (code ``unknown_parameter``) where the Assistants API
says "Unrecognized request argument supplied", and a code on every 400 (OpenAI's Responses
errors always carry one). The choice of the most specific error and its ``param`` path is the
shared mapping's (``api.errors.validation_error``)."""

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from threadline.api.errors import validation_error
from threadline.errors import InvalidRequest
from threadline.records.jsonvalue import JsonValue

Model = TypeVar("Model", bound=BaseModel)

_UNRECOGNIZED = "Unrecognized request argument supplied: "
_MISSING = "Missing required parameter"
# pydantic's wording of a value of the wrong JSON type ("Input should be a valid string").
_WRONG_TYPE = "should be a valid "


def response_validation_error(error: ValidationError, data: JsonValue) -> InvalidRequest:
    mapped = validation_error(error, data)
    if mapped.message.startswith(_UNRECOGNIZED):
        return InvalidRequest(
            f"Unknown parameter: '{mapped.param}'.", param=mapped.param, code="unknown_parameter"
        )
    if mapped.message.startswith(_MISSING):
        code = "missing_required_parameter"
    elif _WRONG_TYPE in mapped.message:
        code = "invalid_type"
    else:
        code = "invalid_value"
    return InvalidRequest(mapped.message, param=mapped.param, code=code)


def parse_body(model: type[Model], data: JsonValue) -> Model:
    """``data`` (a decoded JSON body) as ``model``; every mistake an ``InvalidRequest``."""
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.", code="invalid_type")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise response_validation_error(error, data) from None
