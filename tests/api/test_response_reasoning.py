"""Reasoning through the official SDK: an upstream that streams ``reasoning_content`` gives a
response a ``reasoning`` output item (streamed as ``response.reasoning_text.*``), kept for
retrieve and sent back to the same model in later turns (another model's reasoning is not
sent: tests/unit/test_reasoning_context.py)."""

from openai import OpenAI

from tests.api.test_responses import WEATHER
from tests.upstream import Text, ToolCalls


def test_reasoning_is_an_output_item_kept_and_sent_back(client: OpenAI, upstream) -> None:
    upstream.script(Text(["Four."], reasoning=["Two and ", "two make four."]), Text(["Five."]))
    first = client.responses.create(model="gpt-test", input="2+2?", reasoning={"effort": "high"})
    assert upstream.requests[-1]["reasoning_effort"] == "high"
    assert first.reasoning is not None and first.reasoning.effort == "high"
    assert [item.type for item in first.output] == ["reasoning", "message"]
    thought = first.output[0]
    assert thought.type == "reasoning" and thought.id.startswith("rs_")
    assert thought.summary == [] and thought.status == "completed"
    assert thought.content is not None
    assert [(part.type, part.text) for part in thought.content] == [
        ("reasoning_text", "Two and two make four.")
    ]
    assert first.output_text == "Four."

    again = client.responses.retrieve(first.id)
    assert again.model_dump()["output"] == first.model_dump()["output"]

    second = client.responses.create(model="gpt-test", input="+1?", previous_response_id=first.id)
    assert second.output_text == "Five."
    assert upstream.requests[-1]["messages"] == [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "Four.", "reasoning_content": "Two and two make four."},
        {"role": "user", "content": "+1?"},
    ]


def test_a_conversation_keeps_the_reasoning(client: OpenAI, upstream) -> None:
    upstream.script(Text(["Four."], reasoning=["Easy."]), Text(["Five."]))
    conversation = client.conversations.create()
    first = client.responses.create(model="gpt-test", input="2+2?", conversation=conversation.id)
    items = client.conversations.items.list(conversation.id, order="asc").data
    assert [item.type for item in items] == ["message", "reasoning", "message"]
    assert items[1].id == first.output[0].id
    client.responses.create(model="gpt-test", input="+1?", conversation=conversation.id)
    assert upstream.requests[-1]["messages"][1] == {
        "role": "assistant",
        "content": "Four.",
        "reasoning_content": "Easy.",
    }


def test_reasoning_streams_in_order(client: OpenAI, upstream) -> None:
    upstream.script(Text(["Yes."], reasoning=["Hm", "m."]))
    with client.responses.stream(model="gpt-test", input="Sure?") as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert [event.type for event in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.reasoning_text.delta",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    numbers = [event.sequence_number for event in events]
    assert numbers == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.reasoning_text.delta"]
    assert deltas == ["Hm", "m."]
    done = next(e for e in events if e.type == "response.reasoning_text.done")
    assert done.text == "Hmm." and done.output_index == 0
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert (
        client.responses.retrieve(final.id).output[0].model_dump() == final.output[0].model_dump()
    )


def test_reasoning_before_calls_goes_back_with_the_calls(client: OpenAI, upstream) -> None:
    upstream.script(
        ToolCalls([("get_weather", '{"city": "Paris"}')], reasoning=["Need the weather."]),
        Text(["Sunny."]),
    )
    first = client.responses.create(model="gpt-test", input="Weather?", tools=[WEATHER])
    assert [item.type for item in first.output] == ["reasoning", "function_call"]
    call = first.output[1]
    assert call.type == "function_call"
    client.responses.create(
        model="gpt-test",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        tools=[WEATHER],
    )
    sent = upstream.requests[-1]["messages"]
    assert sent[1]["role"] == "assistant" and sent[1]["tool_calls"]
    assert sent[1]["reasoning_content"] == "Need the weather."


def test_an_assistants_run_ignores_reasoning(client: OpenAI, upstream) -> None:
    upstream.script(Text(["Hi."], reasoning=["Private."]))
    assistant = client.beta.assistants.create(model="gpt-test")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hello"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed"
    messages = client.beta.threads.messages.list(thread_id=thread.id, order="asc").data
    assert [m.role for m in messages] == ["user", "assistant"]
    steps = client.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id).data
    assert [s.type for s in steps] == ["message_creation"]
