"""Shared fixtures. API suites run once per database backend against a real HTTP server, with the
official ``openai`` SDK as the client. Each test gets its own project, which isolates its data."""

import os
import secrets
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from openai import OpenAI

from tests.databases import database
from tests.servers import threaded_server, xdist_worker_number
from threadline.settings import Settings

MASTER_KEY = "sk-master-" + secrets.token_hex(16)

if TYPE_CHECKING:  # imported by pytest as a plugin below, so that its asserts are rewritten
    from tests.upstream import ScriptedUpstream

# The scripted upstream's fixtures (``upstream_server``, ``upstream``) for every suite.
pytest_plugins = ["tests.upstream", "tests.anthropic_upstream"]

warnings.filterwarnings("ignore", category=DeprecationWarning)

# Every server this suite starts (in a thread or as `threadline serve`) runs its sandboxes as
# uids of its own: another xdist worker's sandbox tests count the processes of theirs.
os.environ.setdefault(
    "THREADLINE_SANDBOX_UID_BASE", str(2_000_000_000 + 1_000_000 * xdist_worker_number())
)


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def database_url(backend: str) -> Iterator[str]:
    with database(backend) as url:
        yield url


@pytest.fixture(scope="session")
def server_url(
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    upstream_server: "ScriptedUpstream",
) -> Iterator[str]:
    """The server under test; its default upstream is the session's scripted upstream (a test
    scripts it through the ``upstream`` fixture)."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("data"),
        database_url=database_url,
        master_key=MASTER_KEY,
        upstream_base_url=upstream_server.base_url,
        upstream_api_key=upstream_server.api_key,
        # Upstream failures fail fast in tests; retry behaviour has tests of its own.
        upstream_max_retries=1,
        upstream_max_retry_wait=2.0,
    )
    with threaded_server(settings) as url:
        yield url


@pytest.fixture(scope="session")
def admin(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server_url, headers={"Authorization": f"Bearer {MASTER_KEY}"}, timeout=30
    ) as client:
        yield client


def new_project_key(admin: httpx.Client, project: str | None = None) -> str:
    response = admin.post("/admin/keys", json={"project": project or f"p-{secrets.token_hex(6)}"})
    response.raise_for_status()
    return str(response.json()["key"])


@pytest.fixture
def api_key(admin: httpx.Client) -> str:
    return new_project_key(admin)


def sdk_client(server_url: str, api_key: str) -> OpenAI:
    return OpenAI(base_url=f"{server_url}/v1", api_key=api_key, max_retries=0, timeout=30)


@pytest.fixture
def client(server_url: str, api_key: str) -> Iterator[OpenAI]:
    with sdk_client(server_url, api_key) as sdk:
        yield sdk


@pytest.fixture
def other_client(server_url: str, admin: httpx.Client) -> Iterator[OpenAI]:
    """A client of a different project, for isolation checks."""
    with sdk_client(server_url, new_project_key(admin)) as sdk:
        yield sdk


@pytest.fixture
def http(server_url: str, api_key: str) -> Iterator[httpx.Client]:
    """Raw HTTP with the project key, for requests the SDK would refuse to send."""
    with httpx.Client(
        base_url=f"{server_url}/v1",
        headers={"Authorization": f"Bearer {api_key}", "OpenAI-Beta": "assistants=v2"},
        timeout=30,
    ) as raw:
        yield raw


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]
