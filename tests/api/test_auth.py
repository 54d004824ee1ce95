"""Authentication, the admin key API, and mass assignment.

Every credential that is not a live project key gets a 401 in OpenAI's shape (``invalid_api_key``
where a key was presented), never a 200 or a 500; revocation is immediate; the master key and
project keys never stand in for each other; the admin API never shows a secret or its hash; and
read-only fields (``id``, ``object``, ``created_at``, ``project_id``…) cannot be written.
"""

import hashlib
import json
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import MASTER_KEY, new_project_key

REQUEST_ID = "x-threadline-request-id"
KEY_PREFIX = "sk-tl-"


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    assert response.headers.get(REQUEST_ID)
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"]
    assert error["type"] in ("invalid_request_error", "authentication_error")
    return error  # type: ignore[no-any-return]


# No key at all: OpenAI answers code null. ``test_missing_key_error_is_openais`` pins that; the
# other no-key tests only require a 401 in the right shape.
NO_KEY = (None, "invalid_api_key")


def unauthorized(
    response: httpx.Response, code: str | tuple[str | None, ...] | None = "invalid_api_key"
) -> dict[str, Any]:
    error = error_of(response, 401)
    assert error["code"] in (code if isinstance(code, tuple) else (code,)), error
    return error


@pytest.fixture(scope="module")
def raw(server_url: str) -> Iterator[httpx.Client]:
    """HTTP with no credentials at all; each test sets its own Authorization."""
    with httpx.Client(base_url=server_url, timeout=30) as client:
        yield client


def bearer(token: str | bytes) -> dict[str, Any]:
    prefix = b"Bearer " if isinstance(token, bytes) else "Bearer "
    return {"Authorization": prefix + token}  # type: ignore[operator]


PROTECTED = [
    ("GET", "/v1/assistants"),
    ("POST", "/v1/assistants"),
    ("GET", "/v1/assistants/asst_x"),
    ("POST", "/v1/threads"),
    ("GET", "/v1/threads/thread_x/messages"),
    ("DELETE", "/v1/threads/thread_x/messages/msg_x"),
]
ADMIN = [("GET", "/admin/keys"), ("POST", "/admin/keys"), ("DELETE", "/admin/keys/key_x")]


# --- missing and malformed credentials --------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), PROTECTED + ADMIN)
def test_no_authorization_is_401(raw, method: str, path: str):
    error = unauthorized(raw.request(method, path, json={}), code=NO_KEY)
    assert "key" in error["message"].lower()


def test_missing_key_error_is_openais(raw):
    """OpenAI: 401 ``{"message": "You didn't provide an API key. …", "type":
    "invalid_request_error", "param": null, "code": null}``."""
    error = unauthorized(raw.get("/v1/assistants"), code=None)
    assert error["type"] == "invalid_request_error"
    assert error["param"] is None
    assert error["message"].startswith("You didn't provide an API key.")


BAD_HEADERS: dict[str, dict[str, Any]] = {
    "bearer-without-token": {"Authorization": "Bearer"},
    "bearer-two-tokens": {"Authorization": "Bearer sk-tl-a sk-tl-b"},
    "basic": {"Authorization": "Basic xyz"},
    "basic-with-a-key-shape": {"Authorization": "Basic sk-tl-" + "a" * 32},
    "no-scheme": {"Authorization": "sk-tl-" + "a" * 32},
    "sql-or": bearer("' OR '1'='1"),
    "sql-comment": bearer('x" --'),
    "sql-union": bearer("x' UNION SELECT key_hash FROM api_keys --"),
    "like-wildcard": bearer("sk-tl-%"),
    "10kb": bearer("sk-tl-" + "a" * 10_240),
    "non-ascii-latin1": bearer("sk-tl-é".encode("latin-1") + b"\xff" * 28),
    "non-ascii-utf8": bearer("sk-tl-ключ".encode()),
    "key-shaped-random": bearer(KEY_PREFIX + secrets.token_urlsafe(24)[:32]),
    "nul-escaped": bearer("sk-tl-%00"),
}


