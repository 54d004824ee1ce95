"""Request bodies of the Responses and Conversations APIs: what they accept, and the 400 (with
OpenAI's wording, ``param`` and ``code``) for what they do not."""

from typing import Any

import pytest

from threadline.api.response_validation import parse_body
from threadline.errors import InvalidRequest
from threadline.schemas.response_items import FunctionCallOutputInput, MessageInput
from threadline.schemas.response_tools import echo_tools, strict_schema
from threadline.schemas.responses import (
    CountInputTokens,
    CreateConversation,
    CreateConversationItems,
    CreateResponse,
    UpdateConversation,
)


def refused(model: Any, data: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as raised:
        parse_body(model, data)
    return raised.value


def test_a_string_input_and_the_defaults() -> None:
    request = parse_body(CreateResponse, {"model": "gpt-4o", "input": "Hi"})
    assert request.input == "Hi"
    assert request.stores and not request.background and request.tools is None


def test_every_input_item_type() -> None:
    items = [
        {"role": "user", "content": "Hi"},
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "x"}]},
        {
            "role": "user",
            "content": [
                {"type": "input_image", "file_id": "file-1"},
                {"type": "input_image", "image_url": "https://x/y.png", "detail": "low"},
                {"type": "input_file", "file_id": "file-2"},
                {"type": "input_file", "file_data": "data:...", "filename": "a.pdf"},
            ],
        },
        {
            "type": "message",
            "id": "msg_1",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "Hello", "annotations": []}],
        },
        {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "42"},
        {"type": "item_reference", "id": "msg_0"},
        {"type": "file_search_call", "id": "fs_1", "queries": ["q"], "status": "completed"},
        {
            "type": "code_interpreter_call",
            "id": "ci_1",
            "container_id": "cntr_1",
            "code": "1",
            "outputs": None,
            "status": "completed",
        },
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "abc"},
    ]
    request = parse_body(CreateResponse, {"model": "m", "input": items})
    assert isinstance(request.input, list) and len(request.input) == len(items)
    assert isinstance(request.input[0], MessageInput) and request.input[0].type == "message"
    assert isinstance(request.input[5], FunctionCallOutputInput)


@pytest.mark.parametrize(
    ("data", "param", "code", "message"),
    [
        (
            {"model": "m", "input": "x", "foo": 1},
            "foo",
            "unknown_parameter",
            "Unknown parameter: 'foo'.",
        ),
        (
            {"model": "m", "input": [{"role": "user", "content": "x", "foo": 1}]},
            "input[0].foo",
            "unknown_parameter",
            "Unknown parameter: 'input[0].foo'.",
        ),
        (
            {"input": "x"},
            "model",
            "missing_required_parameter",
            "Missing required parameter: 'model'.",
        ),
        (
            {"model": "m"},
            "input",
            "missing_required_parameter",
            "Missing required parameter: 'input'.",
        ),
        (
            {"model": "m", "input": "x", "tools": [{"type": "function"}]},
            "tools[0].name",
            "missing_required_parameter",
            "Missing required parameter: 'tools[0].name'.",
        ),
        ({"model": "m", "input": "x", "temperature": "hot"}, "temperature", "invalid_type", None),
        (
            {"model": "m", "input": "x", "max_output_tokens": 8},
            "max_output_tokens",
            "invalid_value",
            None,
        ),
        ({"model": "m", "input": "x", "include": ["nope"]}, "include[0]", "invalid_value", None),
        ({"model": "m", "input": "x", "truncation": "middle"}, "truncation", "invalid_value", None),
        (
            {"model": "m", "input": "x", "metadata": {str(i): "v" for i in range(17)}},
            "metadata",
            "invalid_value",
            None,
        ),
        (
            {
                "model": "m",
                "input": "x",
                "text": {"format": {"type": "json_schema", "name": "a b", "schema": {}}},
            },
            "text.format.name",
            "invalid_value",
            None,
        ),
        (
            {"model": "m", "input": [{"type": "function_call_output", "call_id": "c"}]},
            "input[0].output",
            "missing_required_parameter",
            None,
        ),
    ],
)
def test_bad_bodies_are_400s_with_param_and_code(
    data: dict[str, Any], param: str, code: str, message: str | None
) -> None:
    error = refused(CreateResponse, data)
    assert error.status_code == 400
    assert (error.param, error.code) == (param, code)
    if message is not None:
        assert error.message == message


