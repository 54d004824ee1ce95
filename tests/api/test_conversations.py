"""Conversations through the official SDK: create (with items of every kind), retrieve, update,
delete; items added, listed (pages with ``after``, both orders), retrieved and deleted; one store
with the Assistants API (a thread is a conversation and a conversation a thread, a run on a
conversation answers into its items); errors in OpenAI's shape."""

from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.upstream import Slow, Text


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def texts(items: list[Any]) -> list[str]:
    """The text of each message item (its parts joined)."""
    found = []
    for item in items:
        if item.type == "message":
            found.append("".join(getattr(part, "text", "") for part in item.content))
    return found


def test_create_retrieve_update_delete(client: OpenAI):
    created = client.conversations.create(metadata={"topic": "demo"})
    assert created.id.startswith("conv_")
    assert created.object == "conversation"
    assert created.metadata == {"topic": "demo"}

    assert client.conversations.retrieve(created.id) == created
    updated = client.conversations.update(created.id, metadata={"topic": "other"})
    assert updated.metadata == {"topic": "other"}
    assert client.conversations.retrieve(created.id).metadata == {"topic": "other"}

    deleted = client.conversations.delete(created.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (
        created.id,
        "conversation.deleted",
        True,
    )
    with pytest.raises(openai.NotFoundError) as missing:
        client.conversations.retrieve(created.id)
    assert missing.value.body == {
        "message": f"Conversation with id '{created.id}' not found.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


def test_initial_items_of_every_kind_are_listed_in_order(client: OpenAI):
    conversation = client.conversations.create(
        items=[
            {"type": "message", "role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is 2+2?"},
            {"type": "function_call", "call_id": "call_1", "name": "add", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "4"},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "4."}],
            },
        ]
    )
    items = list(client.conversations.items.list(conversation.id, order="asc"))
    assert [item.type for item in items] == [
        "message",
        "message",
        "function_call",
        "function_call_output",
        "message",
    ]
    assert [getattr(item, "role", None) for item in items] == [
        "system",
        "user",
        None,
        None,
        "assistant",
    ]
    assert items[1].content[0].type == "input_text"
    assert items[4].content[0].type == "output_text"
    assert items[4].content[0].annotations == []
    assert items[2].id.startswith("fc_") and items[2].call_id == "call_1"
    assert items[3].id.startswith("fco_") and items[3].output == "4"
    assert texts(items) == ["Be brief.", "What is 2+2?", "4."]
    # Newest first by default.
    assert [item.id for item in client.conversations.items.list(conversation.id)] == [
        item.id for item in reversed(items)
    ]


def test_items_create_returns_the_new_items_and_pages_follow_after(client: OpenAI):
    conversation = client.conversations.create()
    added = []
    for batch in range(3):
        page = client.conversations.items.create(
            conversation.id,
            items=[user(f"m{batch}-{index}") for index in range(5)]
            + [{"type": "function_call", "call_id": f"c{batch}", "name": "f", "arguments": "{}"}],
        )
        assert page.object == "list" and page.has_more is False
        assert page.first_id == page.data[0].id and page.last_id == page.data[-1].id
        added += page.data
    assert len(added) == 18

    first = client.conversations.items.list(conversation.id, limit=4, order="asc")
    assert first.has_more is True
    assert [item.id for item in first.data] == [item.id for item in added[:4]]
    # Auto-pagination asks with after=<last_id> while has_more is true.
    assert [item.id for item in first] == [item.id for item in added]
    newest_first = client.conversations.items.list(conversation.id, limit=5)
    assert [item.id for item in newest_first] == [item.id for item in reversed(added)]
    last = client.conversations.items.list(
        conversation.id, limit=5, order="asc", after=added[12].id
    )
    assert [item.id for item in last.data] == [item.id for item in added[13:18]]
    assert last.has_more is False