@pytest.mark.parametrize("headers", BAD_HEADERS.values(), ids=BAD_HEADERS.keys())
@pytest.mark.parametrize(("method", "path"), [PROTECTED[0], PROTECTED[1], ADMIN[0]])
def test_malformed_or_unknown_credentials_are_401(raw, headers, method: str, path: str):
    unauthorized(raw.request(method, path, headers=headers, json={"model": "gpt-4o"}))


def test_401_never_echoes_the_presented_key(raw):
    key = KEY_PREFIX + secrets.token_hex(16)
    error = unauthorized(raw.get("/v1/assistants", headers=bearer(key)))
    assert key not in error["message"]
    assert key[len(KEY_PREFIX) : -4] not in json.dumps(error)


def test_key_in_the_query_string_is_not_accepted(raw, api_key: str):
    response = raw.get("/v1/assistants", params={"api_key": api_key, "key": api_key})
    unauthorized(response, code=NO_KEY)


@pytest.mark.parametrize("order", ["valid-first", "invalid-first"])
def test_two_authorization_headers_are_401(raw, api_key: str, order: str):
    """Two credentials are ambiguous (a proxy may read the other one): refuse, don't pick one."""
    values = [f"Bearer {api_key}", "Bearer sk-tl-wrong"]
    if order == "invalid-first":
        values.reverse()
    headers = [("Authorization", value) for value in values]
    response = raw.get("/v1/assistants", headers=headers)
    assert response.status_code == 401, response.text
    error_of(response, 401)


def test_authentication_comes_before_body_parsing_and_lookups(raw):
    """No existence oracle and no parser exposure without a key."""
    malformed = raw.post(
        "/v1/assistants", content=b'{"model": ', headers={"Content-Type": "application/json"}
    )
    unauthorized(malformed, code=NO_KEY)
    unauthorized(raw.get("/v1/assistants/asst_nope"), code=NO_KEY)
    unauthorized(raw.post("/v1/assistants", json={"bogus": 1}, headers=bearer("sk-tl-nope")))


def test_scheme_is_case_insensitive(raw, api_key: str):
    response = raw.get("/v1/assistants", headers={"Authorization": f"bearer {api_key}"})
    assert response.status_code == 200, response.text


# --- revocation -------------------------------------------------------------------------------


def test_revoked_key_is_refused_at_once(raw, admin):
    project = f"auth-{secrets.token_hex(6)}"
    created = admin.post("/admin/keys", json={"project": project, "name": "doomed"}).json()
    survivor = new_project_key(admin, project)
    key = bearer(created["key"])
    assert raw.get("/v1/assistants", headers=key).status_code == 200  # now cached as valid

    revoked = admin.delete(f"/admin/keys/{created['id']}")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None

    unauthorized(raw.get("/v1/assistants", headers=key))
    unauthorized(raw.post("/v1/threads", json={}, headers=key))
    assert admin.get(f"/admin/keys/{created['id']}").json()["revoked_at"] is not None
    assert raw.get("/v1/assistants", headers=bearer(survivor)).status_code == 200


def test_revoking_twice_or_an_unknown_key_never_revives_or_errors(admin, raw):
    created = admin.post("/admin/keys", json={"project": "auth-twice"}).json()
    assert admin.delete(f"/admin/keys/{created['id']}").status_code == 200
    again = admin.delete(f"/admin/keys/{created['id']}")
    assert again.status_code in (200, 404), again.text
    unauthorized(raw.get("/v1/assistants", headers=bearer(created["key"])))
    assert error_of(admin.delete("/admin/keys/key_nope"), 404)


# --- master key and project keys never stand in for each other ---------------------------------


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_master_key_is_refused_on_v1(raw, method: str, path: str):
    unauthorized(raw.request(method, path, headers=bearer(MASTER_KEY), json={}))


@pytest.mark.parametrize(
    ("method", "path"), [*ADMIN, ("GET", "/admin/keys/key_x"), ("GET", "/admin/usage")]
)
def test_project_key_is_refused_on_admin(raw, api_key: str, method: str, path: str):
    body = {"project": "escalated"} if method == "POST" else None
    unauthorized(raw.request(method, path, headers=bearer(api_key), json=body))


