"""Allowlists (models, IP ranges) of keys and projects: left out or null means no restriction, a
list allows exactly what it names, and an empty list is refused everywhere (API and CLI, keys
and projects) rather than read as "everything". A stored empty list allows nothing."""

import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gateway.conftest import MASTER_KEY, PRICED, make_key, raw
from threadline.gateway.principal import principal_of


def refused(response: httpx.Response, param: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert "at least one" in error["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [({"models": []}, "models"), ({"ip_allowlist": []}, "ip_allowlist")],
)
def test_an_empty_key_allowlist_is_refused(gw_admin, body: dict[str, Any], param: str):
    project = f"gw-{secrets.token_hex(5)}"
    refused(gw_admin.post("/admin/keys", json={"project": project, **body}), param)
    assert gw_admin.get("/admin/keys", params={"project": project}).json()["data"] == []


def test_an_empty_project_model_list_is_refused_and_null_lifts_the_restriction(
    gateway_url, gw_admin
):
    project = f"gw-{secrets.token_hex(5)}"
    refused(gw_admin.post(f"/admin/projects/{project}", json={"models": []}), "models")
    assert gw_admin.get(f"/admin/projects/{project}").status_code == 404  # nothing was made
    assert gw_admin.post(f"/admin/projects/{project}", json={"models": [PRICED]}).is_success
    refused(gw_admin.post(f"/admin/projects/{project}", json={"models": []}), "models")
    assert gw_admin.get(f"/admin/projects/{project}").json()["models"] == [PRICED]
    key = make_key(gw_admin, project=project)["key"]
    chat = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
    with raw(gateway_url, key) as http:
        assert http.post("/chat/completions", json=chat).status_code == 403
        lifted = gw_admin.post(f"/admin/projects/{project}", json={"models": None})
        assert lifted.json()["models"] is None
        assert http.post("/chat/completions", json=chat).status_code == 200


def test_null_key_allowlists_mean_no_restriction(gateway_url, gw_admin):
    key = make_key(gw_admin, models=None, ip_allowlist=None)["key"]
    with raw(gateway_url, key) as http:
        assert http.get("/assistants").status_code == 200


def key_record(**columns: Any) -> dict[str, Any]:
    return {
        "id": "key_x",
        "project_id": "proj_x",
        "project": "p",
        "rpm": None,
        "tpm": None,
        "models": None,
        "ip_allowlist": None,
        **columns,
    }


@pytest.mark.parametrize(
    "columns",
    [{"models": []}, {"project_models": []}, {"models": [], "project_models": ["a"]}],
)
def test_a_stored_empty_model_list_allows_no_model(columns: dict[str, Any]):
    principal = principal_of(key_record(**columns))
    assert principal.models == ()
    assert not principal.allows_model("a")


def test_a_stored_empty_address_list_allows_no_address():
    principal = principal_of(key_record(ip_allowlist=[]))
    assert not principal.allows_address("127.0.0.1")
    assert principal_of(key_record()).allows_address("127.0.0.1")


def test_cli_refuses_empty_allowlists(tmp_path: Path):
    env = {
        **os.environ,
        "THREADLINE_DATA_DIR": str(tmp_path),
        "THREADLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "THREADLINE_MASTER_KEY": MASTER_KEY,
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "threadline.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    for option, value in (("--models", ","), ("--models", ""), ("--ips", " , ")):
        result = cli("keys", "create", "--project", "cli", option, value)
        assert result.returncode == 2, (option, value, result.stdout)
        assert f"{option} names nothing" in result.stderr
        assert "sk-tl-" not in result.stdout
    result = cli("projects", "set", "cli", "--models", ",")
    assert result.returncode == 2 and "--models names nothing" in result.stderr
    assert "sk-tl-" not in cli("keys", "list").stdout  # no key was made
    narrowed = cli("projects", "set", "cli", "--models", "a, b")
    assert narrowed.returncode == 0 and "['a', 'b']" in narrowed.stdout
    lifted = cli("projects", "set", "cli", "--any-model")
    assert lifted.returncode == 0, lifted.stderr
    assert any(line.split() == ["models", "None"] for line in lifted.stdout.splitlines())
