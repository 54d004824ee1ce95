"""Background responses through the official SDK: answered ``queued`` at once, executed on
after the client leaves, polled, cancelled, and their stream kept and resumed from any
``sequence_number`` (docs/responses-design.md §d)."""

import time

import openai
import pytest
from openai import OpenAI

from tests.upstream import Gated, Text

ENDED = ("completed", "failed", "incomplete", "cancelled")


def _wait_for(client: OpenAI, response_id: str, statuses: tuple[str, ...]):
    deadline = time.monotonic() + 20
    while True:
        response = client.responses.retrieve(response_id)
        if response.status in statuses or time.monotonic() > deadline:
            return response
        time.sleep(0.05)


def test_background_is_queued_then_polled_to_completion(client: OpenAI, upstream) -> None:
    gated = Gated(Text(["Hel", "lo", "!"]), after=1)
    upstream.script(gated)
    created = client.responses.create(model="gpt-test", input="Hi", background=True)
    assert created.status == "queued"
    assert created.background is True
    assert created.output == []
    running = _wait_for(client, created.id, ("in_progress",))
    assert running.status == "in_progress"
    gated.gate.set()
    done = _wait_for(client, created.id, ENDED)
    assert done.status == "completed"
    assert done.output_text == "Hello!"
    assert done.usage is not None and done.usage.total_tokens == 15


def test_background_needs_store(client: OpenAI, upstream) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(model="gpt-test", input="Hi", background=True, store=False)
    error = raised.value.body
    assert error["param"] == "background" and error["code"] == "invalid_value"


def test_stream_resumes_after_a_disconnect(client: OpenAI, upstream) -> None:
    gated = Gated(Text(["One", " two", " three", " four"]), after=2)
    upstream.script(gated)
    stream = client.responses.create(model="gpt-test", input="Hi", background=True, stream=True)
    seen = []
    for event in stream:
        seen.append(event)
        if event.type == "response.output_text.delta":
            break
    stream.close()  # the client leaves; the response goes on
    assert [e.type for e in seen[:3]] == [
        "response.created",
        "response.queued",
        "response.in_progress",
    ]
    assert seen[0].response.status == "queued"
    assert [e.sequence_number for e in seen] == list(range(len(seen)))
    response_id = seen[0].response.id
    last = seen[-1].sequence_number
    gated.gate.set()

    with client.responses.stream(response_id=response_id, starting_after=last) as resumed:
        rest = list(resumed)
        final = resumed.get_final_response()
    assert [e.sequence_number for e in rest] == list(range(last + 1, last + 1 + len(rest)))
    assert rest[-1].type == "response.completed"
    assert final.output_text == "One two three four"
    assert final.status == "completed"

    # The server honours starting_after itself too, and a replay from the start is whole.
    raw = client.responses.retrieve(response_id, stream=True, starting_after=last)
    numbers = [event.sequence_number for event in raw]
    assert numbers == [e.sequence_number for e in rest]
    replay = list(client.responses.retrieve(response_id, stream=True))
    assert [e.sequence_number for e in replay] == list(range(rest[-1].sequence_number + 1))
    assert replay[0].type == "response.created"


def test_cancel_a_background_response(client: OpenAI, upstream) -> None:
    gated = Gated(Text(["Never", " finished"]), after=1)
    upstream.script(gated)
    created = client.responses.create(model="gpt-test", input="Hi", background=True)
    _wait_for(client, created.id, ("in_progress",))
    cancelled = client.responses.cancel(created.id)
    gated.gate.set()
    assert cancelled.id == created.id
    assert cancelled.status == "cancelled"
    assert client.responses.retrieve(created.id).status == "cancelled"
    assert client.responses.cancel(created.id).status == "cancelled"  # idempotent
    # Its kept stream closes at the cancel (no event tells it).
    replay = list(client.responses.retrieve(created.id, stream=True))
    assert replay[0].type == "response.created"
    assert all(e.type not in ("response.completed", "response.failed") for e in replay)


def test_stream_replay_of_a_synchronous_response_is_refused(client: OpenAI, upstream) -> None:
    upstream.script(Text(["Hi"]))
    response = client.responses.create(model="gpt-test", input="Hi")
    with pytest.raises(openai.BadRequestError) as raised:
        list(client.responses.retrieve(response.id, stream=True))
    assert raised.value.body["param"] == "stream"
    assert "background=true" in raised.value.body["message"]
