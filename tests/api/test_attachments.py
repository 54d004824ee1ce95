"""Message attachments and ``tool_resources`` reference real files and vector stores of the
project (a 400 naming the param otherwise), the ``file_search.vector_stores`` helper creates a
store, and files attached for ``file_search`` go into the thread's own vector store, created on
demand with a 7-day expiry, as OpenAI did."""

from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.files_helpers import DOCS, upload, wait_until_settled

SEARCH = [{"type": "file_search"}]
CODE = [{"type": "code_interpreter"}]


def thread_store_of(client: OpenAI, thread_id: str) -> str:
    [store_id] = client.beta.threads.retrieve(thread_id).tool_resources.file_search.vector_store_ids
    return store_id  # type: ignore[no-any-return]


def error_param(call: Any) -> str:
    with pytest.raises(openai.BadRequestError) as caught:
        call()
    return str(caught.value.body["param"])


# --- the thread's own store -------------------------------------------------------------------


def test_a_file_search_attachment_creates_the_thread_store(client: OpenAI):
    file_id = upload(client, "capybara.md", DOCS["capybara.md"])
    thread = client.beta.threads.create()
    assert thread.tool_resources.file_search is None

    message = client.beta.threads.messages.create(
        thread.id,
        role="user",
        content="What is the largest rodent?",
        attachments=[{"file_id": file_id, "tools": SEARCH}],
    )

    assert message.attachments[0].file_id == file_id
    store_id = thread_store_of(client, thread.id)
    store = wait_until_settled(client, store_id)
    assert store.expires_after.model_dump() == {"anchor": "last_active_at", "days": 7}
    assert store.expires_at == store.last_active_at + 7 * 86400
    assert store.file_counts.completed == 1
    found = client.vector_stores.search(store_id, query="largest rodent")
    assert found.data[0].file_id == file_id


def test_later_attachments_join_the_same_store_once(client: OpenAI):
    first, second = upload(client, "a.txt", b"alpha"), upload(client, "b.txt", b"beta")
    thread = client.beta.threads.create(
        messages=[
            {"role": "user", "content": "one", "attachments": [{"file_id": first, "tools": SEARCH}]}
        ]
    )
    store_id = thread_store_of(client, thread.id)
    for file_id in (first, second):
        client.beta.threads.messages.create(
            thread.id,
            role="user",
            content="more",
            attachments=[{"file_id": file_id, "tools": SEARCH}],
        )

    assert thread_store_of(client, thread.id) == store_id
    store = wait_until_settled(client, store_id)
    assert store.file_counts.total == 2 and store.file_counts.completed == 2


def test_attachments_go_into_the_store_the_thread_already_has(client: OpenAI):
    mine = client.vector_stores.create(name="thread docs").id
    thread = client.beta.threads.create(
        tool_resources={"file_search": {"vector_store_ids": [mine]}}
    )
    file_id = upload(client, "a.txt", b"alpha")

    client.beta.threads.messages.create(
        thread.id, role="user", content="x", attachments=[{"file_id": file_id, "tools": SEARCH}]
    )

    assert thread_store_of(client, thread.id) == mine
    assert wait_until_settled(client, mine).file_counts.total == 1


def test_code_interpreter_attachments_do_not_make_a_store(client: OpenAI):
    file_id = upload(client, "data.csv", b"a,b\n1,2\n")
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(
        thread.id, role="user", content="x", attachments=[{"file_id": file_id, "tools": CODE}]
    )
    assert client.beta.threads.retrieve(thread.id).tool_resources.file_search is None


def test_create_thread_with_an_attachment_reports_its_store(client: OpenAI):
    file_id = upload(client, "a.txt", b"alpha")
    thread = client.beta.threads.create(
        messages=[
            {"role": "user", "content": "x", "attachments": [{"file_id": file_id, "tools": SEARCH}]}
        ]
    )
    assert thread.tool_resources.file_search.vector_store_ids == [
        thread_store_of(client, thread.id)
    ]


# --- unknown or foreign references ------------------------------------------------------------


def test_message_attachment_with_an_unknown_file_is_400(client: OpenAI, other_client: OpenAI):
    thread = client.beta.threads.create()
    foreign = upload(other_client, "theirs.txt", b"theirs")
    for file_id in (foreign, "file-missing00000000000000"):
        param = error_param(
            lambda file_id=file_id: client.beta.threads.messages.create(
                thread.id,
                role="user",
                content="x",
                attachments=[
                    {"file_id": upload(client, "ok.txt", b"ok"), "tools": CODE},
                    {"file_id": file_id, "tools": SEARCH},
                ],
            )
        )
        assert param == "attachments[1].file_id"
    # Nothing was written: no message, no store.
    assert list(client.beta.threads.messages.list(thread.id)) == []
    assert client.beta.threads.retrieve(thread.id).tool_resources.file_search is None


def test_thread_create_names_the_message_of_a_bad_attachment(client: OpenAI):
    ok = upload(client, "ok.txt", b"ok")
    param = error_param(
        lambda: client.beta.threads.create(
            messages=[
                {"role": "user", "content": "a", "attachments": [{"file_id": ok, "tools": SEARCH}]},
                {
                    "role": "user",
                    "content": "b",
                    "attachments": [{"file_id": "file-x", "tools": CODE}],
                },
            ]
        )
    )
    assert param == "messages[1].attachments[0].file_id"


