"""``GET /console/api/threads``: a project's threads and conversations, newest first, with the
newest run of each; pages with ``after``/``has_more``; search by id or metadata; never another
project's threads nor a response chain's hidden thread; errors in OpenAI's shape."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openai import OpenAI

from tests.conftest import MASTER_KEY
from tests.upstream import Text

MODEL = "gpt-test"


def wire(value: Any) -> Any:
    return value.to_dict()


@pytest.fixture
def console_api(server_url: str, api_key: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{server_url}/console/api",
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    ) as raw:
        yield raw


def listed(console_api: httpx.Client, **params: Any) -> dict[str, Any]:
    response = console_api.get("/threads", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def ids_of(page: dict[str, Any]) -> list[str]:
    return [thread["id"] for thread in page["data"]]


def assert_openai_error(response: httpx.Response, status: int, param: str | None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["message"]
    assert error["param"] == param


def test_threads_and_conversations_newest_first_as_the_api_shows_them(client, console_api):
    assert listed(console_api) == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": False,
    }
    oldest = client.beta.threads.create(metadata={"topic": "billing"})
    conversation = client.conversations.create()
    newest = client.beta.threads.create()

    page = listed(console_api)
    assert ids_of(page) == [newest.id, conversation.id, oldest.id]
    assert (page["first_id"], page["last_id"], page["has_more"]) == (newest.id, oldest.id, False)
    shown = page["data"][2]
    assert shown == {**wire(client.beta.threads.retrieve(oldest.id)), "last_run": None}


def test_pages_with_after_and_has_more(client, console_api):
    made = [client.beta.threads.create().id for _ in range(5)]
    newest_first = made[::-1]

    first = listed(console_api, limit=2)
    assert ids_of(first) == newest_first[:2] and first["has_more"] is True
    second = listed(console_api, limit=2, after=first["last_id"])
    assert ids_of(second) == newest_first[2:4] and second["has_more"] is True
    third = listed(console_api, limit=2, after=second["last_id"])
    assert ids_of(third) == newest_first[4:] and third["has_more"] is False
    # A cursor whose thread was deleted still marks the place.
    client.beta.threads.delete(newest_first[1])
    assert ids_of(listed(console_api, after=newest_first[1])) == newest_first[2:]
    assert ids_of(listed(console_api, order="asc", limit=3)) == made[:3]


def test_search_by_id_or_metadata(client, console_api):
    billing = client.beta.threads.create(metadata={"topic": "Billing question", "tier": "gold"})
    other = client.beta.threads.create(metadata={"topic": "shipping"})
    conversation = client.conversations.create(metadata={"customer": "ACME-42"})

    assert ids_of(listed(console_api, q=billing.id)) == [billing.id]
    assert ids_of(listed(console_api, q=billing.id[:-6])) == [billing.id]
    assert ids_of(listed(console_api, q=billing.id.upper())) == [billing.id]
    assert ids_of(listed(console_api, q="billing")) == [billing.id]  # in a value, any case
    assert ids_of(listed(console_api, q="tier")) == [billing.id]  # a key
    assert ids_of(listed(console_api, q="acme-4")) == [conversation.id]
    assert ids_of(listed(console_api, q="ping")) == [other.id]
    assert ids_of(listed(console_api, q="  shipping ")) == [other.id]  # trimmed
    assert ids_of(listed(console_api, q="thread_")) == [other.id, billing.id]
    assert ids_of(listed(console_api, q="nothing like it")) == []
    # LIKE's wildcards are plain characters here.
    for wildcard in ("%", "_", "\\"):
        assert ids_of(listed(console_api, q=wildcard)) == [], wildcard
    assert ids_of(listed(console_api, q="")) == [conversation.id, other.id, billing.id]


def test_another_projects_threads_are_never_listed(client, other_client, console_api):
    theirs = other_client.beta.threads.create(metadata={"owner": "them"})
    other_client.conversations.create(metadata={"owner": "them"})
    mine = client.beta.threads.create()

    assert ids_of(listed(console_api)) == [mine.id]
    assert ids_of(listed(console_api, q=theirs.id)) == []
    assert ids_of(listed(console_api, q="them")) == []


def test_runs_show_as_last_run_and_response_chains_are_not_listed(
    client: OpenAI, console_api, upstream
):
    assistant = client.beta.assistants.create(model=MODEL)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
    upstream.script(Text(["Hello"]), Text(["A response"]))
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=20
    )
    assert run.status == "completed"
    response = client.responses.create(model=MODEL, input="Hi")
    assert response.status == "completed"

    page = listed(console_api)
    assert ids_of(page) == [thread.id]
    assert page["data"][0]["last_run"] == {
        "id": run.id,
        "object": "thread.run",
        "status": "completed",
        "model": MODEL,
        "created_at": run.created_at,
    }


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"order": "sideways"}, "order"),
        ({"q": "x" * 513}, "q"),
    ],
)
def test_bad_parameters_are_openai_400s(console_api, params, param):
    assert_openai_error(console_api.get("/threads", params=params), 400, param)


def test_keys(server_url: str):
    path = f"{server_url}/console/api/threads"
    missing = httpx.get(path)
    assert missing.status_code == 401 and missing.json()["error"]["code"] is None
    wrong = httpx.get(path, headers={"Authorization": "Bearer sk-not-a-key"})
    assert_openai_error(wrong, 401, None)
    master = httpx.get(path, headers={"Authorization": f"Bearer {MASTER_KEY}"})
    assert_openai_error(master, 403, None)
    assert "pick a project" in master.json()["error"]["message"]
