"""The Responses API through the official SDK: a response is a run the run engine executes,
on a hidden thread; ``previous_response_id`` continues that thread."""

import json

import openai
import pytest
from openai import OpenAI
from pydantic import BaseModel

from tests.upstream import Fail, Text, ToolCalls

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
}


def test_create_answers_the_text(client: OpenAI, upstream) -> None:
    upstream.script(Text(["Hello", " there"]))
    response = client.responses.create(model="gpt-test", input="Hi", instructions="Be brief.")
    assert response.status == "completed"
    assert response.output_text == "Hello there"
    assert response.id.startswith("resp_")
    assert response.instructions == "Be brief."
    assert response.usage is not None and response.usage.total_tokens == 15
    sent = upstream.requests[-1]["messages"]
    assert sent == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    again = client.responses.retrieve(response.id)
    assert again.output_text == "Hello there"
    assert again.output[0].id == response.output[0].id


def test_stream_gives_text_deltas_and_the_final_response(client: OpenAI, upstream) -> None:
    upstream.script(Text(["Hel", "lo", "!"]))
    with client.responses.stream(model="gpt-test", input="Hi") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert final.output_text == "Hello!"
    assert client.responses.retrieve(final.id).output_text == "Hello!"


class Weather(BaseModel):
    city: str
    degrees: int


def test_parse_with_a_pydantic_model(client: OpenAI, upstream) -> None:
    upstream.script(Text(['{"city": "Paris", ', '"degrees": 21}']))
    parsed = client.responses.parse(model="gpt-test", input="Weather?", text_format=Weather)
    assert parsed.output_parsed == Weather(city="Paris", degrees=21)
    sent = upstream.requests[-1]["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["name"] == "Weather"
    assert sent["json_schema"]["strict"] is True


def test_function_call_round_trip(client: OpenAI, upstream) -> None:
    upstream.script(ToolCalls([("get_weather", '{"city": "Paris"}')]), Text(["Sunny."]))
    first = client.responses.create(model="gpt-test", input="Weather in Paris?", tools=[WEATHER])
    assert first.status == "completed"
    (call,) = first.output
    assert call.type == "function_call"
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}
    assert call.id.startswith("fc_")
    assert upstream.requests[-1]["tools"][0]["function"]["name"] == "get_weather"

    second = client.responses.create(
        model="gpt-test",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "21C"}],
        tools=[WEATHER],
    )
    assert second.output_text == "Sunny."
    sent = upstream.requests[-1]["messages"]
    assert sent[0] == {"role": "user", "content": "Weather in Paris?"}
    assert sent[1]["tool_calls"][0]["id"] == call.call_id
    assert sent[2] == {"role": "tool", "tool_call_id": call.call_id, "content": "21C"}


def test_an_open_call_needs_its_output(client: OpenAI, upstream) -> None:
    upstream.script(ToolCalls([("get_weather", '{"city": "Paris"}')]))
    first = client.responses.create(model="gpt-test", input="Weather?", tools=[WEATHER])
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(model="gpt-test", previous_response_id=first.id, input="And?")
    assert raised.value.status_code == 400
    assert "No tool output found for function call" in raised.value.message
    assert raised.value.body["param"] == "input"


def test_a_chain_sends_every_earlier_turn(client: OpenAI, upstream) -> None:
    upstream.script(Text(["One."]), Text(["Two."]), Text(["Three."]))
    first = client.responses.create(model="gpt-test", input="1", instructions="Old rules.")
    second = client.responses.create(model="gpt-test", input="2", previous_response_id=first.id)
    third = client.responses.create(model="gpt-test", input="3", previous_response_id=second.id)
    assert third.output_text == "Three."
    assert third.previous_response_id == second.id
    assert upstream.requests[-1]["messages"] == [  # instructions are not inherited
        {"role": "user", "content": "1"},
        {"role": "assistant", "content": "One."},
        {"role": "user", "content": "2"},
        {"role": "assistant", "content": "Two."},
        {"role": "user", "content": "3"},
    ]


def test_a_fork_from_an_earlier_response(client: OpenAI, upstream) -> None:
    upstream.script(Text(["One."]), Text(["Two."]), Text(["Other."]))
    first = client.responses.create(model="gpt-test", input="1")
    client.responses.create(model="gpt-test", input="2", previous_response_id=first.id)
    fork = client.responses.create(model="gpt-test", input="2b", previous_response_id=first.id)
    assert fork.output_text == "Other."
    assert upstream.requests[-1]["messages"] == [
        {"role": "user", "content": "1"},
        {"role": "assistant", "content": "One."},
        {"role": "user", "content": "2b"},
    ]


def test_delete_input_items_and_input_tokens(client: OpenAI, upstream) -> None:
    upstream.script(Text(["Hi."]))
    response = client.responses.create(
        model="gpt-test",
        input=[
            {"role": "user", "content": "first"},
            {"role": "user", "content": [{"type": "input_text", "text": "second"}]},
        ],
    )
    items = client.responses.input_items.list(response.id)
    assert [item.content[0].text for item in items.data] == ["second", "first"]
    ascending = client.responses.input_items.list(response.id, order="asc", limit=1)
    assert [item.content[0].text for item in ascending] == ["first", "second"]

    counted = client.responses.input_tokens.count(model="gpt-test", input="Hello there")
    assert counted.input_tokens > 2

    client.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(model="gpt-test", input="x", previous_response_id=response.id)
    assert raised.value.body["code"] == "previous_response_not_found"


def test_store_false_keeps_nothing(client: OpenAI, upstream) -> None:
    upstream.script(Text(["Gone."]))
    response = client.responses.create(model="gpt-test", input="Hi", store=False)
    assert response.output_text == "Gone."
    assert response.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)


def test_an_upstream_failure_is_a_failed_response(client: OpenAI, upstream) -> None:
    upstream.script(Fail(400), Fail(400), Fail(400))
    response = client.responses.create(model="gpt-test", input="Hi")
    assert response.status == "failed"
    assert response.error is not None


def test_cancel_of_a_synchronous_response_is_refused(client: OpenAI, upstream) -> None:
    upstream.script(Text(["Hi."]))
    response = client.responses.create(model="gpt-test", input="Hi")
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.cancel(response.id)
    assert raised.value.body["message"] == "Cannot cancel a synchronous response."


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        (
            {"previous_response_id": "resp_unknown"},
            "previous_response_id",
            "previous_response_not_found",
        ),
        (
            {"previous_response_id": "resp_x", "conversation": "conv_x"},
            None,
            "mutually_exclusive_parameters",
        ),
        ({"tools": [{"type": "web_search"}]}, "tools[0].type", "invalid_value"),
        ({"extra_body": {"temperature_x": 1}}, "temperature_x", "unknown_parameter"),
    ],
)
def test_errors_have_openai_shape(client: OpenAI, upstream, body, param, code) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(model="gpt-test", input="Hi", **body)
    error = raised.value.body
    assert raised.value.status_code == 400
    assert error["param"] == param
    assert error["code"] == code


def test_an_assistants_run_is_unaffected(client: OpenAI, upstream) -> None:
    upstream.script(ToolCalls([("get_weather", '{"city": "Paris"}')]))
    assistant = client.beta.assistants.create(
        model="gpt-test",
        tools=[{"type": "function", "function": {k: v for k, v in WEATHER.items() if k != "type"}}],
    )
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Weather?"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "requires_action"
