"""Runs through the official SDK against the scripted upstream: create (every parameter and what
reaches the upstream), the run object's shape and defaults, the polling helpers, create thread and
run, list/retrieve/modify, one active run per thread, run steps, cancel, and the conversation a
later run sends to the model."""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.upstream import Slow, Text, ToolCalls

POLL = 20  # ms between polls of the SDK helpers
INSTRUCTIONS = "You are terse."
MODEL = "gpt-test"
INCLUDE = "step_details.tool_calls[*].file_search.results[*].content"
FUNCTION = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "The time in a time zone.",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}},
    },
}


def wire(value: Any) -> Any:
    """An SDK object as the JSON it was parsed from (API names, explicit nulls kept)."""
    return value.to_dict() if isinstance(value, openai.BaseModel) else value


def text_part(value: str) -> dict[str, Any]:
    return {"type": "text", "text": {"value": value, "annotations": []}}


def system_of(request: dict[str, Any]) -> str | None:
    systems = [m["content"] for m in request["messages"] if m["role"] in ("system", "developer")]
    assert len(systems) <= 1, request["messages"]
    return systems[0] if systems else None


def chat(request: dict[str, Any]) -> list[tuple[str, Any]]:
    """The non-system messages the upstream received, as (role, content)."""
    return [
        (m["role"], m.get("content"))
        for m in request["messages"]
        if m["role"] not in ("system", "developer")
    ]


@pytest.fixture
def assistant(client: OpenAI) -> Any:
    return client.beta.assistants.create(model=MODEL, instructions=INSTRUCTIONS)


@pytest.fixture
def thread(client: OpenAI) -> Any:
    return client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])


def run_and_wait(client: OpenAI, thread_id: str, assistant_id: str, **params: Any) -> Any:
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread_id, assistant_id=assistant_id, poll_interval_ms=POLL, **params
    )
    assert run.status == "completed", wire(run)
    return run


def say(client: OpenAI, thread_id: str, text: str) -> Any:
    return client.beta.threads.messages.create(thread_id, role="user", content=text)


# --- the run object -------------------------------------------------------------------------------


