"""Validation failures name the request's own path in ``param``, never pydantic's union labels."""

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from threadline.api.errors import validation_error
from threadline.schemas.requests import CreateAssistant, CreateMessage, CreateThread

CASES: list[tuple[type[BaseModel], dict[str, Any], str, str]] = [
    (
        CreateAssistant,
        {"model": "m", "tools": [{"type": "function", "function": {"name": "bad name"}}]},
        "tools[0].function.name",
        "Invalid value",
    ),
    (
        CreateAssistant,
        {"model": "m", "response_format": {"type": "json_object", "x": 1}},
        "response_format.x",
        "Unrecognized request argument supplied",
    ),
    (
        CreateMessage,
        {"role": "user", "content": [{"type": "text", "text": "hi", "x": 1}]},
        "content[0].x",
        "Unrecognized request argument supplied",
    ),
    (
        CreateMessage,
        {"role": "user", "content": [{"type": "text"}]},
        "content[0].text",
        "Missing required parameter",
    ),
    (
        CreateAssistant,
        {"model": "m", "tools": [{"type": "file_search", "file_search": {"max_num_results": 51}}]},
        "tools[0].file_search.max_num_results",
        "Invalid value",
    ),
    (
        CreateThread,
        {"messages": [{"role": "user", "content": "x"}, {"role": "system", "content": "x"}]},
        "messages[1].role",
        "Invalid value",
    ),
    (CreateAssistant, {"model": "m", "metadata": {"a": 1}}, "metadata.a", "Invalid value"),
    (CreateAssistant, {}, "model", "Missing required parameter"),
]


@pytest.mark.parametrize(("model", "data", "param", "wording"), CASES)
def test_param_is_the_path_in_the_request(
    model: type[BaseModel], data: dict[str, Any], param: str, wording: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(data)
    error = validation_error(raised.value, data)
    assert error.param == param
    assert error.message.startswith(wording)
    assert param in error.message
    assert not any(label in error.message for label in ("union", "list[", "literal[")), (
        "no pydantic labels in the message"
    )
