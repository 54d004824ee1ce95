"""Tenant isolation over every /v1 route.

Project P2 aims every registered /v1 route at project P1's objects. Each such request is a 404
whose response equals, byte for byte apart from the ids and the request id, the one for a random
id that never existed (no existence oracle). Lists never show another project's objects, and P1's
objects are unchanged afterwards. ``MATRIX`` names every route; a test fails when the app
registers a /v1 route that the matrix does not cover, so a new router cannot skip this suite.

Runs and run steps are children of a thread (and steps of a run): another project's run or step
id, or a run addressed through the wrong thread, is a 404 identical to a missing id. Each project
gets a completed run (streamed to its end, so no run is left executing) with one step.

Files are uploaded (multipart), vector stores hold them (their store files and batches are
children of the store), and references in bodies (a file id in a store, a batch, an attachment;
a store or file id in ``tool_resources``) are checked like path ids: another project's is
answered exactly like one that never existed.
"""

import json
import re
import secrets
import string
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import new_project_key
from threadline.api.gateway_routes import PASSTHROUGH_ONLY
from threadline.app import create_app
from threadline.settings import Settings

REQUEST_ID = "x-threadline-request-id"
VOLATILE_HEADERS = {"date", REQUEST_ID}


@dataclass(frozen=True)
class Cell:
    """How a route is attacked: ``object`` addresses P1's objects through its path ids; ``create``
    makes a P2 object that P1 must not see; ``create_run`` (create thread and run) must not use
    P1's assistant and makes a thread and run P1 must not see; ``list`` must not show P1's
    objects; ``public`` holds no project data at all. ``{param}`` in a body string is filled like
    a path parameter."""

    kind: str
    body: dict[str, Any] | None = None


MODIFY = {"metadata": {"written_by": "p2"}}
MESSAGE = {"role": "user", "content": "from p2"}
RUN = {"assistant_id": "{assistant_id}"}
OUTPUTS = {"tool_outputs": [{"tool_call_id": "call_p2", "output": "from p2"}]}
STORE = "/v1/vector_stores/{vector_store_id}"
CONVERSATION = "/v1/conversations/{conversation_id}"
NEXT_RESPONSE = {"input": "from p2", "previous_response_id": "{response_id}"}