def test_created_run_shape_and_defaults(client, upstream, assistant, thread):
    created = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    body = wire(created)

    assert created.id.startswith("run_")
    assert body["object"] == "thread.run"
    assert body["thread_id"] == thread.id
    assert body["assistant_id"] == assistant.id
    assert body["status"] == "queued"
    assert type(body["created_at"]) is int
    assert body["expires_at"] == body["created_at"] + 600
    for key in ("started_at", "completed_at", "cancelled_at", "failed_at"):
        assert body[key] is None, key
    for key in ("required_action", "last_error", "incomplete_details", "usage"):
        assert body[key] is None, key
    assert body["model"] == MODEL
    assert body["instructions"] == INSTRUCTIONS
    assert body["tools"] == []
    assert body["metadata"] == {}
    assert body["temperature"] == 1.0
    assert body["top_p"] == 1.0
    assert body["max_prompt_tokens"] is None
    assert body["max_completion_tokens"] is None
    assert body["tool_choice"] == "auto"
    assert body["truncation_strategy"] == {"type": "auto", "last_messages": None}
    assert body["parallel_tool_calls"] is True
    assert body["response_format"] == "auto"

    done = client.beta.threads.runs.poll(created.id, thread_id=thread.id, poll_interval_ms=POLL)
    finished = wire(done)
    assert finished["status"] == "completed"
    assert type(finished["started_at"]) is int
    assert type(finished["completed_at"]) is int
    assert finished["created_at"] <= finished["started_at"] <= finished["completed_at"]
    assert finished["expires_at"] is None
    assert finished["usage"] == {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    assert finished["required_action"] is None
    assert finished["last_error"] is None


def test_create_and_poll_lists_the_assistant_message(client, upstream, assistant, thread):
    upstream.script(Text(["Hello", " there", "!"]))
    run = run_and_wait(client, thread.id, assistant.id)

    messages = client.beta.threads.messages.list(thread.id, order="asc").data
    assert [m.role for m in messages] == ["user", "assistant"]
    reply = wire(messages[1])
    assert reply["assistant_id"] == assistant.id
    assert reply["run_id"] == run.id
    assert reply["thread_id"] == thread.id
    assert reply["status"] == "completed"
    assert reply["content"] == [text_part("Hello there!")]
    assert type(reply["completed_at"]) is int
    assert messages[0].run_id is None
    assert len(upstream.requests) == 1


def test_an_empty_answer_is_an_empty_assistant_message(client, upstream, assistant, thread):
    upstream.script(Text([], usage=(10, 0)))
    run = run_and_wait(client, thread.id, assistant.id)

    newest = client.beta.threads.messages.list(thread.id).data[0]
    assert (newest.role, newest.run_id, newest.status) == ("assistant", run.id, "completed")
    assert wire(newest)["content"] == [text_part("")]
    [step] = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert step.type == "message_creation"
    assert step.status == "completed"
    assert step.step_details.message_creation.message_id == newest.id


def test_messages_list_filters_by_run_id(client, upstream, assistant, thread):
    upstream.script(Text(["first answer"]), Text(["second answer"]))
    first = run_and_wait(client, thread.id, assistant.id)
    say(client, thread.id, "More")
    second = run_and_wait(client, thread.id, assistant.id)

    for run, text in ((first, "first answer"), (second, "second answer")):
        listed = client.beta.threads.messages.list(thread.id, run_id=run.id).data
        assert [(m.role, m.run_id) for m in listed] == [("assistant", run.id)]
        assert wire(listed[0])["content"] == [text_part(text)]
    assert len(client.beta.threads.messages.list(thread.id).data) == 4


# --- create parameters and what reaches the upstream ----------------------------------------------


def test_model_and_instructions_overrides(client, upstream, assistant, thread):
    run = run_and_wait(
        client, thread.id, assistant.id, model="gpt-override", instructions="Answer in French."
    )

    assert run.model == "gpt-override"
    assert run.instructions == "Answer in French."
    [request] = upstream.requests
    assert request["model"] == "gpt-override"
    assert system_of(request) == "Answer in French."
    assert chat(request) == [("user", "Hi")]


def test_assistant_settings_reach_the_upstream_by_default(client, upstream, assistant, thread):
    run_and_wait(client, thread.id, assistant.id)

    [request] = upstream.requests
    assert request["model"] == MODEL
    assert request["messages"][0] == {"role": "system", "content": INSTRUCTIONS}
    assert chat(request) == [("user", "Hi")]
    assert request["stream"] is True
    assert "tools" not in request
    assert "tool_choice" not in request
    assert "max_tokens" not in request


def test_additional_instructions_are_appended(client, upstream, assistant, thread):
    run_and_wait(client, thread.id, assistant.id, additional_instructions="Also be kind.")

    system = system_of(upstream.requests[0])
    assert system is not None
    assert system.startswith(INSTRUCTIONS)
    assert system.endswith("Also be kind.")


def test_additional_messages_land_in_the_thread_before_the_run(client, upstream, assistant, thread):
    run = run_and_wait(
        client,
        thread.id,
        assistant.id,
        additional_messages=[
            {"role": "user", "content": "Extra question", "metadata": {"k": "v"}},
            {"role": "assistant", "content": "An earlier answer"},
        ],
    )

    messages = client.beta.threads.messages.list(thread.id, order="asc").data
    assert [(m.role, wire(m)["content"]) for m in messages] == [
        ("user", [text_part("Hi")]),
        ("user", [text_part("Extra question")]),
        ("assistant", [text_part("An earlier answer")]),
        ("assistant", [text_part("Hello world")]),
    ]
    assert messages[1].metadata == {"k": "v"}
    assert messages[1].created_at <= run.created_at
    assert messages[3].run_id == run.id
    assert chat(upstream.requests[0]) == [
        ("user", "Hi"),
        ("user", "Extra question"),
        ("assistant", "An earlier answer"),
    ]


def test_tools_override(client, upstream, assistant, thread):
    run = run_and_wait(client, thread.id, assistant.id, tools=[FUNCTION])

    assert wire(run)["tools"] == [
        {**FUNCTION, "function": {**FUNCTION["function"], "strict": False}}
    ]
    [request] = upstream.requests
    assert [tool["function"]["name"] for tool in request["tools"]] == ["get_time"]
    assert request["tools"][0]["type"] == "function"
    assert request["tools"][0]["function"]["parameters"] == FUNCTION["function"]["parameters"]
    assert request["tool_choice"] == "auto"
    assert request["parallel_tool_calls"] is True
    # The assistant itself is unchanged.
    assert client.beta.assistants.retrieve(assistant.id).tools == []


def test_tools_override_allows_20_and_rejects_21(client, upstream, assistant, thread):
    def tools(count: int) -> list[dict[str, Any]]:
        return [{"type": "function", "function": {"name": f"f{i}"}} for i in range(count)]

    with pytest.raises(openai.BadRequestError) as error:
        client.beta.threads.runs.create(thread.id, assistant_id=assistant.id, tools=tools(21))
    assert error.value.status_code == 400
    assert error.value.param is not None and error.value.param.startswith("tools")
    assert client.beta.threads.runs.list(thread.id).data == []

    run = run_and_wait(client, thread.id, assistant.id, tools=tools(20))
    assert len(run.tools) == 20
    assert len(upstream.requests[0]["tools"]) == 20


def test_metadata_temperature_top_p(client, upstream, assistant, thread):
    run = run_and_wait(
        client, thread.id, assistant.id, metadata={"a": "1"}, temperature=0.25, top_p=0.5
    )

    assert run.metadata == {"a": "1"}
    assert run.temperature == 0.25
    assert run.top_p == 0.5
    [request] = upstream.requests
    assert request["temperature"] == 0.25
    assert request["top_p"] == 0.5


def test_response_format_json_schema_is_passed_to_the_upstream(client, upstream, assistant, thread):
    response_format = {
        "type": "json_schema",
        "json_schema": {
            "name": "answer",
            "schema": {
                "type": "object",
                "properties": {"value": {"type": "string"}},
                "required": ["value"],
                "additionalProperties": False,
            },
            "strict": True,
        },
    }
    upstream.script(Text(['{"value"', ': "x"}']))
    run = run_and_wait(client, thread.id, assistant.id, response_format=response_format)

    assert wire(run)["response_format"] == response_format
    assert upstream.requests[0]["response_format"] == response_format


def test_response_format_json_object(client, upstream, assistant, thread):
    run = run_and_wait(client, thread.id, assistant.id, response_format={"type": "json_object"})

    assert wire(run)["response_format"] == {"type": "json_object"}
    assert upstream.requests[0]["response_format"] == {"type": "json_object"}


@pytest.mark.parametrize(
    "choice",
    ["none", "auto", "required", {"type": "function", "function": {"name": "get_time"}}],
    ids=["none", "auto", "required", "named"],
)
def test_tool_choice_is_passed_through(client, upstream, assistant, thread, choice):
    run = run_and_wait(client, thread.id, assistant.id, tools=[FUNCTION], tool_choice=choice)

    assert wire(run)["tool_choice"] == choice
    assert upstream.requests[0]["tool_choice"] == choice


def test_parallel_tool_calls_false(client, upstream, assistant, thread):
    run = run_and_wait(client, thread.id, assistant.id, tools=[FUNCTION], parallel_tool_calls=False)

    assert run.parallel_tool_calls is False
    assert upstream.requests[0]["parallel_tool_calls"] is False


def test_truncation_last_messages(client, upstream, assistant, thread):
    for text in ("two", "three", "four"):
        say(client, thread.id, text)
    run = run_and_wait(
        client,
        thread.id,
        assistant.id,
        truncation_strategy={"type": "last_messages", "last_messages": 2},
    )

    assert wire(run)["truncation_strategy"] == {"type": "last_messages", "last_messages": 2}
    [request] = upstream.requests
    assert system_of(request) == INSTRUCTIONS
    assert chat(request) == [("user", "three"), ("user", "four")]


def test_token_budgets(client, upstream, assistant, thread):
    run = run_and_wait(
        client, thread.id, assistant.id, max_prompt_tokens=256, max_completion_tokens=256
    )

    assert run.max_prompt_tokens == 256
    assert run.max_completion_tokens == 256
    assert upstream.requests[0]["max_tokens"] == 256


@pytest.mark.parametrize("field", ["max_prompt_tokens", "max_completion_tokens"])
def test_token_budgets_below_256_are_rejected(client, upstream, assistant, thread, field):
    with pytest.raises(openai.BadRequestError) as error:
        client.beta.threads.runs.create(thread.id, assistant_id=assistant.id, **{field: 255})
    assert error.value.status_code == 400
    assert error.value.param == field
    assert client.beta.threads.runs.list(thread.id).data == []
    assert upstream.requests == []


def test_prompt_budget_drops_the_oldest_messages(client, upstream, assistant, thread):
    say(client, thread.id, "word " * 400)
    say(client, thread.id, "Short question")
    run_and_wait(client, thread.id, assistant.id, max_prompt_tokens=256)

    [request] = upstream.requests
    assert system_of(request) == INSTRUCTIONS
    assert chat(request) == [("user", "Short question")]


def test_prompt_budget_too_small_for_the_last_message(client, upstream, assistant, thread):
    say(client, thread.id, "word " * 400)
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, max_prompt_tokens=256, poll_interval_ms=POLL
    )

    assert run.status == "incomplete"
    assert run.incomplete_details is not None
    assert run.incomplete_details.reason == "max_prompt_tokens"
    assert upstream.requests == []
    say(client, thread.id, "The thread is free again")