def test_retrieve_and_delete_items(client: OpenAI):
    conversation = client.conversations.create(
        items=[user("keep"), user("drop"), {"type": "message", "role": "developer", "content": "x"}]
    )
    keep, drop, developer = client.conversations.items.list(conversation.id, order="asc")
    got = client.conversations.items.retrieve(drop.id, conversation_id=conversation.id)
    assert got.id == drop.id and texts([got]) == ["drop"]

    after_delete = client.conversations.items.delete(drop.id, conversation_id=conversation.id)
    assert after_delete.object == "conversation" and after_delete.id == conversation.id
    client.conversations.items.delete(developer.id, conversation_id=conversation.id)
    assert [item.id for item in client.conversations.items.list(conversation.id)] == [keep.id]
    # A cursor whose item was deleted still marks its place.
    assert [
        item.id
        for item in client.conversations.items.list(conversation.id, order="asc", after=drop.id)
    ] == []
    for item_id in (drop.id, developer.id):
        with pytest.raises(openai.NotFoundError) as missing:
            client.conversations.items.retrieve(item_id, conversation_id=conversation.id)
        assert missing.value.body["message"] == f"Item with id '{item_id}' not found."


def test_a_thread_is_a_conversation(client: OpenAI):
    file_id = client.files.create(file=("notes.txt", b"hello"), purpose="assistants").id
    thread = client.beta.threads.create(
        messages=[
            {"role": "user", "content": "first"},
            {
                "role": "user",
                "content": "with a file",
                "attachments": [{"file_id": file_id, "tools": [{"type": "code_interpreter"}]}],
            },
            {"role": "assistant", "content": "an answer"},
        ],
        metadata={"k": "v"},
    )
    assert client.conversations.retrieve(thread.id).metadata == {"k": "v"}
    items = list(client.conversations.items.list(thread.id, order="asc"))
    assert [(item.role, item.content[0].type) for item in items] == [
        ("user", "input_text"),
        ("user", "input_text"),
        ("assistant", "output_text"),
    ]
    assert texts(items) == ["first", "with a file", "an answer"]
    messages = list(client.beta.threads.messages.list(thread.id, order="asc"))
    assert [item.id for item in items] == [message.id for message in messages]
    attached = items[1].content[1]
    assert (attached.type, attached.file_id) == ("input_file", file_id)

    # Added on either side, shown on both.
    client.conversations.items.create(thread.id, items=[user("from conversations")])
    client.beta.threads.messages.create(thread.id, role="user", content="from threads")
    assert texts(client.conversations.items.list(thread.id, limit=2).data) == [
        "from threads",
        "from conversations",
    ]
    assert [
        message.content[0].text.value
        for message in client.beta.threads.messages.list(thread.id, limit=2).data
    ] == ["from threads", "from conversations"]

    client.conversations.delete(thread.id)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.retrieve(thread.id)


def test_a_conversation_is_a_thread(client: OpenAI):
    conversation = client.conversations.create(
        items=[
            user("hello"),
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "see"},
                    {"type": "input_file", "file_id": "file-abc"},
                ],
            },
        ],
        metadata={"via": "conversations"},
    )
    thread = client.beta.threads.retrieve(conversation.id)
    assert thread.id == conversation.id and thread.metadata == {"via": "conversations"}
    messages = list(client.beta.threads.messages.list(conversation.id, order="asc"))
    # Only message items are thread messages; a part only the Responses API has is not shown.
    assert [[part.text.value for part in m.content] for m in messages] == [["hello"], ["see"]]
    items = list(client.conversations.items.list(conversation.id, order="asc"))
    assert [part.type for part in items[2].content] == ["input_text", "input_file"]

    client.beta.threads.delete(conversation.id)
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(conversation.id)


def test_a_run_on_a_conversation_answers_into_its_items(client: OpenAI, upstream: Any):
    upstream.script(Text(["The answer", " is 4."]))
    conversation = client.conversations.create(items=[user("What is 2+2?")])
    assistant = client.beta.assistants.create(model="gpt-4o")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=conversation.id, assistant_id=assistant.id, poll_interval_ms=50
    )
    assert run.status == "completed", run.last_error
    newest = client.conversations.items.list(conversation.id, limit=1).data[0]
    assert (newest.type, newest.role, newest.status) == ("message", "assistant", "completed")
    assert newest.content[0].type == "output_text"
    assert newest.content[0].text == "The answer is 4."
    [request] = upstream.requests
    assert request["messages"][-1] == {"role": "user", "content": "What is 2+2?"}


