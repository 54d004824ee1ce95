"""``null`` means "not given": a run override sent as null leaves the assistant's setting in place,
and a list sent as null on create is empty. (On modify, a field present with null is reset, as
OpenAI's partial updates do: only the keys present change.)

Clients send explicit nulls: llama-index's ``OpenAIAssistantAgent`` calls
``runs.create(thread_id=..., assistant_id=..., instructions=None)`` on every run, which the SDK
sends as ``"instructions": null``; clients in typed languages serialize every field of a request
object. Neither may blank an assistant's instructions or any other setting."""

from typing import Any

import pytest
from openai import OpenAI

from tests.runs_helpers import wait_for_run

INSTRUCTIONS = "You are a pirate. Always answer like one."
MODEL = "gpt-test"
FUNCTION = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
}
# Every override of POST /threads/{id}/runs, sent as null.
NULL_RUN_OVERRIDES: dict[str, Any] = dict.fromkeys(
    (
        "model",
        "instructions",
        "additional_instructions",
        "additional_messages",
        "tools",
        "metadata",
        "temperature",
        "top_p",
        "max_prompt_tokens",
        "max_completion_tokens",
        "truncation_strategy",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "reasoning_effort",
        "stream",
    )
)


@pytest.fixture
def assistant(client: OpenAI) -> Any:
    return client.beta.assistants.create(
        model=MODEL,
        instructions=INSTRUCTIONS,
        tools=[FUNCTION],
        temperature=0.3,
        top_p=0.9,
        response_format={"type": "json_object"},
        reasoning_effort="low",
    )


@pytest.fixture
def thread(client: OpenAI) -> Any:
    return client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])


def system_of(request: dict[str, Any]) -> str | None:
    systems = [m["content"] for m in request["messages"] if m["role"] in ("system", "developer")]
    return systems[0] if systems else None


def assert_assistant_settings(run: dict[str, Any], assistant: Any) -> None:
    """The run took every setting from the assistant, and the defaults for the rest."""
    assert run["instructions"] == INSTRUCTIONS
    assert run["model"] == MODEL
    assert run["tools"] == [{**FUNCTION, "function": {**FUNCTION["function"], "strict": False}}]
    assert run["temperature"] == 0.3
    assert run["top_p"] == 0.9
    assert run["response_format"] == {"type": "json_object"}
    assert run["metadata"] == {}
    assert run["max_prompt_tokens"] is None
    assert run["max_completion_tokens"] is None
    assert run["truncation_strategy"] == {"type": "auto", "last_messages": None}
    assert run["tool_choice"] == "auto"
    assert run["parallel_tool_calls"] is True
    assert run["assistant_id"] == assistant.id


def test_llama_index_null_instructions_keep_the_assistants(client, upstream, assistant, thread):
    # Exactly what llama-index's OpenAIAssistantAgent.run_assistant() sends through the SDK.
    run = client.beta.threads.runs.create(
        thread_id=thread.id, assistant_id=assistant.id, instructions=None
    )

    assert run.instructions == INSTRUCTIONS
    done = wait_for_run(client, thread.id, run.id)
    assert done.status == "completed", done.to_dict()
    assert done.instructions == INSTRUCTIONS
    [request] = upstream.requests
    assert system_of(request) == INSTRUCTIONS


def test_every_null_run_override_is_no_override(http, client, upstream, assistant, thread):
    response = http.post(
        f"/threads/{thread.id}/runs", json={"assistant_id": assistant.id, **NULL_RUN_OVERRIDES}
    )

    assert response.status_code == 200, response.text
    created = response.json()
    assert_assistant_settings(created, assistant)
    done = wait_for_run(client, thread.id, created["id"])
    assert done.status == "completed", done.to_dict()
    assert_assistant_settings(done.to_dict(), assistant)
    [request] = upstream.requests
    assert system_of(request) == INSTRUCTIONS
    assert request["model"] == MODEL
    assert request["temperature"] == 0.3
    assert request["reasoning_effort"] == "low"
    assert [tool["function"]["name"] for tool in request["tools"]] == ["get_time"]


def test_every_null_override_of_create_thread_and_run(http, client, upstream, assistant):
    overrides = {
        key: None
        for key in NULL_RUN_OVERRIDES
        if key not in ("additional_instructions", "additional_messages", "reasoning_effort")
    }
    body = {"assistant_id": assistant.id, "thread": None, "tool_resources": None, **overrides}

    response = http.post("/threads/runs", json=body)

    assert response.status_code == 200, response.text
    created = response.json()
    assert_assistant_settings(created, assistant)
    done = wait_for_run(client, created["thread_id"], created["id"])
    assert done.status == "completed", done.to_dict()
    [request] = upstream.requests
    assert system_of(request) == INSTRUCTIONS


def test_empty_instructions_still_override(client, upstream, assistant, thread):
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id, instructions="")

    assert run.instructions == ""
    wait_for_run(client, thread.id, run.id)
    assert system_of(upstream.requests[0]) is None


def test_null_additional_instructions_append_nothing(client, upstream, assistant, thread):
    run = client.beta.threads.runs.create(
        thread.id, assistant_id=assistant.id, additional_instructions=None
    )

    assert run.instructions == INSTRUCTIONS


# --- create: null lists are empty ---------------------------------------------------------------


def test_create_assistant_and_thread_take_null_lists_as_empty(http):
    created = http.post("/assistants", json={"model": MODEL, "tools": None})
    assert created.status_code == 200, created.text
    assert created.json()["tools"] == []

    thread = http.post("/threads", json={"messages": None, "metadata": None})
    assert thread.status_code == 200, thread.text
    assert thread.json()["metadata"] == {}