@pytest.mark.parametrize(
    "invalid",
    [
        {"temperature": 2.5},
        {"top_p": 1.5},
        {"truncation_strategy": {"type": "last_messages", "last_messages": 0}},
        {"truncation_strategy": {"type": "middle"}},
        {"tool_choice": "sometimes"},
        {"response_format": {"type": "xml"}},
        {"metadata": {f"k{i}": "v" for i in range(17)}},
        {"additional_messages": [{"role": "system", "content": "x"}]},
    ],
    ids=lambda invalid: next(iter(invalid)),
)
def test_invalid_create_parameters_are_400s(http, upstream, assistant, thread, invalid):
    response = http.post(
        f"/threads/{thread.id}/runs", json={"assistant_id": assistant.id, **invalid}
    )

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] is not None and error["param"].startswith(next(iter(invalid)))
    assert http.get(f"/threads/{thread.id}/runs").json()["data"] == []
    assert upstream.requests == []


def test_include_query_is_accepted(client, upstream, assistant, thread, http):
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, include=[INCLUDE], poll_interval_ms=POLL
    )
    assert run.status == "completed"

    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, include=[INCLUDE])
    [step] = steps.data
    again = client.beta.threads.runs.steps.retrieve(
        step.id, thread_id=thread.id, run_id=run.id, include=[INCLUDE]
    )
    assert again == step
    # The bracket form, as both SDKs send it.
    raw = http.get(
        f"/threads/{thread.id}/runs/{run.id}/steps/{step.id}", params={"include[]": INCLUDE}
    )
    assert raw.status_code == 200, raw.text


