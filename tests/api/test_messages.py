"""Messages through the official SDK: create (string content, content parts, attachments,
metadata), list (order, limit, ``run_id``), retrieve, modify, delete, the thread scoping of every
message URL, and the raw wire shape (explicit nulls, integer timestamps, the request-id header)."""

import base64
from typing import Any

import openai
import pytest
from openai import OpenAI

# A 1x1 transparent PNG.
PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def wire(value: Any) -> Any:
    """An SDK object as the JSON it was parsed from (API names, explicit nulls kept)."""
    return value.to_dict() if isinstance(value, openai.BaseModel) else value


def file_id_for(client: OpenAI, name: str = "notes.txt", purpose: str = "assistants") -> str:
    """A file to reference: a real upload when the server has /v1/files, else a placeholder id."""
    content = PIXEL_PNG if name.endswith(".png") else b"hello"
    try:
        return client.files.create(file=(name, content), purpose=purpose).id  # type: ignore[arg-type]
    except openai.NotFoundError:
        return f"file-placeholder{len(name):012d}"


def text_part(value: str) -> dict[str, Any]:
    """A text content part as the message object carries it."""
    return {"type": "text", "text": {"value": value, "annotations": []}}


@pytest.fixture
def thread_id(client: OpenAI) -> str:
    return client.beta.threads.create().id


def say(client: OpenAI, thread_id: str, text: str, **fields: Any) -> Any:
    return client.beta.threads.messages.create(thread_id, role="user", content=text, **fields)


def ids_of(page: Any) -> list[str]:
    return [item.id for item in page.data]


# --- create -------------------------------------------------------------------------------------


def test_create_with_string_content(client, thread_id):
    message = say(client, thread_id, "Hello there")
    body = wire(message)

    assert message.id.startswith("msg_")
    assert body["object"] == "thread.message"
    assert body["thread_id"] == thread_id
    assert body["status"] == "completed"
    assert body["role"] == "user"
    assert body["content"] == [text_part("Hello there")]
    assert body["assistant_id"] is None
    assert body["run_id"] is None
    assert type(body["created_at"]) is int
    assert type(body["completed_at"]) is int
    assert body["completed_at"] >= body["created_at"]
    assert body["incomplete_at"] is None
    assert body["incomplete_details"] is None
    assert body["attachments"] == []
    assert body["metadata"] == {}


def test_create_as_assistant_role(client, thread_id):
    message = client.beta.threads.messages.create(thread_id, role="assistant", content="Hi!")

    assert message.role == "assistant"
    assert message.assistant_id is None
    assert wire(message)["content"] == [text_part("Hi!")]


def test_create_with_content_parts(client, thread_id):
    image_id = file_id_for(client, "pixel.png", purpose="vision")
    parts = [
        {"type": "text", "text": "Compare these two images."},
        {"type": "image_file", "image_file": {"file_id": image_id, "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/b.png", "detail": "low"}},
        {"type": "text", "text": "Which is brighter?"},
    ]

    message = client.beta.threads.messages.create(thread_id, role="user", content=parts)

    assert wire(message)["content"] == [
        text_part("Compare these two images."),
        {"type": "image_file", "image_file": {"file_id": image_id, "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/b.png", "detail": "low"}},
        text_part("Which is brighter?"),
    ]
    retrieved = client.beta.threads.messages.retrieve(message.id, thread_id=thread_id)
    assert wire(retrieved) == wire(message)


def test_image_parts_without_detail(client, thread_id):
    image_id = file_id_for(client, "pixel.png", purpose="vision")
    parts = [
        {"type": "image_file", "image_file": {"file_id": image_id}},
        {"type": "image_url", "image_url": {"url": "https://example.com/c.png"}},
    ]

    message = client.beta.threads.messages.create(thread_id, role="user", content=parts)

    image_file, image_url = message.content
    assert image_file.image_file.file_id == image_id
    assert image_url.image_url.url == "https://example.com/c.png"
    # Spec: detail defaults to "auto"; OpenAI may also leave it out.
    assert image_file.image_file.detail in (None, "auto")
    assert image_url.image_url.detail in (None, "auto")


def test_create_with_attachments_and_metadata(client, thread_id):
    code_file, search_file = file_id_for(client, "data.csv"), file_id_for(client, "manual.txt")
    attachments = [
        {"file_id": code_file, "tools": [{"type": "code_interpreter"}]},
        {"file_id": search_file, "tools": [{"type": "file_search"}, {"type": "code_interpreter"}]},
    ]

    message = say(
        client, thread_id, "See attached.", attachments=attachments, metadata={"source": "upload"}
    )

    assert wire(message)["attachments"] == attachments
    assert message.metadata == {"source": "upload"}
    retrieved = client.beta.threads.messages.retrieve(message.id, thread_id=thread_id)
    assert wire(retrieved)["attachments"] == attachments


def test_create_in_unknown_thread_is_not_found(client):
    with pytest.raises(openai.NotFoundError):
        say(client, "thread_doesnotexist", "hello?")


