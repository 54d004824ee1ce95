"""The pass-through's request checks (``schemas/gateway_requests``): the spec's verdicts, the
field each error names, nulls and unknown fields, the nesting bound, and the two compiled forms
(jsonschema-rs for the verdict, the Python checks for the explanation) agreeing."""

from typing import Any

import pytest

from threadline.errors import InvalidRequest
from threadline.schemas.gateway_requests import REQUEST_CHECKS

CHAT = REQUEST_CHECKS["/chat/completions"]
EMBEDDINGS = REQUEST_CHECKS["/embeddings"]
USER = {"role": "user", "content": "Hi"}
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [USER], **fields}


def nested(depth: int) -> Any:
    value: Any = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


VALID = [
    body(),
    body(temperature=None, top_p=None, stop=None, stream=None, stream_options=None, n=None),
    body(reasoning_effort=None, service_tier=None, verbosity=None, metadata=None, seed=None),
    # Libraries send null for "not given" on fields the spec does not mark nullable, too.
    body(tools=None, user=None, tool_choice=None, parallel_tool_calls=None, logit_bias=None),
    body(temperature=0, top_p=1, max_tokens=10.0, stop=["x"], stream=True, logprobs=False),
    body(tools=[TOOL], tool_choice="auto", parallel_tool_calls=False),
    body(tool_choice={"type": "function", "function": {"name": "f"}}, tools=[TOOL]),
    body(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}),
    body(top_k=40, repetition_penalty=1.1, chat_template_kwargs={"thinking": False}),
    body(tools=[{"type": "function", "function": {"name": "f", "parameters": nested(64)}}]),
    body(
        messages=[
            {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:"}}]},
            {"role": "assistant", "content": None, "tool_calls": [], "x_vendor": 1},
            {"role": "tool", "tool_call_id": "c", "content": "ok"},
        ]
    ),
]

INVALID = [
    ({"model": "m", "messages": "hi"}, "messages", "invalid_type"),
    ({"model": "m"}, "messages", "missing_required_parameter"),
    ({"messages": [USER]}, "model", "missing_required_parameter"),
    (body(messages=[]), "messages", "empty_array"),
    (body(messages=[{"role": "bot", "content": "x"}]), "messages[0].role", "invalid_value"),
    (body(messages=[{"role": "user"}]), "messages[0].content", "missing_required_parameter"),
    (
        body(messages=[{"role": "user", "content": [{"type": "video"}]}]),
        "messages[0].content[0].type",
        "invalid_value",
    ),
    (body(temperature="0.5"), "temperature", "invalid_type"),
    (body(temperature=2.01), "temperature", "decimal_above_max_value"),
    (body(n=0), "n", "integer_below_min_value"),
    (body(stream=1), "stream", "invalid_type"),
    (body(tools="f"), "tools", "invalid_type"),
    (body(tools=[{"type": "function"}]), "tools[0].function", "missing_required_parameter"),
    (body(tools=[{"type": "retrieval"}]), "tools[0].type", "invalid_value"),
    (
        body(tools=[{"type": "function", "function": {"name": ["f"]}}]),
        "tools[0].function.name",
        "invalid_type",
    ),
    (body(reasoning_effort="extreme"), "reasoning_effort", "invalid_value"),
    (body(audio={"voice": {"id": "v", "x": 1}, "format": "wav"}), "audio.voice.x", None),
    (
        body(tools=[{"type": "function", "function": {"name": "f", "parameters": nested(65)}}]),
        "tools[0].function.parameters",
        "invalid_value",
    ),
    (body(top_k=nested(65)), "top_k", "invalid_value"),
    (body(messages=[{**USER, "extra": nested(65)}]), "messages[0].extra", "invalid_value"),
]


@pytest.mark.parametrize("data", VALID)
def test_valid_bodies_pass(data: dict[str, Any]) -> None:
    CHAT(data)
    CHAT._explain(data)  # the explanation finds nothing either


@pytest.mark.parametrize(("data", "param", "code"), INVALID, ids=[i[1] for i in INVALID])
def test_invalid_bodies_name_the_field(data: dict[str, Any], param: str, code: str | None) -> None:
    assert not CHAT._is_valid(data)  # the verdict and the explanation agree
    with pytest.raises(InvalidRequest) as caught:
        CHAT(data)
    error = caught.value
    assert (error.status_code, error.error_type) == (400, "invalid_request_error")
    assert error.param == param
    assert code is None or error.code == code
    assert param in error.message


def test_error_messages_do_not_echo_huge_values() -> None:
    with pytest.raises(InvalidRequest) as caught:
        CHAT(body(reasoning_effort="x" * 100_000))
    assert len(caught.value.message) < 300


def test_embeddings() -> None:
    for data in ({"model": "e", "input": "x"}, {"model": "e", "input": [[1, 2]], "user": "u"}):
        EMBEDDINGS(data)
    EMBEDDINGS({"model": "e", "input": "x", "input_type": "query"})  # a vendor extension
    for data, param in (
        ({"model": "e"}, "input"),
        ({"model": "e", "input": []}, "input"),
        ({"model": "e", "input": ["a", 2]}, "input[1]"),
        ({"model": "e", "input": "x", "encoding_format": "hex"}, "encoding_format"),
    ):
        with pytest.raises(InvalidRequest) as caught:
            EMBEDDINGS(data)
        assert caught.value.param == param