# --- create thread and run ------------------------------------------------------------------------


def test_create_thread_and_run(client, upstream, assistant):
    run = client.beta.threads.create_and_run(
        assistant_id=assistant.id,
        thread={
            "messages": [{"role": "user", "content": "Question one"}],
            "metadata": {"origin": "test"},
        },
        metadata={"run": "yes"},
    )
    assert run.status == "queued"
    assert run.thread_id.startswith("thread_")
    assert run.metadata == {"run": "yes"}

    done = client.beta.threads.runs.poll(run.id, thread_id=run.thread_id, poll_interval_ms=POLL)
    assert done.status == "completed"
    assert client.beta.threads.retrieve(run.thread_id).metadata == {"origin": "test"}
    messages = client.beta.threads.messages.list(run.thread_id, order="asc").data
    assert [(m.role, m.run_id) for m in messages] == [("user", None), ("assistant", run.id)]
    assert chat(upstream.requests[0]) == [("user", "Question one")]
    assert system_of(upstream.requests[0]) == INSTRUCTIONS


def test_create_and_run_poll(client, upstream, assistant):
    upstream.script(Text(["Polled."]))
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "Hello?"}]},
        poll_interval_ms=POLL,
    )

    assert run.status == "completed"
    [reply] = client.beta.threads.messages.list(run.thread_id, run_id=run.id).data
    assert wire(reply)["content"] == [text_part("Polled.")]


