"""Responses on a conversation, through the official SDK: the response runs on the
conversation's thread (a conversation is a thread), its context is the conversation's items,
and its input and output join the conversation when it ends."""

import json
import time

import openai
import pytest
from openai import OpenAI

from tests.upstream import Gated, Text, ToolCalls

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


def listed(client: OpenAI, conversation_id: str) -> list[tuple[str, str]]:
    """The conversation's items, oldest first, as (type, text or call detail)."""
    shown: list[tuple[str, str]] = []
    for item in client.conversations.items.list(conversation_id, order="asc"):
        if item.type == "message":
            text = "".join(getattr(part, "text", "") for part in item.content)
            shown.append((f"{item.role}", text))
        elif item.type == "function_call":
            shown.append(("function_call", item.name))
        elif item.type == "function_call_output":
            shown.append(("function_call_output", str(item.output)))
        else:
            shown.append((item.type, ""))
    return shown


def test_two_turns_on_a_conversation(client: OpenAI, upstream) -> None:
    upstream.script(Text(["One."]), Text(["Two."]))
    conversation = client.conversations.create()
    first = client.responses.create(
        model="gpt-test", conversation=conversation.id, input="1", instructions="Be brief."
    )
    assert first.output_text == "One."
    assert first.conversation is not None and first.conversation.id == conversation.id
    assert listed(client, conversation.id) == [("user", "1"), ("assistant", "One.")]

    second = client.responses.create(
        model="gpt-test", conversation={"id": conversation.id}, input="2"
    )
    assert second.output_text == "Two."
    assert upstream.requests[-1]["messages"] == [  # the response's instructions only
        {"role": "user", "content": "1"},
        {"role": "assistant", "content": "One."},
        {"role": "user", "content": "2"},
    ]
    assert listed(client, conversation.id) == [
        ("user", "1"),
        ("assistant", "One."),
        ("user", "2"),
        ("assistant", "Two."),
    ]
    # The output items are the conversation's, ids unchanged.
    newest = client.conversations.items.list(conversation.id, limit=1)
    assert newest.data[0].id == second.output[0].id


def test_system_and_developer_messages_are_items_sent_in_order(client: OpenAI, upstream) -> None:
    upstream.script(Text(["Ok."]), Text(["Again."]))
    conversation = client.conversations.create()
    client.responses.create(
        model="gpt-test",
        conversation=conversation.id,
        input=[
            {"role": "developer", "content": "Answer in French."},
            {"role": "user", "content": "Hello"},
        ],
    )
    assert upstream.requests[-1]["messages"] == [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Hello"},
    ]
    assert listed(client, conversation.id) == [
        ("developer", "Answer in French."),
        ("user", "Hello"),
        ("assistant", "Ok."),
    ]
    client.responses.create(model="gpt-test", conversation=conversation.id, input="More")
    assert upstream.requests[-1]["messages"][0] == {
        "role": "system",
        "content": "Answer in French.",
    }


def test_a_thread_continued_as_a_conversation_and_back(client: OpenAI, upstream) -> None:
    upstream.script(Text(["From a response."]), Text(["From a run."]))
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi thread"}])
    response = client.responses.create(model="gpt-test", conversation=thread.id, input="And?")
    assert response.output_text == "From a response."
    assert response.conversation is not None and response.conversation.id == thread.id
    assert upstream.requests[-1]["messages"] == [
        {"role": "user", "content": "Hi thread"},
        {"role": "user", "content": "And?"},
    ]
    messages = client.beta.threads.messages.list(thread.id, order="asc")
    texts = [m.content[0].text.value for m in messages]
    assert texts == ["Hi thread", "And?", "From a response."]

    assistant = client.beta.assistants.create(model="gpt-test")
    client.beta.threads.messages.create(thread.id, role="user", content="Last")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed"
    sent = upstream.requests[-1]["messages"]
    assert {"role": "assistant", "content": "From a response."} in sent
    assert sent[-1] == {"role": "user", "content": "Last"}
    newest = client.beta.threads.messages.list(thread.id, limit=1).data[0]
    assert newest.content[0].text.value == "From a run."


def test_a_function_call_round_trip_on_a_conversation(client: OpenAI, upstream) -> None:
    upstream.script(ToolCalls([("get_weather", '{"city": "Paris"}')]), Text(["Sunny."]))
    conversation = client.conversations.create()
    first = client.responses.create(
        model="gpt-test", conversation=conversation.id, input="Weather?", tools=[WEATHER]
    )
    (call,) = first.output
    assert call.type == "function_call"
    assert listed(client, conversation.id) == [
        ("user", "Weather?"),
        ("function_call", "get_weather"),
    ]
    assert client.conversations.items.list(conversation.id, limit=1).data[0].id == call.id

    second = client.responses.create(
        model="gpt-test",
        conversation=conversation.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "21C"}],
        tools=[WEATHER],
    )
    assert second.output_text == "Sunny."
    sent = upstream.requests[-1]["messages"]
    assert sent[0] == {"role": "user", "content": "Weather?"}
    assert sent[1]["tool_calls"][0]["id"] == call.call_id
    assert sent[2] == {"role": "tool", "tool_call_id": call.call_id, "content": "21C"}
    assert len(sent) == 3  # the output is sent once
    assert listed(client, conversation.id) == [
        ("user", "Weather?"),
        ("function_call", "get_weather"),
        ("function_call_output", "21C"),
        ("assistant", "Sunny."),
    ]
    inputs = client.responses.input_items.list(second.id)
    assert [item.type for item in inputs.data] == ["function_call_output"]
    assert inputs.data[0].call_id == call.call_id
    # Pages of one item walk the same sequence, cursors of every kind.
    seen, after = [], None
    while True:
        page = client.conversations.items.list(conversation.id, order="asc", limit=1, after=after)
        seen += [item.type for item in page.data]
        if not page.has_more:
            break
        after = page.data[-1].id
    assert seen == ["message", "function_call", "function_call_output", "message"]


