"""Streamed runs (spec §6.1-6.3, §6.7): the SDK helpers' event order, the text deltas, the raw
SSE wire format, create-thread-and-run streams, the low-level ``stream=True`` iterator, the final
run of a stream against a later retrieve, and the streams of runs that fail, run out of budget or
are cancelled."""

import json
from typing import Any

import openai
import pytest
from openai import AssistantEventHandler, OpenAI
from openai.types.beta import AssistantStreamEvent
from openai.types.beta.assistant_stream_event import (
    ThreadCreated,
    ThreadMessageCompleted,
    ThreadMessageCreated,
    ThreadMessageDelta,
    ThreadRunCompleted,
    ThreadRunCreated,
    ThreadRunStepCompleted,
)
from typing_extensions import override

from tests.upstream import Broken, Fail, Slow, Text

INSTRUCTIONS = "You are terse."
CHUNKS = ["Hello", " to", " you", "!"]


def text_events(deltas: int) -> list[str]:
    """Spec §6.3: the events of a run that answers with one streamed text message."""
    return [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.message.created",
        "thread.message.in_progress",
        *["thread.message.delta"] * deltas,
        "thread.message.completed",
        "thread.run.step.completed",
        "thread.run.completed",
    ]


class Recorder(AssistantEventHandler):
    """Records every event the SDK hands to the handler, as it arrived (the SDK goes on to merge
    later deltas into the objects it passed)."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[AssistantStreamEvent] = []

    @override
    def on_event(self, event: AssistantStreamEvent) -> None:
        self.events.append(event.model_copy(deep=True))

    @property
    def names(self) -> list[str]:
        return [event.event for event in self.events]


def sse(text: str) -> list[tuple[str, str]]:
    """(event, data) of each server-sent event; every event must have both lines exactly once."""
    events = []
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        fields = [line.split(": ", 1) for line in lines]
        assert [name for name, _ in fields] == ["event", "data"], block
        events.append((fields[0][1], fields[1][1]))
    return events


@pytest.fixture
def assistant(client: OpenAI) -> Any:
    return client.beta.assistants.create(model="gpt-test", instructions=INSTRUCTIONS)


@pytest.fixture
def thread(client: OpenAI) -> Any:
    return client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])


def test_stream_event_order(client, upstream, assistant, thread):
    upstream.script(Text(CHUNKS))
    recorder = Recorder()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=recorder
    ) as stream:
        stream.until_done()

    assert recorder.names == text_events(len(CHUNKS))
    run_events = [e.data for e in recorder.events if e.event.startswith("thread.run.")]
    runs = [e for e in run_events if e.object == "thread.run"]
    assert {run.id for run in runs} == {runs[0].id}
    assert [run.status for run in runs] == ["queued", "queued", "in_progress", "completed"]
    created = runs[0]
    assert created.started_at is None
    assert created.usage is None
    assert created.expires_at == created.created_at + 600
    assert runs[2].started_at is not None
    assert runs[3].completed_at is not None and runs[3].usage is not None

    step_created, message_created = recorder.events[3].data, recorder.events[5].data
    assert step_created.type == "message_creation"
    assert step_created.status == "in_progress"
    assert step_created.usage is None
    assert step_created.step_details.to_dict() == {
        "type": "message_creation",
        "message_creation": {"message_id": message_created.id},
    }
    assert message_created.status == "in_progress"
    assert message_created.role == "assistant"
    assert message_created.content == []
    assert message_created.run_id == created.id
    assert message_created.assistant_id == assistant.id

    completed = recorder.events[-3].data
    assert completed.status == "completed"
    assert completed.completed_at is not None
    assert completed.content[0].to_dict() == {
        "type": "text",
        "text": {"value": "".join(CHUNKS), "annotations": []},
    }
    step_done = recorder.events[-2].data
    assert step_done.id == step_created.id
    assert step_done.status == "completed"
    assert step_done.usage is not None and step_done.usage.total_tokens == 15

    assert stream.get_final_run().status == "completed"
    [message] = stream.get_final_messages()
    assert message.id == message_created.id
    [step] = stream.get_final_run_steps()
    assert step.id == step_created.id


def test_text_deltas_concatenate_to_the_full_text(client, upstream, assistant, thread):
    upstream.script(Text(CHUNKS))
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id) as stream:
        deltas = list(stream.text_deltas)

    assert deltas == CHUNKS
    [reply] = client.beta.threads.messages.list(thread.id, run_id=stream.get_final_run().id).data
    assert reply.content[0].text.value == "".join(CHUNKS)


def test_an_empty_answer_streams_an_empty_message(client, upstream, assistant, thread):
    upstream.script(Text([]))
    recorder = Recorder()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=recorder
    ) as stream:
        stream.until_done()

    assert recorder.names == text_events(0)
    empty = {"type": "text", "text": {"value": "", "annotations": []}}
    completed = recorder.events[-3].data
    assert completed.status == "completed"
    assert [part.to_dict() for part in completed.content] == [empty]
    [message] = stream.get_final_messages()
    assert message.content[0].text.value == ""
    # What the stream said is what is stored.
    newest = client.beta.threads.messages.list(thread.id).data[0]
    assert newest.role == "assistant"
    assert newest.run_id == stream.get_final_run().id
    assert newest.to_dict() == completed.to_dict()
    [step] = client.beta.threads.runs.steps.list(newest.run_id, thread_id=thread.id).data
    assert step.type == "message_creation"
    assert step.status == "completed"
    assert step.step_details.message_creation.message_id == newest.id


def test_raw_sse_wire_format(http, upstream, assistant, thread):
    upstream.script(Text(CHUNKS))
    body = {"assistant_id": assistant.id, "stream": True}
    with http.stream("POST", f"/threads/{thread.id}/runs", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.read().decode()

    assert raw.endswith("event: done\ndata: [DONE]\n\n")
    events = sse(raw)
    assert [name for name, _ in events] == [*text_events(len(CHUNKS)), "done"]
    assert events[-1] == ("done", "[DONE]")
    payloads = [json.loads(data) for _, data in events[:-1]]
    message_id = payloads[5]["id"]
    deltas = [p for (name, _), p in zip(events, payloads, strict=False) if name.endswith("delta")]
    assert deltas[0] == {
        "id": message_id,
        "object": "thread.message.delta",
        "delta": {
            "content": [
                {"index": 0, "type": "text", "text": {"value": CHUNKS[0], "annotations": []}}
            ]
        },
    }
    for delta, chunk in zip(deltas[1:], CHUNKS[1:], strict=True):
        assert delta == {
            "id": message_id,
            "object": "thread.message.delta",
            "delta": {"content": [{"index": 0, "type": "text", "text": {"value": chunk}}]},
        }
    objects = [p["object"] for p in payloads]
    assert objects[:3] == ["thread.run"] * 3
    assert objects[-1] == "thread.run"
    assert payloads[-1]["status"] == "completed"


def test_create_and_run_stream_starts_with_thread_created(client, upstream, assistant):
    upstream.script(Text(CHUNKS))
    recorder = Recorder()
    with client.beta.threads.create_and_run_stream(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "Hello?"}]},
        event_handler=recorder,
    ) as stream:
        stream.until_done()

    assert recorder.names == ["thread.created", *text_events(len(CHUNKS))]
    thread = recorder.events[0].data
    run = stream.get_final_run()
    assert thread.id == run.thread_id
    assert client.beta.threads.retrieve(thread.id) == thread
    assert [m["content"] for m in upstream.requests[0]["messages"]] == [INSTRUCTIONS, "Hello?"]


def test_low_level_stream_yields_typed_events(client, upstream, assistant, thread):
    upstream.script(Text(CHUNKS))
    stream = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id, stream=True)
    with stream:
        events = list(stream)

    assert [event.event for event in events] == text_events(len(CHUNKS))
    assert isinstance(events[0], ThreadRunCreated)
    assert isinstance(events[5], ThreadMessageCreated)
    assert all(isinstance(event, ThreadMessageDelta) for event in events[7:-3])
    assert isinstance(events[-3], ThreadMessageCompleted)
    assert isinstance(events[-2], ThreadRunStepCompleted)
    assert isinstance(events[-1], ThreadRunCompleted)
    text = "".join(e.data.delta.content[0].text.value for e in events[7:-3])
    assert text == "".join(CHUNKS)


def test_low_level_create_and_run_stream(client, upstream, assistant):
    stream = client.beta.threads.create_and_run(assistant_id=assistant.id, stream=True)
    with stream:
        events = list(stream)

    assert isinstance(events[0], ThreadCreated)
    assert [event.event for event in events][1:] == text_events(2)


def test_stream_final_run_equals_a_later_retrieve(client, upstream, assistant, thread):
    upstream.script(Text(CHUNKS, usage=(33, 7)))
    recorder = Recorder()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=recorder
    ) as stream:
        stream.until_done()
        final = stream.get_final_run()
        [message] = stream.get_final_messages()
    # Python keeps the step snapshot of step.created; the completed step is the event's.
    [step] = [e.data for e in recorder.events if e.event == "thread.run.step.completed"]

    assert final.status == "completed"
    assert final.usage is not None and final.usage.to_dict() == {
        "prompt_tokens": 33,
        "completion_tokens": 7,
        "total_tokens": 40,
    }
    assert client.beta.threads.runs.retrieve(final.id, thread_id=thread.id) == final
    assert client.beta.threads.messages.retrieve(message.id, thread_id=thread.id) == message
    retrieved = client.beta.threads.runs.steps.retrieve(
        step.id, thread_id=thread.id, run_id=final.id
    )
    assert retrieved == step


def test_stream_validation_errors_are_plain_json(client, http, upstream, assistant, thread):
    response = http.post(
        f"/threads/{thread.id}/runs", json={"assistant_id": "asst_nope", "stream": True}
    )
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["param"] == "assistant_id"
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.stream(thread_id=thread.id, assistant_id="asst_nope").__enter__()
    assert upstream.requests == []


# --- other endings (spec §6.7) --------------------------------------------------------------------


def stream_events(client: OpenAI, thread_id: str, assistant_id: str, **params: Any) -> list[Any]:
    with client.beta.threads.runs.create(
        thread_id, assistant_id=assistant_id, stream=True, **params
    ) as stream:
        return list(stream)


def test_upstream_failure_mid_message(client, upstream, assistant, thread):
    upstream.script(Broken(["Part", "ial"], mode="eof"))
    events = stream_events(client, thread.id, assistant.id)

    names = [event.event for event in events]
    assert names == [
        *text_events(2)[:-3],
        "thread.run.step.failed",
        "thread.message.incomplete",
        "thread.run.failed",
    ]
    step, message, run = (event.data for event in events[-3:])
    assert step.status == "failed"
    assert step.last_error is not None and step.last_error.code == "server_error"
    assert step.failed_at is not None
    assert message.status == "incomplete"
    assert message.incomplete_details is not None
    assert message.incomplete_details.reason == "run_failed"
    assert run.status == "failed"
    assert run.last_error is not None and run.last_error.code == "server_error"
    assert run.failed_at is not None
    assert run.expires_at is None
    stored = client.beta.threads.messages.retrieve(message.id, thread_id=thread.id)
    assert stored.status == "incomplete"
    assert stored.content[0].text.value == "Partial"
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread.id) == run


def test_upstream_rejection_before_output(client, upstream, assistant, thread):
    upstream.script(Fail(400))
    events = stream_events(client, thread.id, assistant.id)

    assert [event.event for event in events] == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.failed",
    ]
    run = events[-1].data
    assert run.last_error is not None and run.last_error.code == "invalid_prompt"
    assert client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data == []


def test_completion_budget_reached(client, upstream, assistant, thread):
    upstream.script(Text(["Long", " answer"], finish_reason="length"))
    events = stream_events(client, thread.id, assistant.id, max_completion_tokens=256)

    names = [event.event for event in events]
    assert names[: len(text_events(2)) - 3] == text_events(2)[:-3]
    assert names[-1] == "thread.run.incomplete"
    assert "thread.message.incomplete" in names
    assert "thread.message.completed" not in names
    run = events[-1].data
    assert run.incomplete_details is not None
    assert run.incomplete_details.reason == "max_completion_tokens"
    [message] = [e.data for e in events if e.event == "thread.message.incomplete"]
    assert message.incomplete_details is not None
    assert message.incomplete_details.reason == "max_tokens"
    assert message.content[0].text.value == "Long answer"


def test_cancel_during_a_stream(client, upstream, assistant, thread):
    upstream.script(Slow(Text(["one", " two", " three", " four"]), chunk_delay=0.3))
    names: list[str] = []
    events = []
    cancelled = None
    with client.beta.threads.runs.create(
        thread.id, assistant_id=assistant.id, stream=True
    ) as stream:
        for event in stream:
            names.append(event.event)
            events.append(event)
            if event.event == "thread.message.delta" and cancelled is None:
                run_id = events[0].data.id
                cancelled = client.beta.threads.runs.cancel(run_id, thread_id=thread.id)

    assert cancelled is not None
    assert cancelled.status in ("cancelling", "cancelled")
    assert names[:8] == text_events(1)[:8]
    # (a later delta may still get out before the cancel lands)
    assert [name for name in names[8:] if name != "thread.message.delta"] == [
        "thread.run.cancelling",
        "thread.run.step.cancelled",
        "thread.message.incomplete",
        "thread.run.cancelled",
    ]
    run = events[-1].data
    assert run.status == "cancelled"
    assert run.cancelled_at is not None
    message = events[-2].data
    assert message.incomplete_details is not None
    assert message.incomplete_details.reason == "run_cancelled"
    assert message.content[0].text.value.startswith("one")
    [step] = [e.data for e in events if e.event == "thread.run.step.cancelled"]
    assert step.cancelled_at is not None
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status == "cancelled"
    client.beta.threads.messages.create(thread.id, role="user", content="Thread is free")


def test_a_message_read_mid_stream_has_its_text_so_far(client, upstream, assistant, thread):
    """The text of a message being written is stored at most a second apart while it streams:
    read mid-stream, the message shows (a prefix of) what was streamed, not an empty content."""
    words = ["one", " two", " three", " four", " five", " six"]
    upstream.script(Slow(Text(words), chunk_delay=0.4))
    seen = ""
    middle = None
    with client.beta.threads.runs.create(
        thread.id, assistant_id=assistant.id, stream=True
    ) as stream:
        for event in stream:
            if event.event == "thread.message.delta":
                seen += event.data.delta.content[0].text.value
                if seen == "".join(words[:5]):  # 1.6 s in: the text was stored at 1.2 s
                    middle = client.beta.threads.messages.retrieve(
                        event.data.id, thread_id=thread.id
                    )
    assert middle is not None and middle.status == "in_progress", middle
    stored = middle.content[0].text.value
    assert stored and seen.startswith(stored), stored
    final = client.beta.threads.messages.retrieve(middle.id, thread_id=thread.id)
    assert final.status == "completed" and final.content[0].text.value == "".join(words)