def test_create_thread_and_run_without_a_thread(client, upstream, assistant):
    run = client.beta.threads.create_and_run_poll(assistant_id=assistant.id, poll_interval_ms=POLL)

    assert run.status == "completed"
    assert chat(upstream.requests[0]) == []


# --- list, retrieve, modify -----------------------------------------------------------------------


def test_list_runs_pagination_and_order(client, upstream, assistant, thread):
    runs = [run_and_wait(client, thread.id, assistant.id).id for _ in range(3)]

    page = client.beta.threads.runs.list(thread.id, limit=2)
    assert [r.id for r in page.data] == runs[::-1][:2]
    assert page.has_more is True
    rest = client.beta.threads.runs.list(thread.id, limit=2, after=page.data[-1].id)
    assert [r.id for r in rest.data] == [runs[0]]
    assert rest.has_more is False

    ascending = client.beta.threads.runs.list(thread.id, order="asc")
    assert [r.id for r in ascending.data] == runs
    assert ascending.has_more is False
    assert [r.id for r in client.beta.threads.runs.list(thread.id, limit=1)] == runs[::-1]
    before = client.beta.threads.runs.list(thread.id, order="asc", before=runs[2])
    assert [r.id for r in before.data] == runs[:2]


def test_retrieve_and_modify(client, upstream, assistant, thread):
    run = run_and_wait(client, thread.id, assistant.id, metadata={"keep": "1"})

    retrieved = client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
    assert retrieved == run
    modified = client.beta.threads.runs.update(
        run.id, thread_id=thread.id, metadata={"keep": "2", "new": "x"}
    )
    assert modified.metadata == {"keep": "2", "new": "x"}
    assert modified.status == "completed"
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread.id) == modified
    assert wire(modified) == {**wire(run), "metadata": {"keep": "2", "new": "x"}}


def test_unknown_assistant_is_a_404(client, upstream, thread):
    with pytest.raises(openai.NotFoundError) as error:
        client.beta.threads.runs.create(thread.id, assistant_id="asst_doesnotexist")
    assert error.value.param == "assistant_id"
    assert "asst_doesnotexist" in error.value.message
    with pytest.raises(openai.NotFoundError) as error:
        client.beta.threads.create_and_run(assistant_id="asst_doesnotexist")
    assert error.value.param == "assistant_id"
    assert upstream.requests == []


def test_unknown_thread_and_run_are_404s(client, upstream, assistant, thread):
    with pytest.raises(openai.NotFoundError) as error:
        client.beta.threads.runs.create("thread_doesnotexist", assistant_id=assistant.id)
    assert "thread_doesnotexist" in error.value.message
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.list("thread_doesnotexist")
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.retrieve("run_doesnotexist", thread_id=thread.id)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.steps.list("run_doesnotexist", thread_id=thread.id)
    assert upstream.requests == []


# --- polling headers and the one active run per thread --------------------------------------------


def test_active_run_blocks_runs_and_messages_and_sends_poll_after(
    client, upstream, assistant, thread, http
):
    upstream.script(Slow(Text(["Slow reply"]), first_byte_delay=0.6))
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)

    going = http.get(f"/threads/{thread.id}/runs/{run.id}")
    assert going.json()["status"] in ("queued", "in_progress")
    assert int(going.headers["openai-poll-after-ms"]) > 0

    with pytest.raises(openai.BadRequestError) as error:
        client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    assert error.value.status_code == 400
    assert "already has an active run" in error.value.message
    with pytest.raises(openai.BadRequestError) as error:
        say(client, thread.id, "Me too")
    assert error.value.status_code == 400
    assert "Can't add messages to" in error.value.message

    done = client.beta.threads.runs.poll(run.id, thread_id=thread.id, poll_interval_ms=POLL)
    assert done.status == "completed"
    finished = http.get(f"/threads/{thread.id}/runs/{run.id}")
    assert finished.json()["status"] == "completed"
    assert "openai-poll-after-ms" not in finished.headers

    say(client, thread.id, "Now me")
    run_and_wait(client, thread.id, assistant.id)
    assert len(client.beta.threads.runs.list(thread.id).data) == 2


