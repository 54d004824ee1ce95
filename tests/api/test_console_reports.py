"""``/console/api/usage`` and ``/console/api/logs``: the admin reports as the console reads
them. A project key sees its own project only; the master key sees every project."""

import httpx
import pytest
from openai import OpenAI

from tests.conftest import MASTER_KEY, new_project_key, sdk_client
from tests.upstream import DEFAULT_MODEL, ScriptedUpstream, Text


def _get(server_url: str, key: str | None, path: str, **params: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.get(f"{server_url}{path}", params=params, headers=headers, timeout=30)


def _ok(server_url: str, key: str, path: str, **params: str) -> dict:
    response = _get(server_url, key, path, **params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _chat(client: OpenAI) -> str:
    """One chat completion; its request id (the id of its request-log line)."""
    raw = client.chat.completions.with_raw_response.create(
        model=DEFAULT_MODEL, messages=[{"role": "user", "content": "hi"}]
    )
    return raw.headers["x-threadline-request-id"]


@pytest.fixture
def two_projects(
    server_url: str, api_key: str, admin: httpx.Client, client: OpenAI, upstream: ScriptedUpstream
) -> tuple[tuple[str, str, str], tuple[str, str, str]]:
    """Two projects that each made one chat completion: (key, project, request id) each."""
    other_key = new_project_key(admin)
    upstream.script(Text(["a"], usage=(11, 3)), Text(["b"], usage=(7, 2)))
    mine = _chat(client)
    with sdk_client(server_url, other_key) as other:
        theirs = _chat(other)
    keys = (api_key, other_key)
    projects = [_ok(server_url, key, "/console/api/session")["project"] for key in keys]
    return (api_key, projects[0], mine), (other_key, projects[1], theirs)


def test_a_project_key_sees_only_its_own_usage_and_logs(server_url, two_projects) -> None:
    for (key, project, request_id), (_, other_project, other_id) in (
        two_projects,
        two_projects[::-1],
    ):
        report = _ok(server_url, key, "/console/api/usage", group_by="project,model")
        assert report["project"] == project
        assert [(row["project"], row["model"]) for row in report["data"]] == [
            (project, DEFAULT_MODEL)
        ]
        assert report["requests"] == 1
        logs = _ok(server_url, key, "/console/api/logs", limit="1000")["data"]
        assert request_id in {line["id"] for line in logs}
        assert other_id not in {line["id"] for line in logs}
        assert {line["project"] for line in logs} == {project}
        # Its own name is fine; another project's is refused, never served.
        assert _ok(server_url, key, "/console/api/logs", project=project)["data"]
        for path in ("/console/api/usage", "/console/api/logs"):
            refused = _get(server_url, key, path, project=other_project)
            assert refused.status_code == 403
            assert refused.json()["error"]["param"] == "project"


def test_the_master_key_sees_every_project_and_filters_by_one(server_url, two_projects) -> None:
    (_, first, first_id), (_, second, second_id) = two_projects
    report = _ok(server_url, MASTER_KEY, "/console/api/usage", group_by="project")
    assert {first, second} <= {row["project"] for row in report["data"]}
    logs = _ok(server_url, MASTER_KEY, "/console/api/logs", limit="1000")["data"]
    assert {first_id, second_id} <= {line["id"] for line in logs}
    only = _ok(server_url, MASTER_KEY, "/console/api/usage", project=second, group_by="model")
    assert (only["project"], only["requests"], only["input_tokens"]) == (second, 1, 7)
    lines = _ok(server_url, MASTER_KEY, "/console/api/logs", project=first)["data"]
    assert [line["id"] for line in lines] == [first_id]
    # The same report as /admin's, from the same code.
    admin_report = _ok(server_url, MASTER_KEY, "/admin/usage", project=second, group_by="model")
    assert admin_report == only


@pytest.mark.parametrize(
    ("path", "params", "param"),
    [
        ("/console/api/usage", {"group_by": "colour"}, "group_by"),
        ("/console/api/usage", {"since": "yesterday"}, "since"),
        ("/console/api/logs", {"status": "4x"}, "status"),
        ("/console/api/logs", {"since": "today"}, "since"),
        ("/console/api/logs", {"limit": "0"}, "limit"),
    ],
)
def test_bad_parameters_are_400s_in_openai_shape(server_url, api_key, path, params, param) -> None:
    for key in (api_key, MASTER_KEY):
        response = _get(server_url, key, path, **params)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert (error["type"], error["param"]) == ("invalid_request_error", param)
        assert error["message"]


def test_keys_are_required_and_project_keys_stay_out_of_admin(server_url, api_key) -> None:
    for path in ("/console/api/usage", "/console/api/logs"):
        for key in (None, "sk-not-a-key"):
            response = _get(server_url, key, path)
            assert response.status_code == 401
            assert response.json()["error"]["type"] == "invalid_request_error"
    for path in ("/admin/usage", "/admin/logs", "/admin/keys", "/admin/projects"):
        assert _get(server_url, api_key, path).status_code == 401


def test_a_key_held_to_other_addresses_is_refused_by_the_console_api(
    server_url: str, admin: httpx.Client
) -> None:
    created = admin.post(
        "/admin/keys", json={"project": "p-console-ip", "ip_allowlist": ["10.0.0.0/8"]}
    )
    key = created.json()["key"]
    for path in ("/console/api/session", "/console/api/logs", "/console/api/threads"):
        response = httpx.get(server_url + path, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 403, path
        assert response.json()["error"]["code"] == "ip_not_allowed"