def test_a_stateless_client_sends_its_calls_back(client: OpenAI, upstream) -> None:
    upstream.script(Text(["It is 21C."]))
    response = client.responses.create(
        model="gpt-test",
        input=[
            {"role": "user", "content": "Weather?"},
            {
                "type": "function_call",
                "call_id": "call_mine",
                "name": "get_weather",
                "arguments": json.dumps({"city": "Paris"}),
            },
            {"type": "function_call_output", "call_id": "call_mine", "output": "21C"},
        ],
        tools=[WEATHER],
    )
    assert response.output_text == "It is 21C."
    sent = upstream.requests[-1]["messages"]
    assert sent[0] == {"role": "user", "content": "Weather?"}
    assert sent[1]["role"] == "assistant"
    assert sent[1]["tool_calls"][0]["id"] == "call_mine"
    assert sent[2] == {"role": "tool", "tool_call_id": "call_mine", "content": "21C"}
    kinds = [item.type for item in client.responses.input_items.list(response.id, order="asc")]
    assert kinds == ["message", "function_call", "function_call_output"]

    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(
            model="gpt-test",
            input=[{"type": "function_call_output", "call_id": "call_none", "output": "x"}],
        )
    assert "No tool call found for function call output" in raised.value.message


def test_an_item_reference_is_resolved(client: OpenAI, upstream) -> None:
    upstream.script(Text(["First."]), Text(["Second."]))
    first = client.responses.create(model="gpt-test", input="Remember me")
    (question,) = client.responses.input_items.list(first.id).data
    client.responses.create(
        model="gpt-test",
        input=[
            {"type": "item_reference", "id": question.id},
            {"role": "user", "content": "Again"},
        ],
    )
    assert upstream.requests[-1]["messages"] == [
        {"role": "user", "content": "Remember me"},
        {"role": "user", "content": "Again"},
    ]
    with pytest.raises(openai.NotFoundError) as raised:
        client.responses.create(
            model="gpt-test", input=[{"type": "item_reference", "id": "msg_unknown"}]
        )
    assert raised.value.body["message"] == "Item with id 'msg_unknown' not found."


def test_a_busy_conversation_is_locked_and_its_running_turn_hidden(
    client: OpenAI, upstream
) -> None:
    gated = Gated(Text(["Slow", " answer."]), after=1)
    upstream.script(Text(["Before."]), gated)
    conversation = client.conversations.create()
    client.responses.create(model="gpt-test", conversation=conversation.id, input="Earlier")
    running = client.responses.create(
        model="gpt-test", conversation=conversation.id, input="Now", background=True
    )
    upstream.wait_for_requests(2)
    try:
        with pytest.raises(openai.BadRequestError) as raised:
            client.responses.create(model="gpt-test", conversation=conversation.id, input="x")
        assert raised.value.body["code"] == "conversation_locked"
        assert raised.value.body["message"] == (
            "Another process is currently operating on this conversation. "
            "Please retry in a few seconds."
        )
        # The running response's input and output are not in the conversation yet.
        assert listed(client, conversation.id) == [("user", "Earlier"), ("assistant", "Before.")]
    finally:
        gated.gate.set()
    while client.responses.retrieve(running.id).status not in ("completed", "failed"):
        time.sleep(0.05)
    assert listed(client, conversation.id)[2:] == [("user", "Now"), ("assistant", "Slow answer.")]


def test_previous_response_and_conversation_are_exclusive(client: OpenAI, upstream) -> None:
    conversation = client.conversations.create()
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(
            model="gpt-test",
            conversation=conversation.id,
            previous_response_id="resp_x",
            input="Hi",
        )
    assert raised.value.body["code"] == "mutually_exclusive_parameters"
    assert raised.value.body["param"] is None


def test_another_projects_conversation_is_not_found(
    client: OpenAI, other_client: OpenAI, upstream
) -> None:
    conversation = other_client.conversations.create()
    with pytest.raises(openai.NotFoundError) as raised:
        client.responses.create(model="gpt-test", conversation=conversation.id, input="Hi")
    assert raised.value.body["message"] == f"Conversation with id '{conversation.id}' not found."
    assert other_client.conversations.items.list(conversation.id).data == []