def test_master_key_variants_are_refused_on_admin(raw):
    for token in (MASTER_KEY[:-1], MASTER_KEY + "x", MASTER_KEY.upper(), f" {MASTER_KEY}x"):
        unauthorized(raw.get("/admin/keys", headers=bearer(token)))


def test_health_needs_no_key(raw):
    assert raw.get("/healthz").status_code == 200
    assert raw.get("/v1/health").status_code == 200


# --- the admin key API ------------------------------------------------------------------------


def secret_leaks(text: str, secret: str) -> list[str]:
    """Pieces of ``secret`` found in ``text``: the whole, its hash, or any 6 characters of its
    random part outside the last 4 (the most a hint may show)."""
    random_part = secret[len(KEY_PREFIX) :]
    leaks = [
        piece for piece in (secret, hashlib.sha256(secret.encode()).hexdigest()) if piece in text
    ]
    hidden = random_part[:-4]
    leaks += [hidden[i : i + 6] for i in range(len(hidden) - 5) if hidden[i : i + 6] in text]
    return leaks


def test_admin_views_never_show_the_secret_or_its_hash(admin):
    project = f"auth-{secrets.token_hex(6)}"
    created = admin.post("/admin/keys", json={"project": project, "name": "n"}).json()
    secret = created["key"]
    assert secret.startswith(KEY_PREFIX)
    assert created["hint"].endswith(secret[-4:])

    views = {
        "list": admin.get("/admin/keys"),
        "list-project": admin.get("/admin/keys", params={"project": project}),
        "get": admin.get(f"/admin/keys/{created['id']}"),
        "revoke": admin.delete(f"/admin/keys/{created['id']}"),
    }
    for name, response in views.items():
        assert response.status_code == 200, (name, response.text)
        assert secret_leaks(response.text, secret) == [], name
    for view in views["list"].json()["data"]:
        assert {"key", "key_hash", "hash", "secret"}.isdisjoint(view)
    created_view = {k: v for k, v in created.items() if k != "key"}
    assert secret_leaks(json.dumps(created_view), secret) == []


def test_admin_list_shows_the_contract_fields(admin):
    project = f"auth-{secrets.token_hex(6)}"
    created = admin.post(
        "/admin/keys",
        json={"project": project, "name": "n", "rpm": 10, "tpm": 1000, "models": ["gpt-4o"]},
    ).json()
    [view] = admin.get("/admin/keys", params={"project": project}).json()["data"]
    assert view["id"] == created["id"]
    assert (view["project"], view["name"], view["rpm"], view["tpm"], view["models"]) == (
        project,
        "n",
        10,
        1000,
        ["gpt-4o"],
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "project"),
        ({"project": ""}, "project"),
        ({"project": None}, "project"),
        ({"project": 5}, "project"),
        ({"project": "p", "rpm": 0}, "rpm"),
        ({"project": "p", "rpm": -1}, "rpm"),
        ({"project": "p", "rpm": "10"}, "rpm"),
        ({"project": "p", "rpm": 1.5}, "rpm"),
        ({"project": "p", "tpm": 0}, "tpm"),
        ({"project": "p", "models": "gpt-4o"}, "models"),
        ({"project": "p", "models": [""]}, "models"),
        ({"project": "p", "name": "n" * 257}, "name"),
        ({"project": "p", "key": "sk-tl-chosen-by-the-caller"}, "key"),
        ({"project": "p", "key_hash": "0" * 64}, "key_hash"),
        ({"project": "p", "id": "key_chosen"}, "id"),
        ({"project": "p", "project_id": "proj_other"}, "project_id"),
        ({"project": "p", "revoked_at": None}, "revoked_at"),
    ],
)
def test_admin_key_create_validation_is_400(admin, body: dict[str, Any], param: str):
    error = error_of(admin.post("/admin/keys", json=body), 400)
    assert error["type"] == "invalid_request_error"
    assert (error["param"] or "").split(".")[0].split("[")[0] == param, error


def test_admin_unknown_key_is_404(admin):
    error = error_of(admin.get("/admin/keys/key_nope"), 404)
    assert "key_nope" in error["message"]