def test_concurrent_creates_on_one_thread_start_one_run(client, upstream, assistant, thread, http):
    # The winner waits for tool outputs, so it stays active however slowly the others arrive.
    upstream.script(ToolCalls([("get_time", "{}")]))
    body = {"assistant_id": assistant.id, "tools": [FUNCTION]}
    with ThreadPoolExecutor(6) as pool:
        responses = list(
            pool.map(lambda _: http.post(f"/threads/{thread.id}/runs", json=body), range(6))
        )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [400] * 5, [r.text for r in responses]
    assert all("already has an active run" in r.text for r in responses if r.status_code == 400)
    [run] = [r.json() for r in responses if r.status_code == 200]
    waiting = client.beta.threads.runs.poll(run["id"], thread_id=thread.id, poll_interval_ms=POLL)
    assert waiting.status == "requires_action"
    assert [r.id for r in client.beta.threads.runs.list(thread.id)] == [run["id"]]
    assert len(upstream.requests) == 1
    client.beta.threads.runs.cancel(run["id"], thread_id=thread.id)


# --- run steps ------------------------------------------------------------------------------------


def test_run_steps_list_and_retrieve(client, upstream, assistant, thread):
    upstream.script(Text(["Step", " text"], usage=(21, 4)))
    run = run_and_wait(client, thread.id, assistant.id)
    [reply] = client.beta.threads.messages.list(thread.id, run_id=run.id).data

    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id)
    assert steps.has_more is False
    [step] = steps.data
    body = wire(step)
    assert step.id.startswith("step_")
    assert body["object"] == "thread.run.step"
    assert body["run_id"] == run.id
    assert body["thread_id"] == thread.id
    assert body["assistant_id"] == assistant.id
    assert body["type"] == "message_creation"
    assert body["status"] == "completed"
    assert body["step_details"] == {
        "type": "message_creation",
        "message_creation": {"message_id": reply.id},
    }
    assert body["usage"] == {"prompt_tokens": 21, "completion_tokens": 4, "total_tokens": 25}
    assert type(body["completed_at"]) is int
    assert body["created_at"] <= body["completed_at"]
    for key in ("last_error", "cancelled_at", "failed_at", "expired_at"):
        assert body[key] is None, key
    assert run.usage is not None
    assert wire(run.usage) == {"prompt_tokens": 21, "completion_tokens": 4, "total_tokens": 25}

    retrieved = client.beta.threads.runs.steps.retrieve(step.id, thread_id=thread.id, run_id=run.id)
    assert retrieved == step
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.steps.retrieve(
            "step_doesnotexist", thread_id=thread.id, run_id=run.id
        )


def test_steps_of_another_run_are_404(client, upstream, assistant, thread):
    first = run_and_wait(client, thread.id, assistant.id)
    say(client, thread.id, "again")
    second = run_and_wait(client, thread.id, assistant.id)
    [step] = client.beta.threads.runs.steps.list(first.id, thread_id=thread.id).data

    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.steps.retrieve(step.id, thread_id=thread.id, run_id=second.id)
    [other] = client.beta.threads.runs.steps.list(second.id, thread_id=thread.id).data
    assert other.id != step.id


# --- cancel ---------------------------------------------------------------------------------------


def test_cancel_of_a_completed_run_is_a_400(client, upstream, assistant, thread):
    run = run_and_wait(client, thread.id, assistant.id)

    with pytest.raises(openai.BadRequestError) as error:
        client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert error.value.status_code == 400
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status == "completed"


# --- the conversation sent to the model -----------------------------------------------------------


def test_previous_turns_are_sent_on_the_next_run(client, upstream, assistant, thread):
    upstream.script(Text(["First", " answer"]), Text(["Second answer"]))
    run_and_wait(client, thread.id, assistant.id)
    say(client, thread.id, "Again")
    run_and_wait(client, thread.id, assistant.id)

    first, second = upstream.requests
    assert first["messages"] == [
        {"role": "system", "content": INSTRUCTIONS},
        {"role": "user", "content": "Hi"},
    ]
    assert second["messages"] == [
        {"role": "system", "content": INSTRUCTIONS},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "First answer"},
        {"role": "user", "content": "Again"},
    ]