@pytest.mark.parametrize(
    "kind", ["web_search", "image_generation", "computer_use_preview", "mcp", "local_shell"]
)
def test_a_tool_we_do_not_have_is_named(kind: str) -> None:
    tools = [{"type": "function", "name": "f"}, {"type": kind}]
    error = refused(CreateResponse, {"model": "m", "input": "x", "tools": tools})
    assert error.param == "tools[1].type" and error.code == "invalid_value"
    assert error.message.startswith(f"Invalid value: '{kind}'. Supported values are: 'function'")


def test_an_item_type_we_do_not_have_is_named() -> None:
    error = refused(
        CreateResponse, {"model": "m", "input": [{"type": "computer_call_output", "call_id": "c"}]}
    )
    assert (error.param, error.code) == ("input[0].type", "invalid_value")


def test_previous_response_and_conversation_are_exclusive() -> None:
    error = refused(
        CreateResponse,
        {"model": "m", "input": "x", "previous_response_id": "resp_1", "conversation": "conv_1"},
    )
    assert error.code == "mutually_exclusive_parameters" and error.param is None
    assert "'previous_response_id' or 'conversation'" in error.message


def test_background_needs_store() -> None:
    error = refused(
        CreateResponse, {"model": "m", "input": "x", "background": True, "store": False}
    )
    assert error.param == "background"


def test_conversation_as_id_or_object() -> None:
    assert (
        parse_body(
            CreateResponse, {"model": "m", "input": "x", "conversation": "conv_1"}
        ).conversation_id
        == "conv_1"
    )
    as_object = parse_body(
        CreateResponse, {"model": "m", "input": "x", "conversation": {"id": "conv_2"}}
    )
    assert as_object.conversation_id == "conv_2"
    # A continuation may send nothing new but a function output, or nothing at all.
    assert (
        parse_body(CreateResponse, {"model": "m", "previous_response_id": "resp_1"}).input is None
    )


def test_file_search_and_code_interpreter_tools() -> None:
    tools = [
        {
            "type": "file_search",
            "vector_store_ids": ["vs_1"],
            "max_num_results": 5,
            "filters": {
                "type": "and",
                "filters": [
                    {"type": "eq", "key": "k", "value": "v"},
                    {"type": "in", "key": "n", "value": [1, 2]},
                ],
            },
            "ranking_options": {"ranker": "auto", "score_threshold": 0.5},
        },
        {"type": "code_interpreter", "container": {"type": "auto", "file_ids": ["file-1"]}},
        {"type": "code_interpreter", "container": "cntr_1"},
    ]
    request = parse_body(
        CreateResponse,
        {"model": "m", "input": "x", "tools": tools, "tool_choice": {"type": "file_search"}},
    )
    echoed = echo_tools(request.tools)
    assert echoed[0] == {
        "type": "file_search",
        "vector_store_ids": ["vs_1"],
        "filters": {
            "type": "and",
            "filters": [
                {"type": "eq", "key": "k", "value": "v"},
                {"type": "in", "key": "n", "value": [1, 2]},
            ],
        },
        "max_num_results": 5,
        "ranking_options": {"ranker": "auto", "score_threshold": 0.5},
    }
    assert echoed[1] == {
        "type": "code_interpreter",
        "container": {"type": "auto", "file_ids": ["file-1"]},
    }
    assert echoed[2] == {"type": "code_interpreter", "container": "cntr_1"}
    bare = echo_tools(
        parse_body(
            CreateResponse,
            {
                "model": "m",
                "input": "x",
                "tools": [{"type": "file_search", "vector_store_ids": []}],
            },
        ).tools
    )
    assert bare[0]["filters"] is None
    assert bare[0]["ranking_options"] == {"ranker": "auto", "score_threshold": 0.0}


def test_a_bad_filter_is_a_400() -> None:
    tools = [
        {
            "type": "file_search",
            "vector_store_ids": ["vs_1"],
            "filters": {"type": "near", "key": "k", "value": 1},
        }
    ]
    assert (
        refused(CreateResponse, {"model": "m", "input": "x", "tools": tools}).param
        == "tools[0].filters"
    )


