"""Threads through the official SDK: create (empty, or with initial messages, tool_resources and
metadata), retrieve, modify, delete (which takes the thread's messages with it), project
isolation, and the raw wire shape."""

from typing import Any

import openai
import pytest
from openai import OpenAI


def wire(value: Any) -> Any:
    """An SDK object as the JSON it was parsed from (API names, explicit nulls kept)."""
    return value.to_dict() if isinstance(value, openai.BaseModel) else value


def file_id_for(client: OpenAI) -> str:
    """A file to reference: a real upload when the server has /v1/files, else a placeholder id."""
    try:
        return client.files.create(file=("notes.txt", b"hello"), purpose="assistants").id
    except openai.NotFoundError:
        return "file-placeholder000000000001"


def vector_store_id_for(client: OpenAI) -> str:
    """A vector store to reference: a real one when the server has /v1/vector_stores."""
    try:
        return client.vector_stores.create(name="docs").id
    except openai.NotFoundError:
        return "vs_placeholder000000000001"


def text_of(message: Any) -> list[str]:
    return [part.text.value for part in message.content if part.type == "text"]


def messages_oldest_first(client: OpenAI, thread_id: str) -> list[Any]:
    return list(client.beta.threads.messages.list(thread_id, order="asc"))


# --- create -------------------------------------------------------------------------------------


def test_create_empty_thread(client, http):
    thread = client.beta.threads.create()

    assert thread.id.startswith("thread_")
    assert thread.object == "thread"
    assert type(thread.created_at) is int
    assert thread.metadata == {}
    assert http.get(f"/threads/{thread.id}").json()["tool_resources"] == {}
    assert messages_oldest_first(client, thread.id) == []


def test_create_with_messages_lists_them_in_order(client):
    thread = client.beta.threads.create(
        messages=[
            {"role": "user", "content": "What's the weather in Oslo?"},
            {"role": "assistant", "content": "Cold."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "And tomorrow?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/sky.png"}},
                ],
                "metadata": {"turn": "3"},
            },
        ]
    )

    first, second, third = messages_oldest_first(client, thread.id)
    assert [m.role for m in (first, second, third)] == ["user", "assistant", "user"]
    assert text_of(first) == ["What's the weather in Oslo?"]
    assert text_of(second) == ["Cold."]
    assert text_of(third) == ["And tomorrow?"]
    assert third.content[1].type == "image_url"
    assert third.content[1].image_url.url == "https://example.com/sky.png"
    assert third.metadata == {"turn": "3"}
    for message in (first, second, third):
        assert message.thread_id == thread.id
        assert message.status == "completed"
        assert message.assistant_id is None
        assert message.run_id is None
        assert message.content[0].text.annotations == []


def test_create_with_messages_lists_newest_first_by_default(client):
    contents = [f"message {i}" for i in range(5)]
    thread = client.beta.threads.create(messages=[{"role": "user", "content": c} for c in contents])

    listed = client.beta.threads.messages.list(thread.id).data
    assert [text_of(m)[0] for m in listed] == contents[::-1]


def test_create_with_message_attachments(client):
    file_id = file_id_for(client)
    thread = client.beta.threads.create(
        messages=[
            {
                "role": "user",
                "content": "Summarise the attached report.",
                "attachments": [{"file_id": file_id, "tools": [{"type": "code_interpreter"}]}],
            }
        ]
    )

    (message,) = messages_oldest_first(client, thread.id)
    assert wire(message)["attachments"] == [
        {"file_id": file_id, "tools": [{"type": "code_interpreter"}]}
    ]


def test_create_with_tool_resources_and_metadata(client):
    file_id = file_id_for(client)
    vector_store_id = vector_store_id_for(client)

    thread = client.beta.threads.create(
        tool_resources={
            "code_interpreter": {"file_ids": [file_id]},
            "file_search": {"vector_store_ids": [vector_store_id]},
        },
        metadata={"user": "u-42", "channel": "web"},
    )

    assert thread.metadata == {"user": "u-42", "channel": "web"}
    assert thread.tool_resources.code_interpreter.file_ids == [file_id]
    assert thread.tool_resources.file_search.vector_store_ids == [vector_store_id]
    assert wire(client.beta.threads.retrieve(thread.id)) == wire(thread)


# --- retrieve / modify --------------------------------------------------------------------------


def test_retrieve_unknown_is_not_found(client):
    with pytest.raises(openai.NotFoundError) as caught:
        client.beta.threads.retrieve("thread_doesnotexist")
    assert caught.value.body["type"] == "invalid_request_error"


