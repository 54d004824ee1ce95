"""Function calling (spec §6.4, §9): requires_action and its tool calls, the tool_calls step while
waiting, streamed step deltas, submitting outputs (polled and streamed), what the model is sent
next, several rounds, text before calls, submit errors, cancel while waiting, and model output
that must fail the run instead of asking the client."""

import json
from typing import Any

import openai
import pytest
from openai import AssistantEventHandler, OpenAI
from openai.types.beta import AssistantStreamEvent
from typing_extensions import override

from tests.upstream import Text, ToolCalls

POLL = 20
INSTRUCTIONS = "Use the tools."
WEATHER_ARGS = '{"city": "Paris", "unit": "celsius"}'
TIME_ARGS = '{"tz": "Europe/Paris"}'
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}},
]


class Recorder(AssistantEventHandler):
    """Records every event as it arrived (the SDK merges later deltas into what it passed)."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[AssistantStreamEvent] = []

    @override
    def on_event(self, event: AssistantStreamEvent) -> None:
        self.events.append(event.model_copy(deep=True))

    @property
    def names(self) -> list[str]:
        return [event.event for event in self.events]

    def of(self, name: str) -> list[Any]:
        return [event.data for event in self.events if event.event == name]


def wire(value: Any) -> Any:
    return value.to_dict() if isinstance(value, openai.BaseModel) else value


def calls_of(run: Any) -> list[Any]:
    assert run.status == "requires_action", wire(run)
    assert run.required_action is not None
    assert run.required_action.type == "submit_tool_outputs"
    return list(run.required_action.submit_tool_outputs.tool_calls)


def outputs_for(calls: list[Any]) -> list[dict[str, str]]:
    return [
        {"tool_call_id": call.id, "output": f"result of {call.function.name}"} for call in calls
    ]


@pytest.fixture
def assistant(client: OpenAI) -> Any:
    return client.beta.assistants.create(model="gpt-test", instructions=INSTRUCTIONS, tools=TOOLS)


@pytest.fixture
def thread(client: OpenAI) -> Any:
    return client.beta.threads.create(messages=[{"role": "user", "content": "Weather and time?"}])


def start(client: OpenAI, thread_id: str, assistant_id: str, **params: Any) -> Any:
    return client.beta.threads.runs.create_and_poll(
        thread_id=thread_id, assistant_id=assistant_id, poll_interval_ms=POLL, **params
    )


def submit(client: OpenAI, run: Any, outputs: list[dict[str, str]]) -> Any:
    return client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=run.thread_id, tool_outputs=outputs, poll_interval_ms=POLL
    )


def test_parallel_calls_require_action(client, upstream, assistant, thread):
    upstream.script(ToolCalls([("get_weather", WEATHER_ARGS), ("get_time", TIME_ARGS)]))
    run = start(client, thread.id, assistant.id)

    calls = calls_of(run)
    assert [(c.type, c.function.name, c.function.arguments) for c in calls] == [
        ("function", "get_weather", WEATHER_ARGS),
        ("function", "get_time", TIME_ARGS),
    ]
    assert len({call.id for call in calls}) == 2
    assert all(call.id for call in calls)
    body = wire(run)
    assert body["usage"] == {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    assert body["completed_at"] is None
    assert type(body["expires_at"]) is int
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread.id) == run

    [step] = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert step.type == "tool_calls"
    assert step.status == "in_progress"
    assert step.completed_at is None
    assert wire(step.step_details) == {
        "type": "tool_calls",
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": call.function.name,
                    "arguments": call.function.arguments,
                    "output": None,
                },
            }
            for call in calls
        ],
    }
    [request] = upstream.requests
    assert [tool["function"]["name"] for tool in request["tools"]] == ["get_weather", "get_time"]
    assert request["tool_choice"] == "auto"
    assert request["parallel_tool_calls"] is True
    # Nothing was written to the thread for a turn without text.
    assert [m.role for m in client.beta.threads.messages.list(thread.id).data] == ["user"]
    client.beta.threads.runs.cancel(run.id, thread_id=thread.id)


def test_submit_tool_outputs_and_poll(client, upstream, assistant, thread):
    upstream.script(
        ToolCalls([("get_weather", WEATHER_ARGS), ("get_time", TIME_ARGS)]),
        Text(["Sunny", " at noon."]),
    )
    run = start(client, thread.id, assistant.id)
    calls = calls_of(run)

    done = submit(client, run, outputs_for(calls))

    assert done.status == "completed"
    assert done.required_action is None
    assert wire(done)["usage"] == {
        "prompt_tokens": 20,
        "completion_tokens": 10,
        "total_tokens": 30,
    }
    tool_step, message_step = client.beta.threads.runs.steps.list(
        run.id, thread_id=thread.id, order="asc"
    ).data
    assert tool_step.status == "completed"
    assert tool_step.completed_at is not None
    assert [
        (c.id, c.function.name, c.function.arguments, c.function.output)
        for c in tool_step.step_details.tool_calls
    ] == [
        (calls[0].id, "get_weather", WEATHER_ARGS, "result of get_weather"),
        (calls[1].id, "get_time", TIME_ARGS, "result of get_time"),
    ]
    assert tool_step.usage is not None
    assert message_step.type == "message_creation"
    assert message_step.status == "completed"
    [reply] = client.beta.threads.messages.list(thread.id, run_id=run.id).data
    assert reply.content[0].text.value == "Sunny at noon."
    assert message_step.step_details.message_creation.message_id == reply.id

    first, second = upstream.requests
    assert second["messages"][: len(first["messages"])] == first["messages"]
    assert second["messages"][len(first["messages"]) :] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                }
                for call in calls
            ],
        },
        {"role": "tool", "tool_call_id": calls[0].id, "content": "result of get_weather"},
        {"role": "tool", "tool_call_id": calls[1].id, "content": "result of get_time"},
    ]


def test_non_streaming_submit_returns_the_queued_run(client, upstream, assistant, thread):
    upstream.script(ToolCalls([("get_time", TIME_ARGS)]))
    run = start(client, thread.id, assistant.id)

    queued = client.beta.threads.runs.submit_tool_outputs(
        run.id, thread_id=thread.id, tool_outputs=outputs_for(calls_of(run))
    )
    assert queued.status == "queued"
    assert queued.required_action is None
    done = client.beta.threads.runs.poll(run.id, thread_id=thread.id, poll_interval_ms=POLL)
    assert done.status == "completed"


def test_streamed_tool_calls_and_submit_stream(client, upstream, assistant, thread):
    upstream.script(
        ToolCalls([("get_weather", WEATHER_ARGS), ("get_time", TIME_ARGS)], split=3),
        Text(["All", " done"]),
    )
    recorder = Recorder()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=recorder
    ) as stream:
        stream.until_done()
    run = stream.get_final_run()
    calls = calls_of(run)

    names = recorder.names
    assert names[:5] == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.step.created",
        "thread.run.step.in_progress",
    ]
    assert set(names[5:-1]) == {"thread.run.step.delta"}
    assert names[-1] == "thread.run.requires_action"
    assert "thread.run.step.completed" not in names
    [step] = recorder.of("thread.run.step.created")
    assert wire(step.step_details) == {"type": "tool_calls", "tool_calls": []}
    assert step.status == "in_progress"

    seen: dict[int, list[dict[str, Any]]] = {}
    for delta in recorder.of("thread.run.step.delta"):
        assert delta.id == step.id
        assert delta.object == "thread.run.step.delta"
        details = wire(delta.delta.step_details)
        assert details["type"] == "tool_calls"
        for call in details["tool_calls"]:
            seen.setdefault(call["index"], []).append(call)
    assert sorted(seen) == [0, 1]
    for index, call in enumerate(calls):
        first, *rest = seen[index]
        assert first["id"] == call.id
        assert first["type"] == "function"
        assert first["function"] == {"name": call.function.name, "arguments": "", "output": None}
        assert rest, "the arguments arrive in later deltas"
        for piece in rest:
            assert set(piece) <= {"index", "type", "function"}
            assert set(piece["function"]) == {"arguments"}
        arguments = "".join(p["function"].get("arguments", "") for p in seen[index])
        assert arguments == call.function.arguments
    # The SDK's merged snapshot is intact (no repeated ids or names).
    [snapshot] = stream.get_final_run_steps()
    assert [(c.id, c.function.name) for c in snapshot.step_details.tool_calls] == [
        (c.id, c.function.name) for c in calls
    ]

    after = Recorder()
    with client.beta.threads.runs.submit_tool_outputs_stream(
        run_id=run.id, thread_id=thread.id, tool_outputs=outputs_for(calls), event_handler=after
    ) as second:
        second.until_done()

    assert after.names == [
        "thread.run.step.completed",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.message.created",
        "thread.message.in_progress",
        "thread.message.delta",
        "thread.message.delta",
        "thread.message.completed",
        "thread.run.step.completed",
        "thread.run.completed",
    ]
    completed_step = after.events[0].data
    assert completed_step.id == step.id
    assert completed_step.status == "completed"
    assert completed_step.usage is not None
    assert [c.function.output for c in completed_step.step_details.tool_calls] == [
        "result of get_weather",
        "result of get_time",
    ]
    queued = after.events[1].data
    assert queued.status == "queued"
    assert queued.required_action is None
    final = second.get_final_run()
    assert final.status == "completed"
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread.id) == final


def test_raw_stream_ends_at_requires_action(http, upstream, assistant, thread):
    upstream.script(ToolCalls([("get_time", TIME_ARGS)]))
    body = {"assistant_id": assistant.id, "stream": True}
    with http.stream("POST", f"/threads/{thread.id}/runs", json=body) as response:
        raw = response.read().decode()

    blocks = [block for block in raw.split("\n\n") if block and not block.startswith(":")]
    assert blocks[-2].startswith("event: thread.run.requires_action\ndata: {")
    assert blocks[-1] == "event: done\ndata: [DONE]"
    assert raw.endswith("\n\n")
    run = json.loads(blocks[-2].split("data: ", 1)[1])
    http.post(f"/threads/{thread.id}/runs/{run['id']}/cancel")


def test_several_rounds_in_one_run(client, upstream, assistant, thread):
    upstream.script(
        ToolCalls([("get_weather", WEATHER_ARGS)]),
        ToolCalls([("get_time", TIME_ARGS)]),
        Text(["Finally."]),
    )
    run = start(client, thread.id, assistant.id)
    [first_call] = calls_of(run)
    assert first_call.function.name == "get_weather"

    run = submit(client, run, outputs_for([first_call]))
    [second_call] = calls_of(run)
    assert second_call.function.name == "get_time"
    assert second_call.id != first_call.id

    run = submit(client, run, outputs_for([second_call]))
    assert run.status == "completed"
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [(s.type, s.status) for s in steps] == [
        ("tool_calls", "completed"),
        ("tool_calls", "completed"),
        ("message_creation", "completed"),
    ]
    assert len(client.beta.threads.runs.list(thread.id).data) == 1

    third = upstream.requests[2]["messages"]
    roles = ["system", "user", "assistant", "tool", "assistant", "tool"]
    assert [m["role"] for m in third] == roles
    assert third[2]["tool_calls"][0]["id"] == first_call.id
    assert third[3] == {
        "role": "tool",
        "tool_call_id": first_call.id,
        "content": "result of get_weather",
    }
    assert third[4]["tool_calls"][0]["id"] == second_call.id
    assert third[5]["tool_call_id"] == second_call.id


def test_completion_budget_spans_the_turns_of_a_run(client, upstream, assistant, thread):
    upstream.script(ToolCalls([("get_time", TIME_ARGS)], usage=(40, 6)), Text(["ok"]))
    run = start(client, thread.id, assistant.id, max_completion_tokens=300)
    done = submit(client, run, outputs_for(calls_of(run)))

    assert done.status == "completed"
    first, second = upstream.requests
    assert first["max_tokens"] == 300
    assert second["max_tokens"] == 294
    assert wire(done)["usage"] == {"prompt_tokens": 50, "completion_tokens": 11, "total_tokens": 61}


def test_text_then_tool_calls_in_one_turn(client, upstream, assistant, thread):
    upstream.script(
        ToolCalls([("get_weather", WEATHER_ARGS)], text=["Let me ", "check."]),
        Text(["Sunny."]),
    )
    recorder = Recorder()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=recorder
    ) as stream:
        stream.until_done()
    run = stream.get_final_run()
    calls = calls_of(run)

    names = recorder.names
    assert names[:11] == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.message.created",
        "thread.message.in_progress",
        "thread.message.delta",
        "thread.message.delta",
        "thread.message.completed",
        "thread.run.step.completed",
    ]
    assert names[11:13] == ["thread.run.step.created", "thread.run.step.in_progress"]
    assert names[-1] == "thread.run.requires_action"
    assert names.count("thread.message.completed") == 1  # closed once, before the calls
    message_step, tool_step = recorder.of("thread.run.step.created")
    assert message_step.type == "message_creation"
    assert tool_step.type == "tool_calls"

    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [(s.id, s.type, s.status) for s in steps] == [
        (message_step.id, "message_creation", "completed"),
        (tool_step.id, "tool_calls", "in_progress"),
    ]
    assert steps[0].completed_at is not None
    [message] = client.beta.threads.messages.list(thread.id, run_id=run.id).data
    assert message.status == "completed"
    assert message.content[0].text.value == "Let me check."

    done = submit(client, run, outputs_for(calls))
    assert done.status == "completed"
    replies = client.beta.threads.messages.list(thread.id, run_id=run.id, order="asc").data
    assert [m.content[0].text.value for m in replies] == ["Let me check.", "Sunny."]


def test_submit_errors(client, upstream, assistant, thread):
    upstream.script(
        ToolCalls([("get_weather", WEATHER_ARGS), ("get_time", TIME_ARGS)]), Text(["ok"])
    )
    run = start(client, thread.id, assistant.id)
    calls = calls_of(run)
    good = outputs_for(calls)
    bad_requests = {
        "missing an output": good[:1],
        "an unknown tool_call_id": [*good, {"tool_call_id": "call_unknown", "output": "x"}],
        "a replaced tool_call_id": [good[0], {"tool_call_id": "call_unknown", "output": "x"}],
        "a duplicate tool_call_id": [*good, good[0]],
        "nothing": [],
    }
    for case, outputs in bad_requests.items():
        with pytest.raises(openai.BadRequestError) as error:
            client.beta.threads.runs.submit_tool_outputs(
                run.id, thread_id=thread.id, tool_outputs=outputs
            )
        assert error.value.status_code == 400, case
        assert client.beta.threads.runs.retrieve(run.id, thread_id=thread.id) == run, case

    done = submit(client, run, good)
    assert done.status == "completed"
    with pytest.raises(openai.BadRequestError) as error:
        client.beta.threads.runs.submit_tool_outputs(run.id, thread_id=thread.id, tool_outputs=good)
    assert error.value.status_code == 400
    assert len(upstream.requests) == 2


def test_submit_to_a_run_that_never_asked_is_a_400(client, upstream, assistant, thread):
    run = start(client, thread.id, assistant.id)
    assert run.status == "completed"

    with pytest.raises(openai.BadRequestError) as error:
        client.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": "call_1", "output": "x"}]
        )
    assert error.value.status_code == 400


def test_cancel_while_requires_action(client, upstream, assistant, thread):
    upstream.script(ToolCalls([("get_weather", WEATHER_ARGS)]))
    run = start(client, thread.id, assistant.id)
    calls_of(run)

    cancelled = client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert cancelled.status == "cancelled"
    assert cancelled.cancelled_at is not None
    assert cancelled.required_action is None
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status == "cancelled"
    [step] = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert step.status == "cancelled"
    assert step.cancelled_at is not None

    with pytest.raises(openai.BadRequestError):
        client.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": "x", "output": "y"}]
        )
    client.beta.threads.messages.create(thread.id, role="user", content="Never mind")
    again = start(client, thread.id, assistant.id)
    assert again.status == "completed"
    assert len(upstream.requests) == 2


@pytest.mark.parametrize(
    "reply",
    [
        ToolCalls([("launch_rockets", "{}")]),
        ToolCalls([("get_weather", '{"city": "Par')]),
        ToolCalls([("get_weather", WEATHER_ARGS), ("get_time", "not json")]),
    ],
    ids=["undeclared-function", "truncated-json", "one-call-invalid"],
)
def test_unusable_tool_calls_fail_the_run(client, upstream, assistant, thread, reply):
    upstream.script(reply)
    recorder = Recorder()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=recorder
    ) as stream:
        stream.until_done()

    run = stream.get_final_run()
    assert run.status == "failed"
    assert run.last_error is not None
    assert run.last_error.code == "server_error"
    assert run.required_action is None
    assert run.failed_at is not None
    assert "thread.run.requires_action" not in recorder.names
    assert recorder.names[-1] == "thread.run.failed"
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status == "failed"
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert all(step.status == "failed" for step in steps)
    # The thread is free again.
    client.beta.threads.messages.create(thread.id, role="user", content="Try again")


def test_named_tool_choice_is_sent_upstream(client, upstream, assistant, thread):
    upstream.script(ToolCalls([("get_time", TIME_ARGS)]))
    choice = {"type": "function", "function": {"name": "get_time"}}
    run = start(client, thread.id, assistant.id, tool_choice=choice)

    assert wire(run)["tool_choice"] == choice
    [call] = calls_of(run)
    assert call.function.name == "get_time"
    [request] = upstream.requests
    assert request["tool_choice"] == {"type": "function", "function": {"name": "get_time"}}
    assert json.loads(call.function.arguments) == {"tz": "Europe/Paris"}
    client.beta.threads.runs.cancel(run.id, thread_id=thread.id)


def test_tools_override_without_functions_sends_no_tools(client, upstream, assistant, thread):
    run = start(client, thread.id, assistant.id, tools=[])

    assert run.status == "completed"
    assert run.tools == []
    assert "tools" not in upstream.requests[0]
