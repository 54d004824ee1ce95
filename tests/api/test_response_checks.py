"""What ``POST /v1/responses`` refuses before anything runs, in OpenAI's shapes: an unknown
model, a model the key may not use, an input over the model's window without truncation; what
``input_tokens`` counts; and the hidden thread of a chain, which no thread or conversation
route shows."""

import asyncio
import secrets

import httpx
import openai
import pytest
from openai import OpenAI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import sdk_client
from tests.upstream import Text, ToolCalls

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
}
# About 70,000 tokens: one fits the default window (128,000 less the reply's room), two do not.
LONG = "hello " * 70_000


def _error(raised: pytest.ExceptionInfo[openai.APIStatusError]) -> dict[str, object]:
    body = raised.value.body
    assert isinstance(body, dict)
    return body


def test_an_unknown_model_is_a_400_before_anything_runs(client: OpenAI, upstream) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(model="no-such-model", input="Hi")
    assert _error(raised) == {
        "message": "The requested model 'no-such-model' does not exist.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }
    assert upstream.requests == []
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.input_tokens.count(model="no-such-model", input="Hi")
    assert _error(raised)["code"] == "model_not_found"


def test_a_model_the_key_may_not_use_is_a_403(
    server_url: str, admin: httpx.Client, upstream
) -> None:
    project = f"p-{secrets.token_hex(6)}"
    made = admin.post("/admin/keys", json={"project": project, "models": ["other-model"]})
    limited = sdk_client(server_url, made.json()["key"])
    with limited, pytest.raises(openai.PermissionDeniedError) as raised:
        limited.responses.create(model="gpt-test", input="Hi")
    assert _error(raised)["code"] == "model_not_found"
    assert _error(raised)["param"] == "model"
    assert upstream.requests == []


def test_without_truncation_an_input_over_the_window_is_refused(client: OpenAI, upstream) -> None:
    upstream.script(Text(["Long indeed."]))
    first = client.responses.create(model="gpt-test", input=LONG)
    assert first.status == "completed"
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(
            model="gpt-test", input=LONG, previous_response_id=first.id, truncation="disabled"
        )
    assert _error(raised) == {
        "message": "Your input exceeds the context window of this model. Please adjust your "
        "input and try again.",
        "type": "invalid_request_error",
        "param": "input",
        "code": "context_length_exceeded",
    }
    assert len(upstream.requests) == 1


def test_auto_truncation_drops_the_oldest_turns(client: OpenAI, upstream) -> None:
    upstream.script(Text(["Long indeed."]), Text(["Short."]))
    first = client.responses.create(model="gpt-test", input=LONG)
    second = client.responses.create(
        model="gpt-test", input=LONG + "end", previous_response_id=first.id, truncation="auto"
    )
    assert second.status == "completed" and second.truncation == "auto"
    sent = upstream.requests[-1]["messages"]
    assert sent[-1] == {"role": "user", "content": LONG + "end"}
    assert {"role": "user", "content": LONG} not in sent


def test_input_tokens_count_the_tools(client: OpenAI) -> None:
    bare = client.responses.input_tokens.count(model="gpt-test", input="Weather in Paris?")
    with_tool = client.responses.input_tokens.count(
        model="gpt-test", input="Weather in Paris?", tools=[WEATHER]
    )
    assert with_tool.input_tokens > bare.input_tokens + 10


def test_counting_before_the_outputs_come_does_not_lose_them(client: OpenAI, upstream) -> None:
    """A count made while a function call waits for its output must not remember the call
    without it: the next response sends the output to the model."""
    upstream.script(ToolCalls([("get_weather", '{"city": "Paris"}')]), Text(["21C in Paris."]))
    first = client.responses.create(model="gpt-test", input="Weather in Paris?", tools=[WEATHER])
    (call,) = [item for item in first.output if item.type == "function_call"]
    client.responses.input_tokens.count(model="gpt-test", previous_response_id=first.id)
    output = {"type": "function_call_output", "call_id": call.call_id, "output": "21C"}
    second = client.responses.create(
        model="gpt-test", input=[output], previous_response_id=first.id, tools=[WEATHER]
    )
    assert second.output_text == "21C in Paris."
    assert upstream.requests[-1]["messages"][-1]["content"] == "21C"


def _thread_of(database_url: str, response_id: str) -> str:
    async def read() -> str:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as connection:
                found = await connection.execute(
                    text("SELECT thread_id FROM responses WHERE id = :id"), {"id": response_id}
                )
                return str(found.scalar_one())
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_a_chain_thread_is_neither_a_thread_nor_a_conversation(
    client: OpenAI, http: httpx.Client, upstream, database_url: str
) -> None:
    upstream.script(Text(["Hello."]))
    response = client.responses.create(model="gpt-test", input="Hi")
    thread_id = _thread_of(database_url, response.id)
    for method, path in [
        ("GET", f"/threads/{thread_id}"),
        ("POST", f"/threads/{thread_id}"),
        ("DELETE", f"/threads/{thread_id}"),
        ("GET", f"/threads/{thread_id}/messages"),
        ("POST", f"/threads/{thread_id}/messages"),
        ("GET", f"/conversations/{thread_id}"),
        ("POST", f"/conversations/{thread_id}"),
        ("DELETE", f"/conversations/{thread_id}"),
        ("GET", f"/conversations/{thread_id}/items"),
        ("GET", f"/threads/{thread_id}/runs"),
    ]:
        body = {"role": "user", "content": "x"} if path.endswith("messages") else {}
        if method == "POST" and path.startswith("/conversations"):
            body = {"metadata": {"a": "b"}}
        sent = http.request(method, path, json=body if method == "POST" else None)
        assert sent.status_code == 404, (method, path, sent.text)
        assert sent.json()["error"]["type"] == "invalid_request_error"
    assert client.responses.retrieve(response.id).output_text == "Hello."
