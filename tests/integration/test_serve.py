"""``threadline serve`` and the CLI as real processes: first-run key, restarts, kill -9, keys."""

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from tests.databases import database
from tests.raw_http import wait_for
from tests.servers import ServeProcess, wait_healthy

MASTER = "sk-master-integration-0123456789abcdef"


def _env(data_dir: Path, database_url: str, master_key: str = MASTER) -> dict[str, str]:
    # An empty THREADLINE_MASTER_KEY means "none", whatever the surrounding environment says.
    return {
        "THREADLINE_DATA_DIR": str(data_dir),
        "THREADLINE_DATABASE_URL": database_url,
        "THREADLINE_MASTER_KEY": master_key,
    }


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "threadline.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


@pytest.fixture
def fresh_database(backend: str) -> Iterator[str]:
    with database(backend) as url:
        yield url


def _sdk(base_url: str, key: str) -> OpenAI:
    return OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0, timeout=30)


def test_first_serve_prints_a_working_default_key_once(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'first.db'}"
    env = _env(tmp_path, url, master_key="")
    log = tmp_path / "serve.log"
    server = ServeProcess(env, log).start()
    try:
        lines = [line.strip() for line in log.read_text().splitlines()]
        keys = [line for line in lines if line.startswith("sk-tl-")]
        assert len(keys) == 1, log.read_text()
        with _sdk(server.base_url, keys[0]) as client:
            assert client.beta.assistants.create(model="gpt-4o").object == "assistant"
    finally:
        server.stop()
    again = ServeProcess(env, tmp_path / "again.log").start()
    again.stop()
    assert "sk-tl-" not in (tmp_path / "again.log").read_text()


def test_first_run_message_names_the_address_really_served(tmp_path: Path) -> None:
    """``--port 0``: the system picks the port, and the message names it (not HOST:PORT)."""
    env = _env(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'port0.db'}", master_key="")
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "threadline.cli", "serve", "--port", "0"],
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: "base_url=" in log.read_text(), "the first-run message")
        text = log.read_text()
        served = re.search(r"Threadline serving (http://127\.0\.0\.1:(\d+)/v1)", text)
        advertised = re.search(r"base_url='([^']+)'", text)
        assert served and advertised, text
        assert int(served.group(2)) > 0
        assert advertised.group(1) == served.group(1)
        assert "HOST:PORT" not in text
        key = next(line.strip() for line in text.splitlines() if line.strip().startswith("sk-tl-"))
        wait_healthy(served.group(1).removesuffix("/v1"))
        with OpenAI(base_url=advertised.group(1), api_key=key, max_retries=0) as client:
            assert client.models.list().object == "list"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["term", "kill9"])
def test_restart_keeps_every_object(
    fresh_database: str, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    env = _env(tmp_path, fresh_database)
    key = _cli(env, "keys", "create", "--project", "restart").stdout.strip().splitlines()[-1]
    server = ServeProcess(env, tmp_path / "serve.log").start()
    with _sdk(server.base_url, key) as client:
        assistant = client.beta.assistants.create(
            model="gpt-4o", name="kept", tools=[{"type": "code_interpreter"}], metadata={"a": "1"}
        )
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "first"}])
        created = [
            client.beta.threads.messages.create(thread.id, role="user", content=f"m{i}").id
            for i in range(30)
        ]
    # Every write above was acknowledged; a crash right after must lose none of them.
    server.stop(stop_signal)

    restarted = ServeProcess(env, tmp_path / "serve.log").start()
    try:
        with _sdk(restarted.base_url, key) as client:
            assert client.beta.assistants.retrieve(assistant.id).model_dump() == (
                assistant.model_dump()
            )
            assert client.beta.threads.retrieve(thread.id).id == thread.id
            listed = [m.id for m in client.beta.threads.messages.list(thread.id, order="asc")]
            assert listed[1:] == created
            # The thread is still usable after the restart.
            client.beta.threads.messages.create(thread.id, role="user", content="after")
    finally:
        restarted.stop()


def test_keys_cli_create_list_revoke(fresh_database: str, tmp_path: Path) -> None:
    env = _env(tmp_path, fresh_database)
    output = _cli(
        env, "keys", "create", "--project", "cli", "--name", "ci", "--rpm", "60", "--models", "a,b"
    ).stdout
    secret = output.strip().splitlines()[-1]
    assert secret.startswith("sk-tl-")

    listing = _cli(env, "keys", "list").stdout
    assert "cli" in listing
    assert secret not in listing
    assert secret[6:-4] not in listing, "a listing shows no more than the last 4 characters"

    server = ServeProcess(env, tmp_path / "serve.log").start()
    try:
        keys = httpx.get(
            f"{server.base_url}/admin/keys", headers={"Authorization": f"Bearer {MASTER}"}
        ).json()["data"]
        (key,) = [k for k in keys if k["project"] == "cli"]
        assert (key["name"], key["rpm"], key["models"]) == ("ci", 60, ["a", "b"])
        with _sdk(server.base_url, secret) as client:
            client.beta.assistants.list()
    finally:
        server.stop()

    assert "Revoked" in _cli(env, "keys", "revoke", key["id"]).stdout
    server = ServeProcess(env, tmp_path / "serve.log").start()
    try:
        response = httpx.get(
            f"{server.base_url}/v1/assistants", headers={"Authorization": f"Bearer {secret}"}
        )
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"
    finally:
        server.stop()


def test_migrate_is_idempotent(fresh_database: str, tmp_path: Path) -> None:
    env = _env(tmp_path, fresh_database)
    for _ in range(2):
        assert "latest schema" in _cli(env, "migrate").stdout
