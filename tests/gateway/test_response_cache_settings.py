"""Setting the response cache's ``cache_ttl``: the admin API (keys and projects) and the CLI."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from tests.gateway.conftest import make_key
from threadline.storage import key_store
from threadline.storage.database import Database


def test_admin_api_sets_and_validates_cache_ttl(gw_admin):
    created = make_key(gw_admin, cache_ttl=120)
    assert created["cache_ttl"] == 120
    assert gw_admin.get(f"/admin/keys/{created['id']}").json()["cache_ttl"] == 120
    assert make_key(gw_admin)["cache_ttl"] is None
    for bad in (-1, 10**9, "soon"):
        response = gw_admin.post("/admin/keys", json={"project": "p", "cache_ttl": bad})
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "cache_ttl"
    project = f"/admin/projects/{created['project']}"
    assert gw_admin.post(project, json={"cache_ttl": 30}).json()["cache_ttl"] == 30
    assert gw_admin.post(project, json={"rpm": 5}).json()["cache_ttl"] == 30  # kept
    assert gw_admin.post(project, json={"cache_ttl": 0}).json()["cache_ttl"] is None  # off
    assert gw_admin.get(project).json()["cache_ttl"] is None
    refused = gw_admin.post(project, json={"cache_ttl": -1})
    assert refused.json()["error"]["param"] == "cache_ttl"


def test_cli_sets_cache_ttl(tmp_path: Path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    env = {**os.environ, "THREADLINE_DATA_DIR": str(tmp_path), "THREADLINE_DATABASE_URL": url}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "threadline.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    created = cli("keys", "create", "--project", "cli-cache", "--cache-ttl", "300")
    assert created.returncode == 0, created.stderr
    project = cli("projects", "set", "cli-cache", "--cache-ttl", "60")
    assert project.returncode == 0, project.stderr
    assert any(line.split() == ["cache_ttl", "60"] for line in project.stdout.splitlines())
    bad = cli("keys", "create", "--project", "cli-cache", "--cache-ttl", "-5")
    assert bad.returncode == 2 and "cache_ttl" in bad.stderr
    assert asyncio.run(_key_and_project_ttls(url)) == [(300, 60)]


async def _key_and_project_ttls(url: str) -> list[tuple[int | None, int | None]]:
    db = Database(url)
    try:
        keys = await db.read(key_store.list_keys, "cli-cache")
    finally:
        await db.dispose()
    return [(key["cache_ttl"], key["project_cache_ttl"]) for key in keys]