# --- mass assignment --------------------------------------------------------------------------

READ_ONLY = {
    "id": "asst_chosen",
    "object": "assistant",
    "created_at": 1,
    "project_id": "proj_other",
    "status": "completed",
    "usage": {},
    "thread_id": "thread_other",
    "assistant_id": "asst_other",
    "run_id": "run_other",
    "expires_at": 1,
}


@pytest.fixture(scope="module")
def shared_http(server_url: str, admin: httpx.Client) -> Iterator[httpx.Client]:
    """One project for the read-only-field matrix: every request there must fail anyway."""
    with httpx.Client(
        base_url=f"{server_url}/v1",
        headers={"Authorization": f"Bearer {new_project_key(admin)}"},
        timeout=30,
    ) as client:
        yield client


def create_owned(http: httpx.Client) -> dict[str, str]:
    assistant = http.post("/assistants", json={"model": "gpt-4o"}).json()["id"]
    thread = http.post("/threads", json={}).json()["id"]
    message = http.post(f"/threads/{thread}/messages", json={"role": "user", "content": "x"})
    return {"assistant": assistant, "thread": thread, "message": message.json()["id"]}


@pytest.fixture(scope="module")
def owned(shared_http: httpx.Client) -> dict[str, str]:
    return create_owned(shared_http)


TARGETS = {
    "assistant.create": ("/assistants", {"model": "gpt-4o"}),
    "assistant.modify": ("/assistants/{assistant}", {}),
    "thread.create": ("/threads", {}),
    "thread.modify": ("/threads/{thread}", {}),
    "message.create": ("/threads/{thread}/messages", {"role": "user", "content": "x"}),
    "message.modify": ("/threads/{thread}/messages/{message}", {}),
}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("field", READ_ONLY)
def test_read_only_fields_cannot_be_written(shared_http, owned, target: str, field: str):
    http = shared_http
    path, base = TARGETS[target]
    path = path.format(**owned)
    before = http.get(path).json() if "{" in TARGETS[target][0] else None
    error = error_of(http.post(path, json={**base, field: READ_ONLY[field]}), 400)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == field
    assert error["message"] == f"Unrecognized request argument supplied: {field}"
    if before is not None:
        assert http.get(path).json() == before


@pytest.mark.parametrize("field", ["id", "thread_id", "project_id", "created_at", "assistant_id"])
def test_read_only_fields_in_thread_create_messages_cannot_be_written(http, field: str):
    message = {"role": "user", "content": "x", field: READ_ONLY[field]}
    error = error_of(http.post("/threads", json={"messages": [message]}), 400)
    assert (error["param"] or "").replace("[0]", ".0") == f"messages.0.{field}"


def all_keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from all_keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from all_keys(item)


def test_responses_contain_no_internal_fields(http, api_key: str):
    owned = create_owned(http)
    thread = f"/threads/{owned['thread']}"
    responses = [
        http.post("/assistants", json={"model": "gpt-4o", "metadata": {"k": "v"}}),
        http.get(f"/assistants/{owned['assistant']}"),
        http.post(f"/assistants/{owned['assistant']}", json={"name": "n"}),
        http.get("/assistants"),
        http.post("/threads", json={"messages": [{"role": "user", "content": "x"}]}),
        http.get(thread),
        http.post(thread, json={"metadata": {"k": "v"}}),
        http.get(f"{thread}/messages"),
        http.get(f"{thread}/messages/{owned['message']}"),
        http.post(f"{thread}/messages/{owned['message']}", json={"metadata": {}}),
        http.delete(f"{thread}/messages/{owned['message']}"),
        http.delete(thread),
        http.delete(f"/assistants/{owned['assistant']}"),
    ]
    forbidden = {"project_id", "project", "key_hash", "api_key", "key_id"}
    key_hash = hashlib.sha256(api_key.encode()).hexdigest()
    for response in responses:
        assert response.status_code == 200, response.text
        assert forbidden.isdisjoint(all_keys(response.json())), response.text
        assert key_hash not in response.text
        assert api_key not in response.text
