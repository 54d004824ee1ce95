"""Keys and projects: allowed models on chat, embeddings,
assistants and runs; IP allowlists with and without a trusted proxy; expired, revoked and
rotated keys; key options validated; the CLI."""

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.gateway.conftest import (
    MASTER_KEY,
    PRICED,
    admin_client,
    gateway_server,
    make_key,
    raw,
    sdk,
)

MESSAGES = [{"role": "user", "content": "hi"}]


# --- allowed models ---------------------------------------------------------------------------


def test_allowed_models_on_chat_and_embeddings(gateway_url, gw_admin):
    key = make_key(gw_admin, models=[PRICED])["key"]
    with sdk(gateway_url, key) as client:
        assert client.chat.completions.create(model=PRICED, messages=MESSAGES).choices
        with pytest.raises(openai.PermissionDeniedError) as refused:
            client.chat.completions.create(model="gpt-test", messages=MESSAGES)
        assert refused.value.code == "model_not_found"
        assert "gpt-test" in refused.value.message
        with pytest.raises(openai.PermissionDeniedError):
            client.embeddings.create(model="embed-model", input="x")
        # The model list shows exactly what the key may use.
        assert [m.id for m in client.models.list()] == [PRICED]
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve("gpt-test")


def test_allowed_models_on_assistants_and_runs(gateway_url, gw_admin):
    project = f"gw-{secrets.token_hex(5)}"
    wide = make_key(gw_admin, project=project)["key"]
    narrow = make_key(gw_admin, project=project, models=[PRICED])["key"]
    with sdk(gateway_url, wide) as wide_client, sdk(gateway_url, narrow) as client:
        other = wide_client.beta.assistants.create(model="gpt-test")  # made by the wider key
        with pytest.raises(openai.PermissionDeniedError):
            client.beta.assistants.create(model="gpt-test")
        mine = client.beta.assistants.create(model=PRICED)
        with pytest.raises(openai.PermissionDeniedError):
            client.beta.assistants.update(mine.id, model="gpt-test")
        thread = client.beta.threads.create()
        # A run of an assistant whose model the key may not use, or a model override.
        with pytest.raises(openai.PermissionDeniedError):
            client.beta.threads.runs.create(thread_id=thread.id, assistant_id=other.id)
        with pytest.raises(openai.PermissionDeniedError):
            client.beta.threads.runs.create(
                thread_id=thread.id, assistant_id=mine.id, model="gpt-test"
            )
        with pytest.raises(openai.PermissionDeniedError):
            client.beta.threads.create_and_run(assistant_id=other.id)
        # Refused runs left the thread free.
        run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=mine.id)
        assert run.status == "completed"


def test_project_models_narrow_its_keys(gateway_url, gw_admin):
    project = f"gw-{secrets.token_hex(5)}"
    assert gw_admin.post(f"/admin/projects/{project}", json={"models": [PRICED]}).is_success
    key = make_key(gw_admin, project=project)["key"]
    with sdk(gateway_url, key) as client:
        with pytest.raises(openai.PermissionDeniedError):
            client.chat.completions.create(model="gpt-test", messages=MESSAGES)
        assert client.chat.completions.create(model=PRICED, messages=MESSAGES).choices


# --- IP allowlists ----------------------------------------------------------------------------


def test_ip_allowlist_without_a_trusted_proxy(gateway_url, gw_admin):
    allowed = make_key(gw_admin, ip_allowlist=["127.0.0.0/8"])["key"]
    elsewhere = make_key(gw_admin, ip_allowlist=["10.1.0.0/16", "2001:db8::/32"])["key"]
    with raw(gateway_url, allowed) as http:
        assert http.get("/assistants").status_code == 200
    with raw(gateway_url, elsewhere) as http:
        refused = http.get("/assistants")
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "ip_not_allowed"
        # A spoofed X-Forwarded-For from a client that is no trusted proxy changes nothing.
        spoofed = http.get("/assistants", headers={"X-Forwarded-For": "10.1.2.3"})
        assert spoofed.status_code == 403


def test_ip_allowlist_behind_a_trusted_proxy(tmp_path: Path, upstream_server):
    with gateway_server(tmp_path, upstream_server, trusted_proxies="127.0.0.1/32") as url:
        with admin_client(url) as admin:
            key = make_key(admin, ip_allowlist=["10.1.0.0/16"])["key"]
        with raw(url, key) as http:
            assert http.get("/assistants").status_code == 403  # the proxy itself
            forwarded = {"X-Forwarded-For": "10.1.2.3"}
            assert http.get("/assistants", headers=forwarded).status_code == 200
            # The client's own claim before the proxy's entry does not count.
            chain = {"X-Forwarded-For": "10.1.2.3, 192.0.2.7"}
            assert http.get("/assistants", headers=chain).status_code == 403


# --- validity ---------------------------------------------------------------------------------


