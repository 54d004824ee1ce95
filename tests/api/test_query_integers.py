"""Integers in query strings (``limit``, and the request log's ``status``, ``since``, ``until``):
only ASCII digits within the parameter's range are taken. Anything else, superscript digits that
``str.isdigit`` accepts, values past 64 bits, exponents, spaces, is a 400 in OpenAI's shape naming
the parameter, never a 500, and the connection stays open for the next request."""

import secrets
from collections.abc import Iterator

import httpx
import pytest
from openai import OpenAI

from tests.conftest import new_project_key

BAD_INTEGERS = ["²", "99999999999999999999", "-1", "1e3", " 5", "٣", "1_0", "+5", ""]

# (path, the integer parameters it takes); {placeholders} come from the ``ids`` fixture.
LISTS = [
    ("/v1/assistants", ["limit"]),
    ("/v1/threads/{thread}/messages", ["limit"]),
    ("/v1/threads/{thread}/runs", ["limit"]),
    ("/v1/threads/{thread}/runs/{run}/steps", ["limit"]),
    ("/v1/files", ["limit"]),
    ("/v1/vector_stores", ["limit"]),
    ("/v1/vector_stores/{store}/files", ["limit"]),
    ("/v1/vector_stores/{store}/file_batches/{batch}/files", ["limit"]),
    ("/admin/keys", ["limit"]),
    ("/admin/logs", ["limit", "status", "since", "until"]),
    ("/admin/usage", ["since", "until"]),
]
CASES = [(path, param) for path, params in LISTS for param in params]


@pytest.fixture(scope="module")
def ids(server_url: str, admin: httpx.Client) -> Iterator[dict[str, str]]:
    """A project with one object of every listed kind, and a raw client for it."""
    key = new_project_key(admin, f"ints-{secrets.token_hex(5)}")
    with OpenAI(base_url=f"{server_url}/v1", api_key=key, max_retries=0) as client:
        assistant = client.beta.assistants.create(model="gpt-test")
        run = client.beta.threads.create_and_run_poll(
            assistant_id=assistant.id,
            thread={"messages": [{"role": "user", "content": "hi"}]},
            poll_interval_ms=50,
        )
        file = client.files.create(file=("a.txt", b"some text"), purpose="assistants")
        store = client.vector_stores.create(name="s")
        batch = client.vector_stores.file_batches.create(store.id, file_ids=[file.id])
        yield {
            "key": key,
            "thread": run.thread_id,
            "run": run.id,
            "store": store.id,
            "batch": batch.id,
        }


@pytest.fixture(scope="module")
def clients(
    server_url: str, admin: httpx.Client, ids: dict[str, str]
) -> Iterator[dict[str, httpx.Client]]:
    headers = {"Authorization": f"Bearer {ids['key']}", "OpenAI-Beta": "assistants=v2"}
    with httpx.Client(base_url=server_url, headers=headers, timeout=30) as api:
        yield {"/v1": api, "/admin": admin}


@pytest.mark.parametrize("value", BAD_INTEGERS, ids=repr)
@pytest.mark.parametrize(("path", "param"), CASES, ids=[f"{p} {q}" for p, q in CASES])
def test_a_bad_integer_is_400_naming_it(clients, ids, path: str, param: str, value: str):
    if value == "" and path.startswith("/admin/"):
        pytest.skip("an empty admin filter means no filter")
    http = clients[path[: path.index("/", 1)]]
    url = path.format(**ids)
    response = http.get(url, params={param: value})
    assert response.status_code == 400, response.text
    assert response.headers.get("connection") != "close"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    assert "Traceback" not in response.text
    # The same connection answers the next request.
    assert http.get(url).status_code == 200


@pytest.mark.parametrize(
    ("params", "count"),
    [({"limit": "1"}, 1), ({"status": "200"}, None), ({"status": "2xx"}, None)],
)
def test_good_integers_are_taken(clients, params: dict[str, str], count: int | None):
    response = clients["/admin"].get("/admin/logs", params={**params, "since": "0"})
    assert response.status_code == 200, response.text
    if count is not None:
        assert len(response.json()["data"]) == count


@pytest.mark.parametrize(
    "day", ["²⁰²⁴-⁰¹-⁰¹", "2024-02-30", "2024-1-01", "\uff12\uff10\uff12\uff14-01-01"]
)
def test_usage_days_are_real_ascii_dates(clients, day: str):
    response = clients["/admin"].get("/admin/usage", params={"since": day})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "since"


def test_admin_keys_page_with_limit_and_after(admin: httpx.Client):
    project = f"ints-{secrets.token_hex(5)}"
    made = [new_project_key(admin, project) for _ in range(3)]
    listed = admin.get("/admin/keys", params={"project": project}).json()
    assert len(listed["data"]) == len(made) and listed["has_more"] is False
    first = admin.get("/admin/keys", params={"project": project, "limit": 2}).json()
    assert [k["id"] for k in first["data"]] == [k["id"] for k in listed["data"][:2]]
    assert first["has_more"] is True and first["last_id"] == listed["data"][1]["id"]
    rest = admin.get(
        "/admin/keys", params={"project": project, "limit": 2, "after": first["last_id"]}
    ).json()
    assert [k["id"] for k in rest["data"]] == [listed["data"][2]["id"]]
    assert rest["has_more"] is False