def test_modify_metadata_replaces_it_and_keeps_tool_resources(client):
    file_id = file_id_for(client)
    thread = client.beta.threads.create(
        tool_resources={"code_interpreter": {"file_ids": [file_id]}},
        metadata={"a": "1", "b": "2"},
    )

    updated = client.beta.threads.update(thread.id, metadata={"c": "3"})

    assert updated.metadata == {"c": "3"}
    assert updated.tool_resources.code_interpreter.file_ids == [file_id]
    assert updated.created_at == thread.created_at
    assert wire(client.beta.threads.retrieve(thread.id)) == wire(updated)


def test_modify_tool_resources_keeps_metadata(client):
    thread = client.beta.threads.create(metadata={"keep": "me"})
    vector_store_id = vector_store_id_for(client)

    updated = client.beta.threads.update(
        thread.id, tool_resources={"file_search": {"vector_store_ids": [vector_store_id]}}
    )

    assert updated.tool_resources.file_search.vector_store_ids == [vector_store_id]
    assert updated.metadata == {"keep": "me"}


def test_modify_with_empty_body_changes_nothing(client):
    thread = client.beta.threads.create(metadata={"keep": "me"})

    assert wire(client.beta.threads.update(thread.id)) == wire(thread)


def test_modify_unknown_is_not_found(client):
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.update("thread_doesnotexist", metadata={"a": "b"})


# --- delete -------------------------------------------------------------------------------------


def test_delete_removes_the_thread_and_its_messages(client):
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hello"}])
    (message,) = messages_oldest_first(client, thread.id)

    deleted = client.beta.threads.delete(thread.id)

    assert (deleted.id, deleted.object, deleted.deleted) == (thread.id, "thread.deleted", True)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.retrieve(thread.id)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.retrieve(message.id, thread_id=thread.id)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.list(thread.id)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.create(thread.id, role="user", content="late")
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.delete(thread.id)


def test_deleting_one_thread_leaves_others_alone(client):
    doomed = client.beta.threads.create(messages=[{"role": "user", "content": "bye"}])
    kept = client.beta.threads.create(messages=[{"role": "user", "content": "stay"}])

    client.beta.threads.delete(doomed.id)

    (message,) = messages_oldest_first(client, kept.id)
    assert text_of(message) == ["stay"]


# --- isolation and validation -------------------------------------------------------------------


def test_threads_are_isolated_between_projects(client, other_client):
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "private"}])

    with pytest.raises(openai.NotFoundError):
        other_client.beta.threads.retrieve(thread.id)
    with pytest.raises(openai.NotFoundError):
        other_client.beta.threads.update(thread.id, metadata={"x": "y"})
    with pytest.raises(openai.NotFoundError):
        other_client.beta.threads.messages.list(thread.id)
    with pytest.raises(openai.NotFoundError):
        other_client.beta.threads.delete(thread.id)
    assert client.beta.threads.retrieve(thread.id).metadata == {}


@pytest.mark.parametrize(
    "body",
    [
        {"metadata": {f"k{i}": "v" for i in range(17)}},
        {"metadata": {"count": 3}},
        {"tool_resources": {"file_search": {"vector_store_ids": ["vs_a", "vs_b"]}}},
        {"tool_resources": {"code_interpreter": {"file_ids": [f"file-{i}" for i in range(21)]}}},
        {"messages": [{"role": "system", "content": "not a thread role"}]},
        {"messages": [{"role": "user", "content": []}]},
        {"messages": [{"role": "user"}]},
    ],
    ids=[
        "metadata",
        "metadata value",
        "vector_store_ids",
        "file_ids",
        "role",
        "empty content",
        "no content",
    ],
)
def test_invalid_create_is_rejected(http, body):
    response = http.post("/threads", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


# --- wire shape ---------------------------------------------------------------------------------


def test_wire_shape(http):
    response = http.post("/threads", json={})

    assert response.status_code == 200
    assert response.headers["x-threadline-request-id"]
    body = response.json()
    assert set(body) >= {"id", "object", "created_at", "tool_resources", "metadata"}
    assert body["object"] == "thread"
    assert type(body["created_at"]) is int
    assert body["metadata"] == {}

    deleted = http.delete(f"/threads/{body['id']}")
    assert deleted.json() == {"id": body["id"], "object": "thread.deleted", "deleted": True}
    assert deleted.headers["x-threadline-request-id"]
