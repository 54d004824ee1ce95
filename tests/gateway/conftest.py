"""Gateway servers for the gateway suites: a real Threadline (threaded uvicorn, SQLite) with a
``THREADLINE_CONFIG`` of priced models, fallbacks and a broken provider, in front of the
session's scripted upstream; once with in-memory counters, once with a real Redis.

Redis: the machine's server at 127.0.0.1:6379 when it answers, else a throwaway
``redis-server`` on a free port, else the Redis variants are skipped."""

import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI

from tests.servers import free_port, threaded_server, xdist_worker_number
from tests.upstream import ScriptedUpstream
from threadline.settings import Settings

MASTER_KEY = "sk-master-" + secrets.token_hex(16)
PROVIDER_KEY_ENV = "TL_TEST_SCRIPTED_KEY"
# USD per million tokens: 1 token in = $0.001, 1 token out = $0.002.
PRICED = "priced-model"
RETRIED = "retried-model"  # its provider retries twice (the others never)
INPUT_USD, OUTPUT_USD = 0.001, 0.002


def config_yaml(upstream_url: str, extra_providers: str = "", thread_fee: float = 0) -> str:
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    return f"""
providers:{extra_providers}
  scripted:
    base_url: {upstream_url}
    api_key_env: {PROVIDER_KEY_ENV}
    max_retries: 0
  dead:
    base_url: {dead}
    max_retries: 0
    connect_timeout: 1
  retrying:
    base_url: {upstream_url}
    api_key_env: {PROVIDER_KEY_ENV}
    max_retries: 2
models:
  {PRICED}:
    provider: scripted
    upstream_model: gpt-test
    prices: {{input_per_million: 1000, output_per_million: 2000}}
  falls-back:
    provider: scripted
    upstream_model: gpt-primary
    fallbacks: [{PRICED}]
  unreachable:
    provider: dead
    fallbacks: [{PRICED}]
  {RETRIED}:
    provider: retrying
    upstream_model: gpt-retried
  embed-model:
    provider: scripted
    upstream_model: text-embedding-test
    prices: {{input_per_million: 1000}}
charges:
  code_interpreter_session: 0.05
  thread: {thread_fee}
"""


def cost_of(prompt: int, completion: int) -> float:
    return round(prompt * INPUT_USD + completion * OUTPUT_USD, 9)


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str | None]:
    """A real Redis, or None when there is none to be had."""
    # One database per xdist worker: suites running at once never share keys.
    local = f"redis://127.0.0.1:6379/{xdist_worker_number() % 16}"
    if _redis_answers(local):
        yield local
        return
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="threadline-redis-") as directory:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", directory],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        try:
            deadline = time.monotonic() + 10
            while not _redis_answers(url) and time.monotonic() < deadline:
                time.sleep(0.05)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)


@contextmanager
def gateway_server(
    tmp: Path,
    upstream: ScriptedUpstream,
    *,
    extra_providers: str = "",
    thread_fee: float = 0,
    **settings: Any,
) -> Iterator[str]:
    config = tmp / "threadline.yaml"
    config.write_text(config_yaml(upstream.base_url, extra_providers, thread_fee))
    os.environ[PROVIDER_KEY_ENV] = upstream.api_key
    values: dict[str, Any] = {
        "data_dir": tmp,
        "database_url": f"sqlite+aiosqlite:///{tmp / 'threadline.db'}",
        "master_key": MASTER_KEY,
        "upstream_base_url": upstream.base_url,
        "upstream_api_key": upstream.api_key,
        "config": config,
        "upstream_max_retries": 0,
        "request_log_flush_seconds": 0.2,
        **settings,
    }
    with threaded_server(Settings(**values)) as url:
        yield url


@pytest.fixture(scope="session", params=["memory", "redis"])
def counters(request: pytest.FixtureRequest, redis_url: str | None) -> str:
    if request.param == "redis" and redis_url is None:
        pytest.skip("no Redis server available (none at 127.0.0.1:6379, no redis-server)")
    return str(request.param)


@pytest.fixture(scope="session")
def gateway_url(
    upstream_server: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The gateway under test (in-memory counters)."""
    with gateway_server(tmp_path_factory.mktemp("gateway"), upstream_server) as url:
        yield url


@pytest.fixture(scope="session")
def counted_gateway_url(
    counters: str,
    redis_url: str | None,
    gateway_url: str,
    upstream_server: ScriptedUpstream,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """The gateway with in-memory counters, then with Redis ones: for the limit suites."""
    if counters == "memory":
        yield gateway_url
        return
    tmp = tmp_path_factory.mktemp("gateway-redis")
    with gateway_server(tmp, upstream_server, redis_url=redis_url) as url:
        yield url


def admin_client(base_url: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    return httpx.Client(base_url=base_url, headers=headers, timeout=30)


@pytest.fixture(scope="session")
def gw_admin(gateway_url: str) -> Iterator[httpx.Client]:
    with admin_client(gateway_url) as client:
        yield client


@pytest.fixture
def counted_admin(counted_gateway_url: str) -> Iterator[httpx.Client]:
    with admin_client(counted_gateway_url) as client:
        yield client


def make_key(admin: httpx.Client, **options: Any) -> dict[str, Any]:
    """A new key (in a new project unless one is given); the response with its secret."""
    body = {"project": f"gw-{secrets.token_hex(5)}", **options}
    response = admin.post("/admin/keys", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def sdk(base_url: str, key: str) -> OpenAI:
    return OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0, timeout=30)


def raw(base_url: str, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{base_url}/v1",
        headers={"Authorization": f"Bearer {key}", "OpenAI-Beta": "assistants=v2"},
        timeout=30,
    )
