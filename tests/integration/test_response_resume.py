"""Background responses across processes: a stream resumed on another replica of one
PostgreSQL database, and a ``threadline serve`` killed (-9) while executing one — after the
restart the response ends, and its kept stream ends with its terminal event."""

import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from tests.conftest import MASTER_KEY, new_project_key, sdk_client
from tests.databases import database
from tests.servers import ServeProcess, threaded_server
from tests.upstream import Gated, ScriptedUpstream, Slow, Text, scripted_upstream
from threadline.settings import Settings

MASTER = "sk-master-resume-0123456789abcdef"
LEASE_SECONDS = 2
REAPED_WITHIN = 15.0  # lease + reaper period, with room for a slow machine
ENDED = ("completed", "failed", "incomplete", "cancelled")


@pytest.fixture(scope="module")
def replicas(
    upstream_server: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    with database("postgres") as url, ExitStack() as stack:
        urls = []
        for name in ("a", "b"):
            settings = Settings(
                data_dir=tmp_path_factory.mktemp(f"replica-{name}"),
                database_url=url,
                master_key=MASTER_KEY,
                upstream_base_url=upstream_server.base_url,
                upstream_api_key=upstream_server.api_key,
                run_lease_seconds=3.0,
            )
            urls.append(stack.enter_context(threaded_server(settings)))
        yield urls[0], urls[1]


def _wait_for(client: OpenAI, response_id: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        response = client.responses.retrieve(response_id)
        if response.status in ENDED or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


def test_a_stream_resumes_on_another_replica(
    replicas: tuple[str, str], upstream: ScriptedUpstream
) -> None:
    a, b = replicas
    gated = Gated(Text(["Alpha", " beta", " gamma", " delta"]), after=2)
    upstream.script(gated)
    with httpx.Client(base_url=a, headers={"Authorization": f"Bearer {MASTER_KEY}"}) as admin:
        key = new_project_key(admin)
    with sdk_client(a, key) as on_a, sdk_client(b, key) as on_b:
        stream = on_a.responses.create(model="gpt-test", input="Hi", background=True, stream=True)
        seen = []
        for event in stream:
            seen.append(event)
            if event.type == "response.output_text.delta":
                break
        stream.close()
        response_id = seen[0].response.id
        last = seen[-1].sequence_number
        # B does not execute it: it reads what A keeps, then tails the table.
        with on_b.responses.stream(response_id=response_id, starting_after=last) as resumed:
            gated.gate.set()
            rest = list(resumed)
            final = resumed.get_final_response()
        assert [e.sequence_number for e in rest] == list(range(last + 1, last + 1 + len(rest)))
        assert rest[-1].type == "response.completed"
        assert final.output_text == "Alpha beta gamma delta"
        assert on_b.responses.retrieve(response_id).output_text == "Alpha beta gamma delta"


@pytest.fixture
def fresh_database(backend: str) -> Iterator[str]:
    with database(backend) as url:
        yield url


@pytest.fixture
def own_upstream() -> Iterator[ScriptedUpstream]:
    with scripted_upstream(api_key="sk-resume-upstream-5e1d2b") as scripted:
        yield scripted


def _env(data_dir: Path, database_url: str, upstream: ScriptedUpstream) -> dict[str, str]:
    return {
        "THREADLINE_DATA_DIR": str(data_dir),
        "THREADLINE_DATABASE_URL": database_url,
        "THREADLINE_MASTER_KEY": MASTER,
        "THREADLINE_UPSTREAM_BASE_URL": upstream.base_url,
        "THREADLINE_UPSTREAM_API_KEY": upstream.api_key,
        "THREADLINE_RUN_LEASE_SECONDS": str(LEASE_SECONDS),
    }


def _sdk(server: ServeProcess, key: str) -> OpenAI:
    return OpenAI(base_url=f"{server.base_url}/v1", api_key=key, max_retries=0, timeout=30)


def test_kill_9_during_a_background_response(
    fresh_database: str, tmp_path: Path, own_upstream: ScriptedUpstream
) -> None:
    env = _env(tmp_path, fresh_database, own_upstream)
    log = tmp_path / "serve.log"
    own_upstream.script(Slow(Text(["tok "] * 100), chunk_delay=0.2))  # 20 s of text
    server = ServeProcess(env, log).start()
    try:
        response = httpx.post(
            f"{server.base_url}/admin/keys",
            headers={"Authorization": f"Bearer {MASTER}"},
            json={"project": "resume"},
        )
        response.raise_for_status()
        key = str(response.json()["key"])
        with _sdk(server, key) as client:
            stream = client.responses.create(
                model="gpt-test", input="Hi", background=True, stream=True
            )
            deltas = 0
            for event in stream:
                if event.type == "response.created":
                    response_id = event.response.id
                deltas += event.type == "response.output_text.delta"
                if deltas >= 3:
                    break
            time.sleep(0.2)  # a batch of kept events is written
            server.stop(signal.SIGKILL)
    finally:
        if server.process is not None and server.process.poll() is None:
            server.stop(signal.SIGKILL)

    restarted = ServeProcess(env, log).start()
    try:
        with _sdk(restarted, key) as client:
            ended = _wait_for(client, response_id, REAPED_WITHIN)
            assert ended.status == "failed", ended.to_dict()
            assert ended.error is not None and ended.error.code == "server_error"
            replay = list(client.responses.retrieve(response_id, stream=True))
            numbers = [event.sequence_number for event in replay]
            assert numbers == list(range(len(replay)))
            assert replay[0].type == "response.created"
            assert replay[-1].type == "response.failed"
            assert replay[-1].response.status == "failed"
            assert sum(e.type == "response.output_text.delta" for e in replay) >= 1
    finally:
        restarted.stop()