def test_function_strict_by_default_when_the_schema_allows() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    request = parse_body(
        CreateResponse,
        {
            "model": "m",
            "input": "x",
            "tools": [{"type": "function", "name": "w", "parameters": schema}],
        },
    )
    (echoed,) = echo_tools(request.tools)
    assert echoed["strict"] is True
    assert echoed["parameters"] == {**schema, "additionalProperties": False}
    assert echoed["description"] is None


def test_function_not_strict_when_a_key_is_optional_or_asked() -> None:
    optional = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
        "required": ["city"],
    }
    tools = [
        {"type": "function", "name": "a", "parameters": optional},
        {"type": "function", "name": "b", "parameters": optional, "strict": False},
    ]
    echoed = echo_tools(
        parse_body(CreateResponse, {"model": "m", "input": "x", "tools": tools}).tools
    )
    assert [tool["strict"] for tool in echoed] == [False, False]
    assert echoed[0]["parameters"] == optional


def test_strict_schema_closes_nested_objects() -> None:
    schema = {
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"n": {"type": "integer"}},
                    "required": ["n"],
                },
            }
        },
        "required": ["items"],
    }
    strict = strict_schema(schema)
    assert strict is not None and strict["additionalProperties"] is False
    assert strict["properties"]["items"]["items"]["additionalProperties"] is False  # type: ignore[index]
    assert strict_schema({"type": "object", "properties": {}, "additionalProperties": True}) is None


def test_tool_choice_forms() -> None:
    for choice in [
        "none",
        "auto",
        "required",
        {"type": "function", "name": "f"},
        {"type": "code_interpreter"},
        {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "f"}]},
    ]:
        parse_body(CreateResponse, {"model": "m", "input": "x", "tool_choice": choice})
    assert (
        refused(CreateResponse, {"model": "m", "input": "x", "tool_choice": "sometimes"}).param
        == "tool_choice"
    )


def test_text_formats_and_reasoning() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "required": ["a"],
        "additionalProperties": False,
    }
    request = parse_body(
        CreateResponse,
        {
            "model": "m",
            "input": "x",
            "text": {
                "format": {"type": "json_schema", "name": "M", "schema": schema, "strict": True}
            },
            "reasoning": {"effort": "low", "summary": "auto"},
        },
    )
    assert request.text is not None and request.text.format is not None
    assert request.reasoning is not None and request.reasoning.effort == "low"


def test_echo_only_fields_are_type_checked() -> None:
    parse_body(
        CreateResponse,
        {
            "model": "m",
            "input": "x",
            "user": "u",
            "safety_identifier": "s",
            "prompt_cache_key": "k",
            "service_tier": "auto",
            "top_logprobs": 3,
            "prompt_cache_retention": "24h",
            "stream": True,
            "stream_options": {"include_obfuscation": False},
        },
    )
    assert refused(CreateResponse, {"model": "m", "input": "x", "user": 5}).param == "user"


def test_input_tokens_body() -> None:
    parse_body(CountInputTokens, {"input": "Hi"})
    assert refused(CountInputTokens, {"input": "Hi", "stream": True}).code == "unknown_parameter"


def test_conversation_bodies() -> None:
    created = parse_body(
        CreateConversation, {"items": [{"role": "user", "content": "Hi"}], "metadata": {"a": "b"}}
    )
    assert created.items is not None and len(created.items) == 1
    assert parse_body(CreateConversation, {}).items is None
    assert (
        refused(CreateConversation, {"items": [{"role": "user", "content": "x"}] * 21}).param
        == "items"
    )
    assert (
        refused(CreateConversation, {"items": [{"type": "web_search_call", "id": "x"}]}).param
        == "items[0].type"
    )
    parse_body(UpdateConversation, {"metadata": {"topic": "x"}})
    assert refused(UpdateConversation, {}).code == "missing_required_parameter"
    parse_body(
        CreateConversationItems,
        {"items": [{"type": "function_call_output", "call_id": "c", "output": "1"}]},
    )
    assert (
        refused(CreateConversationItems, {"items": [], "x": 1}).message == "Unknown parameter: 'x'."
    )


def test_body_must_be_an_object() -> None:
    assert refused(CreateResponse, ["model"]).code == "invalid_type"