def test_expired_key_is_401(gateway_url, gw_admin):
    created = make_key(gw_admin, expires_at=int(time.time()) + 2)
    with raw(gateway_url, created["key"]) as http:
        assert http.get("/assistants").status_code == 200
        time.sleep(2.2)
        refused = http.get("/assistants")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"
    assert "expired" in refused.json()["error"]["message"]
    assert created["key"] not in refused.text


def test_revoked_key_is_401_on_the_pass_through(gateway_url, gw_admin):
    created = make_key(gw_admin)
    with raw(gateway_url, created["key"]) as http:
        assert http.post(
            "/chat/completions", json={"model": PRICED, "messages": MESSAGES}
        ).is_success
        assert gw_admin.delete(f"/admin/keys/{created['id']}").is_success
        response = http.post("/chat/completions", json={"model": PRICED, "messages": MESSAGES})
        assert response.status_code == 401


def test_rotate_gives_a_new_secret_and_stops_the_old_one(gateway_url, gw_admin):
    created = make_key(gw_admin, rpm=100, name="rotating")
    with raw(gateway_url, created["key"]) as http:
        assert http.get("/assistants").status_code == 200
    rotated = gw_admin.post(f"/admin/keys/{created['id']}/rotate")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert (new["id"], new["rpm"], new["name"]) == (created["id"], 100, "rotating")
    assert new["key"] != created["key"] and new["rotated_at"] is not None
    with raw(gateway_url, created["key"]) as http:
        assert http.get("/assistants").status_code == 401
    with raw(gateway_url, new["key"]) as http:
        assert http.get("/assistants").status_code == 200
    assert gw_admin.post("/admin/keys/key_nope/rotate").status_code == 404


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"max_parallel": 0}, "max_parallel"),
        ({"budget_usd": -1}, "budget_usd"),
        ({"budget_usd": "lots"}, "budget_usd"),
        ({"budget_usd": True}, "budget_usd"),
        ({"budget_period": "week"}, "budget_period"),
        ({"expires_at": 1}, "expires_at"),
        ({"ip_allowlist": ["not-an-ip"]}, "ip_allowlist"),
        ({"ip_allowlist": []}, "ip_allowlist"),
        ({"metadata": {"k": 1}}, "metadata"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    ],
)
def test_key_options_are_validated(gw_admin, body, param):
    response = gw_admin.post("/admin/keys", json={"project": "gw-validation", **body})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"].split(".")[0].split("[")[0] == param


def test_key_view_shows_its_options_but_never_its_secret(gw_admin):
    created = make_key(
        gw_admin,
        max_parallel=2,
        budget_usd="12.5",
        budget_period="day",
        ip_allowlist=["192.0.2.0/24"],
        metadata={"team": "search"},
    )
    view = gw_admin.get(f"/admin/keys/{created['id']}").json()
    assert view["max_parallel"] == 2
    assert (view["budget_usd"], view["budget_period"]) == ("12.5", "day")
    assert view["ip_allowlist"] == ["192.0.2.0/24"]
    assert view["metadata"] == {"team": "search"}
    assert created["key"] not in str(view)


def test_passthrough_project_must_name_a_configured_provider(gw_admin):
    response = gw_admin.post("/admin/projects/gw-x", json={"assistants_passthrough": "nowhere"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "assistants_passthrough"


# --- the CLI ----------------------------------------------------------------------------------


def test_cli_keys_and_usage(tmp_path: Path):
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

    created = cli(
        "keys",
        "create",
        "--project",
        "cli",
        "--name",
        "k",
        "--rpm",
        "5",
        "--max-parallel",
        "2",
        "--budget-usd",
        "3.5",
        "--budget-period",
        "day",
        "--ips",
        "127.0.0.1/32",
        "--expires-in-days",
        "1",
        "--metadata",
        "team=a",
    )
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("sk-tl-")
    listed = cli("keys", "list")
    assert "$3.5/day" in listed.stdout and secret not in listed.stdout
    key_id = listed.stdout.splitlines()[1].split()[0]
    rotated = cli("keys", "rotate", key_id)
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout.strip().splitlines()[-1] not in (secret, "")
    bad = cli("keys", "create", "--project", "cli", "--ips", "nope")
    assert bad.returncode == 2 and "ip_allowlist" in bad.stderr
    project = cli("projects", "set", "cli", "--rpm", "50", "--budget-usd", "10")
    assert project.returncode == 0, project.stderr
    assert "rpm" in project.stdout and "50" in project.stdout
    usage = cli("usage", "--project", "cli")
    assert usage.returncode == 0, usage.stderr
    assert "total: 0 requests" in usage.stdout


def test_admin_api_needs_the_master_key(gateway_url, gw_admin):
    key = make_key(gw_admin)["key"]
    for path in ("/admin/usage", "/admin/logs", "/admin/projects", "/admin/projects/x"):
        response = httpx.get(f"{gateway_url}{path}", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 401, path