@pytest.mark.parametrize(
    "body",
    [
        {"role": "system", "content": "no such role here"},
        {"role": "user", "content": []},
        {"role": "user"},
        {"content": "who am I?"},
        {"role": "user", "content": [{"type": "text"}]},
        {"role": "user", "content": [{"type": "video", "video": {}}]},
        {"role": "user", "content": "x", "metadata": {f"k{i}": "v" for i in range(17)}},
        {
            "role": "user",
            "content": "x",
            "attachments": [{"file_id": "f", "tools": [{"type": "x"}]}],
        },
    ],
    ids=[
        "system role",
        "empty parts",
        "no content",
        "no role",
        "text part without text",
        "unknown part",
        "metadata",
        "attachment tool",
    ],
)
def test_invalid_create_is_rejected(http, thread_id, body):
    response = http.post(f"/threads/{thread_id}/messages", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert http.get(f"/threads/{thread_id}/messages").json()["data"] == []


# --- list ---------------------------------------------------------------------------------------


def test_list_order_and_limit(client, thread_id):
    ids = [say(client, thread_id, f"m{i}").id for i in range(4)]

    assert ids_of(client.beta.threads.messages.list(thread_id)) == ids[::-1]
    assert ids_of(client.beta.threads.messages.list(thread_id, order="asc")) == ids
    newest = client.beta.threads.messages.list(thread_id, limit=3)
    assert ids_of(newest) == ids[:0:-1]
    assert newest.has_more is True
    oldest = client.beta.threads.messages.list(thread_id, limit=4, order="asc")
    assert ids_of(oldest) == ids
    assert oldest.has_more is False


def test_list_is_scoped_to_the_thread(client, thread_id):
    mine = say(client, thread_id, "mine").id
    other_thread = client.beta.threads.create().id
    say(client, other_thread, "theirs")

    assert ids_of(client.beta.threads.messages.list(thread_id)) == [mine]


def test_list_with_unknown_run_id_is_empty(client, thread_id):
    say(client, thread_id, "hello")

    page = client.beta.threads.messages.list(thread_id, run_id="run_doesnotexist")

    assert page.data == []
    assert page.has_more is False


def test_list_items_are_full_messages(client, thread_id):
    created = say(client, thread_id, "full", metadata={"k": "v"})

    (listed,) = client.beta.threads.messages.list(thread_id).data
    assert wire(listed) == wire(created)


# --- retrieve / modify / delete -----------------------------------------------------------------


def test_retrieve(client, thread_id):
    created = say(client, thread_id, "find me")

    retrieved = client.beta.threads.messages.retrieve(created.id, thread_id=thread_id)

    assert wire(retrieved) == wire(created)


def test_modify_metadata_replaces_it_and_keeps_the_rest(client, thread_id):
    created = say(client, thread_id, "tag me", metadata={"a": "1", "b": "2"})

    updated = client.beta.threads.messages.update(
        created.id, thread_id=thread_id, metadata={"c": "3"}
    )

    assert wire(updated) == {**wire(created), "metadata": {"c": "3"}}
    retrieved = client.beta.threads.messages.retrieve(created.id, thread_id=thread_id)
    assert wire(retrieved) == wire(updated)


def test_modify_rejects_fields_other_than_metadata(http, client, thread_id):
    created = say(client, thread_id, "immutable")

    response = http.post(
        f"/threads/{thread_id}/messages/{created.id}", json={"content": "rewritten"}
    )

    assert response.status_code == 400
    retrieved = client.beta.threads.messages.retrieve(created.id, thread_id=thread_id)
    assert wire(retrieved)["content"] == [text_part("immutable")]


def test_delete(client, thread_id):
    kept = say(client, thread_id, "keep")
    doomed = say(client, thread_id, "drop")

    deleted = client.beta.threads.messages.delete(doomed.id, thread_id=thread_id)

    assert (deleted.id, deleted.object, deleted.deleted) == (
        doomed.id,
        "thread.message.deleted",
        True,
    )
    assert ids_of(client.beta.threads.messages.list(thread_id)) == [kept.id]
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.retrieve(doomed.id, thread_id=thread_id)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.update(doomed.id, thread_id=thread_id, metadata={})
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.delete(doomed.id, thread_id=thread_id)


def test_message_of_another_thread_is_not_found(client, thread_id):
    message = say(client, thread_id, "belongs here")
    wrong_thread = client.beta.threads.create().id

    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.retrieve(message.id, thread_id=wrong_thread)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.update(message.id, thread_id=wrong_thread, metadata={"x": "y"})
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.delete(message.id, thread_id=wrong_thread)

    retrieved = client.beta.threads.messages.retrieve(message.id, thread_id=thread_id)
    assert retrieved.metadata == {}


def test_messages_are_isolated_between_projects(client, other_client, thread_id):
    message = say(client, thread_id, "private")

    with pytest.raises(openai.NotFoundError):
        other_client.beta.threads.messages.retrieve(message.id, thread_id=thread_id)
    with pytest.raises(openai.NotFoundError):
        say(other_client, thread_id, "intruder")
    with pytest.raises(openai.NotFoundError):
        other_client.beta.threads.messages.delete(message.id, thread_id=thread_id)
    assert ids_of(client.beta.threads.messages.list(thread_id)) == [message.id]


# --- wire shape ---------------------------------------------------------------------------------


def test_wire_shape_has_explicit_nulls_and_int_timestamps(http, thread_id):
    response = http.post(f"/threads/{thread_id}/messages", json={"role": "user", "content": "raw"})

    assert response.status_code == 200
    assert response.headers["x-threadline-request-id"]
    body = response.json()
    for key in ("incomplete_details", "incomplete_at", "assistant_id", "run_id"):
        assert key in body
        assert body[key] is None
    assert type(body["created_at"]) is int
    assert type(body["completed_at"]) is int

    listed = http.get(f"/threads/{thread_id}/messages")
    assert listed.headers["x-threadline-request-id"]
    assert listed.json() == {
        "object": "list",
        "data": [body],
        "first_id": body["id"],
        "last_id": body["id"],
        "has_more": False,
    }

    deleted = http.delete(f"/threads/{thread_id}/messages/{body['id']}").json()
    assert deleted == {"id": body["id"], "object": "thread.message.deleted", "deleted": True}


def test_wire_empty_list(http, thread_id):
    listed = http.get(f"/threads/{thread_id}/messages").json()

    assert listed == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": False,
    }