MATRIX: dict[tuple[str, str], Cell] = {
    ("POST", "/v1/assistants"): Cell("create", {"model": "gpt-4o"}),
    ("GET", "/v1/assistants"): Cell("list"),
    ("GET", "/v1/assistants/{assistant_id}"): Cell("object"),
    ("POST", "/v1/assistants/{assistant_id}"): Cell("object", MODIFY),
    ("DELETE", "/v1/assistants/{assistant_id}"): Cell("object"),
    ("POST", "/v1/threads"): Cell("create", {"messages": [MESSAGE]}),
    ("GET", "/v1/threads/{thread_id}"): Cell("object"),
    ("POST", "/v1/threads/{thread_id}"): Cell("object", MODIFY),
    ("DELETE", "/v1/threads/{thread_id}"): Cell("object"),
    ("POST", "/v1/threads/{thread_id}/messages"): Cell("object", MESSAGE),
    ("GET", "/v1/threads/{thread_id}/messages"): Cell("object"),
    ("GET", "/v1/threads/{thread_id}/messages/{message_id}"): Cell("object"),
    ("POST", "/v1/threads/{thread_id}/messages/{message_id}"): Cell("object", MODIFY),
    ("DELETE", "/v1/threads/{thread_id}/messages/{message_id}"): Cell("object"),
    ("POST", "/v1/threads/runs"): Cell("create_run", RUN),
    ("POST", "/v1/threads/{thread_id}/runs"): Cell("object", RUN),
    ("GET", "/v1/threads/{thread_id}/runs"): Cell("object"),
    ("GET", "/v1/threads/{thread_id}/runs/{run_id}"): Cell("object"),
    ("POST", "/v1/threads/{thread_id}/runs/{run_id}"): Cell("object", MODIFY),
    ("POST", "/v1/threads/{thread_id}/runs/{run_id}/cancel"): Cell("object"),
    ("POST", "/v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs"): Cell("object", OUTPUTS),
    ("GET", "/v1/threads/{thread_id}/runs/{run_id}/steps"): Cell("object"),
    ("GET", "/v1/threads/{thread_id}/runs/{run_id}/steps/{step_id}"): Cell("object"),
    # A conversation is a thread, its message items are the thread's messages.
    ("POST", "/v1/conversations"): Cell("create", {"items": [MESSAGE]}),
    ("GET", "/v1/conversations/{conversation_id}"): Cell("object"),
    ("POST", "/v1/conversations/{conversation_id}"): Cell("object", MODIFY),
    ("DELETE", "/v1/conversations/{conversation_id}"): Cell("object"),
    ("POST", "/v1/conversations/{conversation_id}/items"): Cell("object", {"items": [MESSAGE]}),
    ("GET", "/v1/conversations/{conversation_id}/items"): Cell("object"),
    ("GET", f"{CONVERSATION}/items/{{item_id}}"): Cell("object"),
    ("DELETE", f"{CONVERSATION}/items/{{item_id}}"): Cell("object"),
    ("GET", "/v1/health"): Cell("public"),
    # The gateway's pass-through and model list: nothing stored, nothing of another project.
    ("POST", "/v1/chat/completions"): Cell(
        "stateless", {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
    ),
    ("POST", "/v1/embeddings"): Cell("stateless", {"model": "gpt-test", "input": "hi"}),
    # Anthropic's Messages API in front of the same models: stateless too.
    ("POST", "/v1/messages"): Cell(
        "stateless",
        {"model": "gpt-test", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]},
    ),
    ("POST", "/v1/messages/count_tokens"): Cell(
        "stateless", {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
    ),
    ("GET", "/v1/models"): Cell("stateless"),
    ("GET", "/v1/models/{model}"): Cell("stateless"),
    ("GET", "/v1/models/{model:path}"): Cell("stateless"),
    ("POST", "/v1/files"): Cell("upload"),
    ("GET", "/v1/files"): Cell("list"),
    ("GET", "/v1/files/{file_id}"): Cell("object"),
    ("DELETE", "/v1/files/{file_id}"): Cell("object"),
    ("GET", "/v1/files/{file_id}/content"): Cell("object"),
    ("POST", "/v1/vector_stores"): Cell("create", {"name": "p2"}),
    ("GET", "/v1/vector_stores"): Cell("list"),
    ("GET", "/v1/vector_stores/{vector_store_id}"): Cell("object"),
    ("POST", "/v1/vector_stores/{vector_store_id}"): Cell("object", MODIFY),
    ("DELETE", "/v1/vector_stores/{vector_store_id}"): Cell("object"),
    ("POST", "/v1/vector_stores/{vector_store_id}/search"): Cell("object", {"query": "secret"}),
    ("POST", f"{STORE}/files"): Cell("object", {"file_id": "{file_id}"}),
    ("GET", f"{STORE}/files"): Cell("object"),
    ("GET", f"{STORE}/files/{{file_id}}"): Cell("object"),
    ("POST", f"{STORE}/files/{{file_id}}"): Cell("object", {"attributes": {"by": "p2"}}),
    ("DELETE", f"{STORE}/files/{{file_id}}"): Cell("object"),
    ("GET", f"{STORE}/files/{{file_id}}/content"): Cell("object"),
    ("POST", f"{STORE}/file_batches"): Cell("object", {"file_ids": ["{file_id}"]}),
    ("GET", f"{STORE}/file_batches/{{batch_id}}"): Cell("object"),
    ("POST", f"{STORE}/file_batches/{{batch_id}}/cancel"): Cell("object"),
    ("GET", f"{STORE}/file_batches/{{batch_id}}/files"): Cell("object"),
    ("POST", "/v1/responses"): Cell("previous_response", {**NEXT_RESPONSE, "model": "gpt-test"}),
    ("POST", "/v1/responses/input_tokens"): Cell("previous_response", NEXT_RESPONSE),
    ("GET", "/v1/responses/{response_id}"): Cell("object"),
    ("DELETE", "/v1/responses/{response_id}"): Cell("object"),
    ("POST", "/v1/responses/{response_id}/cancel"): Cell("object"),
    ("GET", "/v1/responses/{response_id}/input_items"): Cell("object"),
}

# path parameter -> which of P1's objects fills it
PATH_PARAMS = {
    "assistant_id": "assistant",
    "thread_id": "thread",
    "message_id": "message",
    "run_id": "run",
    "step_id": "step",
    "file_id": "file",
    "vector_store_id": "vector_store",
    "batch_id": "batch",
    "conversation_id": "thread",
    "item_id": "message",
    "response_id": "response",
}
# child path parameter -> (its role, the path parameter of its parent): a message or run is under
# its thread, a step under its run, a store file or batch under its store
CHILDREN = {
    "message_id": ("message", "thread_id"),
    "run_id": ("run", "thread_id"),
    "step_id": ("step", "run_id"),
    "file_id": ("file", "vector_store_id"),
    "batch_id": ("batch", "vector_store_id"),
    "item_id": ("message", "conversation_id"),
}


def registered_v1_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every /v1 route, from the router (hidden routes too) and the schema."""
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI with nested included routers

        routes: Any = list(iter_route_contexts(app.routes))
    except ImportError:  # pragma: no cover - older FastAPI keeps a flat list
        routes = app.routes
    found = {
        (method, route.path)
        for route in routes
        for method in (getattr(route, "methods", None) or ())
        if (getattr(route, "path", None) or "").startswith("/v1") and method != "HEAD"
    }
    for path, operations in app.openapi()["paths"].items():
        if path.startswith("/v1"):
            found |= {(method.upper(), path) for method in operations}
    # Routes only pass-through projects reach (forwarded upstream, nothing stored here): every
    # other project gets the 404 of an unknown URL (tests/api/test_errors.py).
    return {(method, path) for method, path in found if path not in PASSTHROUGH_ONLY}


def fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda match: ids[PATH_PARAMS[match.group(1)]], path)


def fill_body(body: Any, ids: dict[str, str]) -> Any:
    """``body`` with ``{param}`` placeholders in its strings filled from ``ids``."""
    if isinstance(body, dict):
        return {key: fill_body(value, ids) for key, value in body.items()}
    if isinstance(body, list):
        return [fill_body(value, ids) for value in body]
    return fill(body, ids) if isinstance(body, str) else body


def sse(text: str) -> list[tuple[str, Any]]:
    """(event, data) of a server-sent event stream; ``data`` parsed unless it is [DONE]."""
    events = []
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        fields = dict(line.split(": ", 1) for line in lines)
        if "event" in fields:
            data = fields.get("data", "")
            events.append((fields["event"], data if data == "[DONE]" else json.loads(data)))
    return events


def streamed_run(http: httpx.Client, path: str, body: dict[str, Any]) -> list[tuple[str, Any]]:
    """Create a run with ``stream: true`` and read its events to the end (it has finished)."""
    response = http.post(path, json={**body, "stream": True})
    assert response.status_code == 200, response.text
    events = sse(response.text)
    assert events[-2][0] == "thread.run.completed", events[-2]
    return events


def lookalike(object_id: str) -> str:
    """A random id with the same prefix and length, which no object has."""
    prefix = re.match(r"^[a-z]+[_-]", object_id)
    head = prefix.group(0) if prefix else ""
    alphabet = string.ascii_lowercase + string.digits
    return head + "".join(secrets.choice(alphabet) for _ in range(len(object_id) - len(head)))


def comparable(response: httpx.Response, ids: dict[str, str]) -> tuple[Any, ...]:
    """Status, stable headers and body, with ``ids`` replaced by their role names."""
    body = response.text
    for role, object_id in ids.items():
        body = body.replace(object_id, f"<{role}>")
    headers = sorted(
        (name, value) for name, value in response.headers.items() if name not in VOLATILE_HEADERS
    )
    return response.status_code, headers, body


# --- fixtures ---------------------------------------------------------------------------------


@dataclass
class Project:
    http: httpx.Client
    project_id: str


@pytest.fixture
def make_project(server_url: str, admin: httpx.Client, upstream: Any) -> Iterator[Any]:
    """Projects on the server (runs are answered by the scripted upstream's default reply)."""
    clients: list[httpx.Client] = []

    def make() -> Project:
        name = f"iso-{secrets.token_hex(6)}"
        key = new_project_key(admin, name)
        [view] = admin.get("/admin/keys", params={"project": name}).json()["data"]
        client = httpx.Client(
            base_url=server_url,
            headers={"Authorization": f"Bearer {key}", "OpenAI-Beta": "assistants=v2"},
            timeout=30,
        )
        clients.append(client)
        return Project(client, view["project_id"])

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def p1(make_project: Any) -> Project:
    return make_project()  # type: ignore[no-any-return]


@pytest.fixture
def p2(make_project: Any) -> Project:
    return make_project()  # type: ignore[no-any-return]


def create_objects(project: Project) -> dict[str, str]:
    http = project.http
    file = http.post(
        "/v1/files",
        files={"file": ("secret.txt", b"the secret recipe of this project")},
        data={"purpose": "assistants"},
    ).json()["id"]
    store = http.post("/v1/vector_stores", json={"name": "mine"}).json()["id"]
    batch = http.post(f"/v1/vector_stores/{store}/file_batches", json={"file_ids": [file]})
    batch_id = batch.json()["id"]
    deadline = time.monotonic() + 20
    while batch.json()["status"] == "in_progress" and time.monotonic() < deadline:
        time.sleep(0.05)
        batch = http.get(f"/v1/vector_stores/{store}/file_batches/{batch_id}")
    assistant = http.post(
        "/v1/assistants", json={"model": "gpt-4o", "name": "mine", "metadata": {"k": "v"}}
    ).json()["id"]
    thread = http.post(
        "/v1/threads",
        json={"metadata": {"k": "v"}, "messages": [{"role": "user", "content": "first"}]},
    ).json()["id"]
    message = http.post(
        f"/v1/threads/{thread}/messages", json={"role": "user", "content": "second"}
    ).json()["id"]
    events = streamed_run(http, f"/v1/threads/{thread}/runs", {"assistant_id": assistant})
    run = events[0][1]["id"]
    [step] = http.get(f"/v1/threads/{thread}/runs/{run}/steps").json()["data"]
    response = http.post("/v1/responses", json={"model": "gpt-test", "input": "mine"})
    assert response.status_code == 200, response.text
    return {
        "response": response.json()["id"],
        "assistant": assistant,
        "thread": thread,
        "message": message,
        "run": run,
        "step": step["id"],
        "file": file,
        "vector_store": store,
        "batch": batch_id,
    }


@pytest.fixture
def p1_objects(p1: Project) -> dict[str, str]:
    return create_objects(p1)


def snapshot(project: Project, ids: dict[str, str]) -> dict[str, Any]:
    """Everything the owner can see of its objects."""
    http = project.http
    thread = f"/v1/threads/{ids['thread']}"
    run = f"{thread}/runs/{ids['run']}"
    store = f"/v1/vector_stores/{ids['vector_store']}"
    views = {
        "assistant": http.get(f"/v1/assistants/{ids['assistant']}"),
        "assistants": http.get("/v1/assistants", params={"limit": 100}),
        "thread": http.get(thread),
        "messages": http.get(f"{thread}/messages", params={"limit": 100}),
        "message": http.get(f"{thread}/messages/{ids['message']}"),
        "runs": http.get(f"{thread}/runs", params={"limit": 100}),
        "run": http.get(run),
        "steps": http.get(f"{run}/steps", params={"limit": 100}),
        "step": http.get(f"{run}/steps/{ids['step']}"),
        "file": http.get(f"/v1/files/{ids['file']}"),
        "files": http.get("/v1/files"),
        "store": http.get(store),
        "stores": http.get("/v1/vector_stores", params={"limit": 100}),
        "store_files": http.get(f"{store}/files", params={"limit": 100}),
        "store_file": http.get(f"{store}/files/{ids['file']}"),
        "batch": http.get(f"{store}/file_batches/{ids['batch']}"),
        "batch_files": http.get(f"{store}/file_batches/{ids['batch']}/files"),
        "parsed": http.get(f"{store}/files/{ids['file']}/content"),
        "response": http.get(f"/v1/responses/{ids['response']}"),
        "input_items": http.get(f"/v1/responses/{ids['response']}/input_items"),
    }
    assert all(view.status_code == 200 for view in views.values())
    content = http.get(f"/v1/files/{ids['file']}/content")
    assert content.status_code == 200
    return {"content": content.content, **{name: view.json() for name, view in views.items()}}


# --- the matrix -------------------------------------------------------------------------------


def test_every_registered_v1_route_has_a_matrix_entry(tmp_path: Path):
    app = create_app(
        Settings(data_dir=tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db"),
        migrate=False,
    )
    registered = registered_v1_routes(app)
    assert registered, "no /v1 routes found: the route enumeration is broken"
    assert registered - set(MATRIX) == set(), "routes missing from MATRIX"
    assert set(MATRIX) - registered == set(), "MATRIX names routes the app does not have"


def routes_of(kind: str, *, needing: str = "") -> Any:
    """The matrix routes of one kind, as a parametrize decorator over (method, path)."""
    routes = [route for route, cell in MATRIX.items() if cell.kind == kind and needing in route[1]]
    return pytest.mark.parametrize(
        ("method", "path"), routes, ids=[f"{method} {path}" for method, path in routes]
    )


@routes_of("object")
def test_foreign_object_is_a_404_identical_to_a_missing_one(
    p1: Project, p2: Project, p1_objects: dict[str, str], method: str, path: str
):
    body = MATRIX[(method, path)].body
    before = snapshot(p1, p1_objects)
    missing_ids = {role: lookalike(object_id) for role, object_id in p1_objects.items()}

    foreign = p2.http.request(method, fill(path, p1_objects), json=fill_body(body, p1_objects))
    missing = p2.http.request(method, fill(path, missing_ids), json=fill_body(body, missing_ids))

    assert foreign.status_code == 404, foreign.text
    assert foreign.headers.get(REQUEST_ID)
    assert comparable(foreign, p1_objects) == comparable(missing, missing_ids)
    assert snapshot(p1, p1_objects) == before


def child_routes() -> Any:
    """(method, path, child) for each object route and each child id in its path under its
    parent (a step route is attacked through its run id and through its step id), as a
    parametrize decorator."""
    cases = [
        (method, path, role)
        for (method, path), cell in MATRIX.items()
        if cell.kind == "object"
        for param, (role, parent) in CHILDREN.items()
        if f"{{{param}}}" in path and f"{{{parent}}}" in path
    ]
    return pytest.mark.parametrize(
        ("method", "path", "child"),
        cases,
        ids=[f"{method} {path} [{child}]" for method, path, child in cases],
    )


@child_routes()
def test_foreign_child_in_own_parent_is_a_404_identical_to_a_missing_one(
    p1: Project, p2: Project, p1_objects: dict[str, str], method: str, path: str, child: str
):
    """P1's message, run or step id under P2's own thread (and run)."""
    body = MATRIX[(method, path)].body
    before = snapshot(p1, p1_objects)
    own = create_objects(p2)
    foreign_ids = {**own, child: p1_objects[child]}
    missing_ids = {**own, child: lookalike(p1_objects[child])}

    foreign = p2.http.request(method, fill(path, foreign_ids), json=fill_body(body, foreign_ids))
    missing = p2.http.request(method, fill(path, missing_ids), json=fill_body(body, missing_ids))

    assert foreign.status_code == 404, foreign.text
    assert comparable(foreign, {child: p1_objects[child]}) == comparable(
        missing, {child: missing_ids[child]}
    )
    assert snapshot(p1, p1_objects) == before


@child_routes()
def test_child_under_the_wrong_parent_of_the_same_project_is_a_404(
    p1: Project, p1_objects: dict[str, str], method: str, path: str, child: str
):
    """A message or run addressed through another thread, a step through another run, a store
    file or batch through another store."""
    body = MATRIX[(method, path)].body
    thread = p1_objects["thread"]
    if child in ("file", "batch"):
        other_store = p1.http.post("/v1/vector_stores", json={}).json()["id"]
        wrong_parent = {**p1_objects, "vector_store": other_store}
    elif child == "step":
        events = streamed_run(
            p1.http, f"/v1/threads/{thread}/runs", {"assistant_id": p1_objects["assistant"]}
        )
        wrong_parent = {**p1_objects, "run": events[0][1]["id"]}
    else:
        wrong_parent = {**p1_objects, "thread": p1.http.post("/v1/threads", json={}).json()["id"]}
    before = snapshot(p1, p1_objects)
    missing_ids = {**wrong_parent, child: lookalike(p1_objects[child])}

    response = p1.http.request(method, fill(path, wrong_parent), json=fill_body(body, wrong_parent))
    missing = p1.http.request(method, fill(path, missing_ids), json=fill_body(body, missing_ids))

    assert response.status_code == 404, response.text
    assert comparable(response, {child: p1_objects[child]}) == comparable(
        missing, {child: missing_ids[child]}
    )
    assert snapshot(p1, p1_objects) == before
    if child in ("message", "run"):
        other = f"/v1/threads/{wrong_parent['thread']}"
        assert p1.http.get(f"{other}/messages").json()["data"] == []
        assert p1.http.get(f"{other}/runs").json()["data"] == []


def test_run_on_a_foreign_thread_is_a_404_identical_to_a_missing_thread(
    p1: Project, p2: Project, p1_objects: dict[str, str]
):
    """P2's own assistant on P1's thread: the thread is unknown to P2, and stays unlocked."""
    before = snapshot(p1, p1_objects)
    assistant = p2.http.post("/v1/assistants", json={"model": "gpt-4o"}).json()["id"]
    thread, fake = p1_objects["thread"], lookalike(p1_objects["thread"])

    foreign = p2.http.post(f"/v1/threads/{thread}/runs", json={"assistant_id": assistant})
    missing = p2.http.post(f"/v1/threads/{fake}/runs", json={"assistant_id": assistant})

    assert foreign.status_code == 404, foreign.text
    assert comparable(foreign, {"thread": thread}) == comparable(missing, {"thread": fake})
    assert snapshot(p1, p1_objects) == before
    added = p1.http.post(f"/v1/threads/{thread}/messages", json={"role": "user", "content": "ok"})
    assert added.status_code == 200, added.text


@routes_of("previous_response")
def test_a_foreign_previous_response_is_refused_like_a_missing_one(
    p1: Project, p2: Project, p1_objects: dict[str, str], method: str, path: str
):
    body = MATRIX[(method, path)].body
    before = snapshot(p1, p1_objects)
    missing_ids = {**p1_objects, "response": lookalike(p1_objects["response"])}

    foreign = p2.http.request(method, path, json=fill_body(body, p1_objects))
    missing = p2.http.request(method, path, json=fill_body(body, missing_ids))

    assert foreign.status_code == 400, foreign.text
    assert foreign.json()["error"]["code"] == "previous_response_not_found"
    assert comparable(foreign, p1_objects) == comparable(missing, missing_ids)
    assert snapshot(p1, p1_objects) == before


@routes_of("create_run")
def test_create_thread_and_run_is_isolated(
    p1: Project, p2: Project, p1_objects: dict[str, str], method: str, path: str
):
    body = MATRIX[(method, path)].body
    before = snapshot(p1, p1_objects)
    missing_ids = {**p1_objects, "assistant": lookalike(p1_objects["assistant"])}

    foreign = p2.http.request(method, path, json=fill_body(body, p1_objects))
    missing = p2.http.request(method, path, json=fill_body(body, missing_ids))

    assert foreign.status_code == 404, foreign.text
    assert comparable(foreign, p1_objects) == comparable(missing, missing_ids)

    own = p2.http.post("/v1/assistants", json={"model": "gpt-4o"}).json()["id"]
    events = streamed_run(p2.http, path, fill_body(body, {"assistant": own}))
    assert events[0][0] == "thread.created"
    thread, run = events[0][1]["id"], events[-2][1]["id"]
    assert "project_id" not in json.dumps([data for _, data in events])
    assert p2.http.get(f"/v1/threads/{thread}/runs/{run}").status_code == 200
    for url in (f"/v1/threads/{thread}", f"/v1/threads/{thread}/runs/{run}"):
        assert p1.http.get(url).status_code == 404
    assert p1.http.get(f"/v1/threads/{thread}/runs").status_code == 404
    assert snapshot(p1, p1_objects) == before


@routes_of("create")
def test_created_objects_are_invisible_to_other_projects(
    p1: Project, p2: Project, p1_objects: dict[str, str], method: str, path: str
):
    before = snapshot(p1, p1_objects)
    created = p2.http.request(method, path, json=MATRIX[(method, path)].body)
    assert created.status_code == 200, created.text
    object_id = created.json()["id"]
    assert "project_id" not in created.json()

    assert p2.http.get(f"{path}/{object_id}").status_code == 200
    error = p1.http.get(f"{path}/{object_id}")
    assert error.status_code == 404
    assert object_id not in p1.http.get("/v1/assistants", params={"limit": 100}).text
    assert snapshot(p1, p1_objects) == before


@routes_of("upload")
def test_uploaded_files_are_invisible_to_other_projects(
    p1: Project, p2: Project, p1_objects: dict[str, str], method: str, path: str
):
    before = snapshot(p1, p1_objects)
    created = p2.http.request(
        method, path, files={"file": ("p2.txt", b"from p2")}, data={"purpose": "assistants"}
    )
    assert created.status_code == 200, created.text
    file_id = created.json()["id"]
    assert "project_id" not in created.json()

    assert p2.http.get(f"{path}/{file_id}").status_code == 200
    for url in (f"{path}/{file_id}", f"{path}/{file_id}/content"):
        assert p1.http.get(url).status_code == 404
    assert file_id not in p1.http.get(path).text
    assert snapshot(p1, p1_objects) == before


# Requests of P2 that name one of P1's objects inside the body; {own_store}, {own_thread} are
# P2's, {target} is P1's object (or a lookalike id that never existed).
INDIRECT = {
    "store from files": ("POST", "/v1/vector_stores", {"file_ids": ["{target}"]}, "file"),
    "store file": ("POST", "/v1/vector_stores/{own_store}/files", {"file_id": "{target}"}, "file"),
    "batch": (
        "POST",
        "/v1/vector_stores/{own_store}/file_batches",
        {"file_ids": ["{target}"]},
        "file",
    ),
    "batch files": (
        "POST",
        "/v1/vector_stores/{own_store}/file_batches",
        {"files": [{"file_id": "{target}"}]},
        "file",
    ),
    "attachment": (
        "POST",
        "/v1/threads/{own_thread}/messages",
        {**MESSAGE, "attachments": [{"file_id": "{target}", "tools": [{"type": "file_search"}]}]},
        "file",
    ),
    "image content": (
        "POST",
        "/v1/threads/{own_thread}/messages",
        {
            "role": "user",
            "content": [{"type": "image_file", "image_file": {"file_id": "{target}"}}],
        },
        "file",
    ),
    "thread messages attachment": (
        "POST",
        "/v1/threads",
        {"messages": [{**MESSAGE, "attachments": [{"file_id": "{target}", "tools": []}]}]},
        "file",
    ),
    "assistant code files": (
        "POST",
        "/v1/assistants",
        {"model": "gpt-4o", "tool_resources": {"code_interpreter": {"file_ids": ["{target}"]}}},
        "file",
    ),
    "assistant stores": (
        "POST",
        "/v1/assistants",
        {"model": "gpt-4o", "tool_resources": {"file_search": {"vector_store_ids": ["{target}"]}}},
        "vector_store",
    ),
    "assistant store helper": (
        "POST",
        "/v1/assistants",
        {
            "model": "gpt-4o",
            "tool_resources": {"file_search": {"vector_stores": [{"file_ids": ["{target}"]}]}},
        },
        "file",
    ),
    "thread stores": (
        "POST",
        "/v1/threads/{own_thread}",
        {"tool_resources": {"file_search": {"vector_store_ids": ["{target}"]}}},
        "vector_store",
    ),
}


@pytest.mark.parametrize(("method", "path", "body", "role"), INDIRECT.values(), ids=INDIRECT)
def test_foreign_object_in_a_body_is_answered_like_a_missing_one(
    p1: Project, p2: Project, p1_objects: dict[str, str], method, path, body, role
):
    before = snapshot(p1, p1_objects)
    own = {
        "{own_store}": p2.http.post("/v1/vector_stores", json={}).json()["id"],
        "{own_thread}": p2.http.post("/v1/threads", json={}).json()["id"],
    }
    for placeholder, value in own.items():
        path = path.replace(placeholder, value)
    target, fake = p1_objects[role], lookalike(p1_objects[role])

    def send(object_id: str) -> httpx.Response:
        filled = json.loads(json.dumps(body).replace("{target}", object_id))
        return p2.http.request(method, path, json=filled)

    foreign, missing = send(target), send(fake)

    assert foreign.status_code in (400, 404), foreign.text
    assert comparable(foreign, {role: target}) == comparable(missing, {role: fake})
    assert snapshot(p1, p1_objects) == before
    own_store = p2.http.get(f"/v1/vector_stores/{own['{own_store}']}").json()
    assert own_store["file_counts"]["total"] == 0
    assert p2.http.get(f"/v1/threads/{own['{own_thread}']}/messages").json()["data"] == []


@routes_of("list")
def test_lists_never_contain_foreign_objects(
    p1: Project, p2: Project, p1_objects: dict[str, str], method: str, path: str
):
    own = create_objects(p2)
    pages = [p2.http.request(method, path, params={"limit": 100})]
    for cursor in p1_objects.values():
        for direction in ("after", "before"):
            pages.append(p2.http.request(method, path, params={direction: cursor, "limit": 100}))
    for page in pages:
        assert page.status_code == 200, page.text
        for object_id in p1_objects.values():
            assert object_id not in page.text
    assert {item["id"] for item in pages[0].json()["data"]} <= set(own.values())


@routes_of("public")
def test_public_routes_hold_no_project_data(
    p1: Project, p2: Project, p1_objects: dict[str, str], method: str, path: str
):
    response = p2.http.request(method, path)
    assert response.status_code == 200
    for value in [*p1_objects.values(), p1.project_id]:
        assert value not in response.text


@routes_of("stateless")
def test_stateless_routes_hold_no_project_data(
    p1: Project, p2: Project, p1_objects: dict[str, str], method: str, path: str
):
    url = re.sub(r"\{model(:path)?\}", "gpt-test", path)
    response = p2.http.request(method, url, json=MATRIX[(method, path)].body)
    assert response.status_code == 200, response.text
    for value in [*p1_objects.values(), p1.project_id]:
        assert value not in response.text


# --- beyond the matrix ------------------------------------------------------------------------


def test_message_lists_show_only_the_threads_own_messages(p1: Project, p2: Project):
    mine, theirs = create_objects(p1), create_objects(p2)
    for project, own, other in ((p1, mine, theirs), (p2, theirs, mine)):
        page = project.http.get(f"/v1/threads/{own['thread']}/messages", params={"limit": 100})
        assert own["message"] in {m["id"] for m in page.json()["data"]}
        assert all(m["thread_id"] == own["thread"] for m in page.json()["data"])
        for cursor in other.values():
            for direction in ("after", "before"):
                cursor_page = project.http.get(
                    f"/v1/threads/{own['thread']}/messages", params={direction: cursor}
                )
                assert cursor_page.status_code in (200, 400)
                assert other["message"] not in cursor_page.text


@pytest.mark.parametrize("header", ["OpenAI-Project", "OpenAI-Organization"])
def test_openai_project_headers_cannot_switch_projects(p1: Project, p2: Project, header: str):
    mine = create_objects(p1)
    spoof = {header: p1.project_id}
    created = p2.http.post("/v1/assistants", json={"model": "gpt-4o"}, headers=spoof).json()
    assert p1.http.get(f"/v1/assistants/{created['id']}").status_code == 404
    assert p2.http.get(f"/v1/assistants/{mine['assistant']}", headers=spoof).status_code == 404
    listed = p2.http.get("/v1/assistants", headers=spoof).json()["data"]
    assert [item["id"] for item in listed] == [created["id"]]


def test_responses_never_name_the_project(p1: Project):
    ids = create_objects(p1)
    thread = f"/v1/threads/{ids['thread']}"
    responses = [
        p1.http.get(f"/v1/assistants/{ids['assistant']}"),
        p1.http.get("/v1/assistants"),
        p1.http.get(thread),
        p1.http.get(f"{thread}/messages"),
        p1.http.post(f"{thread}/messages/{ids['message']}", json=MODIFY),
        p1.http.get(f"{thread}/runs"),
        p1.http.post(f"{thread}/runs/{ids['run']}", json=MODIFY),
        p1.http.get(f"{thread}/runs/{ids['run']}/steps"),
        p1.http.get(f"{thread}/runs/{ids['run']}/steps/{ids['step']}"),
        p1.http.get(f"/v1/files/{ids['file']}"),
        p1.http.get("/v1/files"),
        p1.http.get(f"/v1/vector_stores/{ids['vector_store']}"),
        p1.http.get(f"/v1/vector_stores/{ids['vector_store']}/files"),
        p1.http.get(f"/v1/vector_stores/{ids['vector_store']}/file_batches/{ids['batch']}"),
        p1.http.post(f"/v1/vector_stores/{ids['vector_store']}/search", json={"query": "recipe"}),
        p1.http.delete(f"/v1/assistants/{ids['assistant']}"),
    ]
    for response in responses:
        assert response.status_code == 200
        assert p1.project_id not in response.text
        assert "project_id" not in response.text