@pytest.mark.parametrize("target", ["assistant", "thread"])
def test_unknown_or_foreign_tool_resources_are_400(client: OpenAI, other_client: OpenAI, target):
    theirs_file = upload(other_client, "t.txt", b"t")
    theirs_store = other_client.vector_stores.create().id
    create = (
        (lambda **kw: client.beta.assistants.create(model="gpt-4o", **kw))
        if target == "assistant"
        else client.beta.threads.create
    )
    for file_id in (theirs_file, "file-missing0000000000000"):
        param = error_param(
            lambda file_id=file_id: create(
                tool_resources={"code_interpreter": {"file_ids": [file_id]}}
            )
        )
        assert param == "tool_resources.code_interpreter.file_ids[0]"
    for store_id in (theirs_store, "vs_missing00000000000000"):
        param = error_param(
            lambda store_id=store_id: create(
                tool_resources={"file_search": {"vector_store_ids": [store_id]}}
            )
        )
        assert param == "tool_resources.file_search.vector_store_ids[0]"


def test_modify_checks_references_too(client: OpenAI):
    assistant = client.beta.assistants.create(model="gpt-4o")
    param = error_param(
        lambda: client.beta.assistants.update(
            assistant.id, tool_resources={"file_search": {"vector_store_ids": ["vs_nope"]}}
        )
    )
    assert param == "tool_resources.file_search.vector_store_ids[0]"
    thread = client.beta.threads.create()
    param = error_param(
        lambda: client.beta.threads.update(
            thread.id, tool_resources={"code_interpreter": {"file_ids": ["file-nope"]}}
        )
    )
    assert param == "tool_resources.code_interpreter.file_ids[0]"


# --- the vector_stores helper -----------------------------------------------------------------


@pytest.mark.parametrize("target", ["assistant", "thread"])
def test_vector_stores_helper_creates_and_references_a_store(client: OpenAI, target: str):
    file_id = upload(client, "volcano.txt", DOCS["volcano.txt"])
    resources = {
        "file_search": {
            "vector_stores": [
                {
                    "file_ids": [file_id],
                    "chunking_strategy": {
                        "type": "static",
                        "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 100},
                    },
                    "metadata": {"made_by": "helper"},
                }
            ]
        }
    }
    if target == "assistant":
        created = client.beta.assistants.create(model="gpt-4o", tool_resources=resources)
    else:
        created = client.beta.threads.create(tool_resources=resources)

    [store_id] = created.tool_resources.file_search.vector_store_ids
    store = wait_until_settled(client, store_id)
    assert store.metadata == {"made_by": "helper"}
    assert store.file_counts.completed == 1
    stored = client.vector_stores.files.retrieve(file_id, vector_store_id=store_id)
    assert stored.chunking_strategy.static.max_chunk_size_tokens == 200
    assert client.vector_stores.search(store_id, query="Etna").data[0].file_id == file_id


def test_vector_stores_helper_with_an_unknown_file_creates_nothing(client: OpenAI):
    before = [s.id for s in client.vector_stores.list()]
    param = error_param(
        lambda: client.beta.assistants.create(
            model="gpt-4o",
            tool_resources={"file_search": {"vector_stores": [{"file_ids": ["file-none"]}]}},
        )
    )
    assert param == "tool_resources.file_search.vector_stores[0].file_ids[0]"
    assert [s.id for s in client.vector_stores.list()] == before


def test_ids_and_helper_together_are_400(client: OpenAI):
    store_id = client.vector_stores.create().id
    error_param(
        lambda: client.beta.assistants.create(
            model="gpt-4o",
            tool_resources={
                "file_search": {"vector_store_ids": [store_id], "vector_stores": [{"file_ids": []}]}
            },
        )
    )


# --- runs: the thread's store and the run's stores --------------------------------------------


def test_create_and_run_with_an_attachment_fills_the_thread_store(client: OpenAI, upstream):
    file_id = upload(client, "tea.json", DOCS["tea.json"])
    assistant = client.beta.assistants.create(model="gpt-4o")
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={
            "messages": [
                {
                    "role": "user",
                    "content": "tea?",
                    "attachments": [{"file_id": file_id, "tools": SEARCH}],
                }
            ]
        },
    )
    store_id = thread_store_of(client, run.thread_id)
    assert wait_until_settled(client, store_id).file_counts.completed == 1


def test_additional_messages_with_a_bad_attachment_create_no_run(client: OpenAI):
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create()
    param = error_param(
        lambda: client.beta.threads.runs.create(
            thread.id,
            assistant_id=assistant.id,
            additional_messages=[
                {
                    "role": "user",
                    "content": "x",
                    "attachments": [{"file_id": "file-no", "tools": SEARCH}],
                }
            ],
        )
    )
    assert param == "additional_messages[0].attachments[0].file_id"
    assert list(client.beta.threads.runs.list(thread.id)) == []