def test_items_cannot_be_added_while_a_run_holds_the_conversation(
    client: OpenAI, http: Any, upstream: Any
):
    upstream.script(Slow(Text(["slow"]), first_byte_delay=3.0))
    conversation = client.conversations.create(items=[user("hi")])
    assistant = client.beta.assistants.create(model="gpt-4o")
    run = client.beta.threads.runs.create(thread_id=conversation.id, assistant_id=assistant.id)
    with pytest.raises(openai.BadRequestError) as locked:
        client.conversations.items.create(conversation.id, items=[user("meanwhile")])
    assert locked.value.body == {
        "message": "Another process is currently operating on this conversation. "
        "Please retry in a few seconds.",
        "type": "invalid_request_error",
        "param": None,
        "code": "conversation_locked",
    }
    client.beta.threads.runs.cancel(run.id, thread_id=conversation.id)


def test_another_projects_conversation_is_a_404_like_a_missing_one(
    client: OpenAI, other_client: OpenAI
):
    mine = client.conversations.create(items=[user("secret")])
    [item] = client.conversations.items.list(mine.id)
    missing = "conv_" + "0" * 24
    calls = [
        lambda cid: other_client.conversations.retrieve(cid),
        lambda cid: other_client.conversations.update(cid, metadata={"a": "b"}),
        lambda cid: other_client.conversations.delete(cid),
        lambda cid: other_client.conversations.items.list(cid),
        lambda cid: other_client.conversations.items.create(cid, items=[user("x")]),
        lambda cid: other_client.conversations.items.retrieve(item.id, conversation_id=cid),
        lambda cid: other_client.conversations.items.delete(item.id, conversation_id=cid),
    ]
    for call in calls:
        bodies = []
        for conversation_id in (mine.id, missing):
            with pytest.raises(openai.NotFoundError) as error:
                call(conversation_id)
            bodies.append(str(error.value.body).replace(conversation_id, "<id>"))
        assert bodies[0] == bodies[1]
    assert [i.id for i in client.conversations.items.list(mine.id)] == [item.id]
    assert client.conversations.retrieve(mine.id).metadata == {}


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"items": [user(str(i)) for i in range(21)]}, "items", "invalid_value"),
        ({"items": [{"type": "web_search_call", "id": "ws_1"}]}, "items[0].type", "invalid_value"),
        ({"metadata": {"k" * 65: "v"}}, "metadata." + "k" * 65, "invalid_value"),
        ({"metadata": "nope"}, "metadata", "invalid_type"),
        ({"items": [{"role": "user"}]}, "items[0].content", "missing_required_parameter"),
        ({"colour": "blue"}, "colour", "unknown_parameter"),
    ],
)
def test_bad_requests_are_400s_in_openais_shape(http: Any, body: Any, param: str, code: str):
    response = http.post("/conversations", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert (error["param"], error["code"]) == (param, code), error


def test_items_create_refuses_more_than_20(client: OpenAI):
    conversation = client.conversations.create()
    with pytest.raises(openai.BadRequestError) as error:
        client.conversations.items.create(conversation.id, items=[user("x")] * 21)
    assert error.value.body["param"] == "items"
    assert list(client.conversations.items.list(conversation.id)) == []


def test_include_is_checked(client: OpenAI, http: Any):
    conversation = client.conversations.create(items=[user("x")])
    listed = client.conversations.items.list(
        conversation.id, include=["file_search_call.results", "message.output_text.logprobs"]
    )
    assert len(listed.data) == 1
    response = http.get(f"/conversations/{conversation.id}/items", params={"include[]": "nope"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "include"
