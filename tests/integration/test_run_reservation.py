"""A run queued by a request is reserved for the worker of the server that answered it, so the
replica streaming a run is the replica running it; other replicas take it only if that worker
has not within the reservation. Then two replicas on one PostgreSQL database, end to end."""

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from tests.conftest import MASTER_KEY, new_project_key, sdk_client
from tests.databases import database
from tests.runs_helpers import stream_run, wait_for_run
from tests.servers import threaded_server
from tests.upstream import ScriptedUpstream, Slow, Text
from threadline.settings import Settings
from threadline.storage.database import Database
from threadline.storage.migrate import upgrade_to_head
from threadline.storage.runs import RunRepository
from threadline.storage.tables import RunRow, ThreadRow

_runs = RunRepository()


def _row(table: Any, **values: Any) -> dict[str, Any]:
    """Every column without a default set to None (those with one take it), then ``values``."""
    unset = {
        column.name: None
        for column in table.columns
        if column.default is None and column.server_default is None
    }
    return {**unset, **values}


def _insert(connection: Any, reserved_by: str, until: float) -> None:
    connection.execute(
        ThreadRow.__table__.insert(),
        _row(ThreadRow.__table__, id="thread_r", project_id="p", created_at=0, metadata={}),
    )
    run = _row(
        RunRow.__table__,
        id="run_r",
        project_id="p",
        thread_id="thread_r",
        assistant_id="asst_r",
        created_at=0,
        status="queued",
        model="m",
        tools=[],
        parallel_tool_calls=True,
        attempt=0,
        lease_owner=reserved_by,
        lease_expires_at=until,
    )
    connection.execute(RunRow.__table__.insert(), run)


def test_a_reserved_run_is_claimed_by_its_worker_only_until_the_reservation_ends() -> None:
    with database("sqlite") as url:
        upgrade_to_head(url)

        async def check() -> None:
            db = Database(url)
            try:
                now = time.time()
                await db.write(_insert, "replica-a", now + 10)
                assert await db.read(_runs.claimable, now, 10) == []
                assert await db.write(_runs.claim, "run_r", "replica-b", now, now + 30, 0) is None
                claimed = await db.write(_runs.claim, "run_r", "replica-a", now, now + 30, 0)
                assert claimed is not None and claimed["status"] == "in_progress"
            finally:
                await db.dispose()

        asyncio.run(check())


def test_after_the_reservation_any_worker_may_claim() -> None:
    with database("sqlite") as url:
        upgrade_to_head(url)

        async def check() -> None:
            db = Database(url)
            try:
                now = time.time()
                await db.write(_insert, "replica-a", now - 1)  # its server died before claiming
                assert await db.read(_runs.claimable, now, 10) == ["run_r"]
                claimed = await db.write(_runs.claim, "run_r", "replica-b", now, now + 30, 0)
                assert claimed is not None and claimed["lease_owner"] == "replica-b"
            finally:
                await db.dispose()

        asyncio.run(check())


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


def test_two_replicas_stream_every_run_they_start(
    replicas: tuple[str, str], upstream: ScriptedUpstream
) -> None:
    a, b = replicas
    upstream.default(Text(["Hello ", "there."]))
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    with httpx.Client(base_url=a, headers=headers) as admin:
        key = new_project_key(admin)
    with sdk_client(a, key) as client:
        assistant = client.beta.assistants.create(model="gpt-test")
        threads = [client.beta.threads.create().id for _ in range(12)]

    def stream(index: int) -> list[str]:
        server = (a, b)[index % 2]
        auth = {"Authorization": f"Bearer {key}", "OpenAI-Beta": "assistants=v2"}
        with httpx.Client(base_url=f"{server}/v1", headers=auth, timeout=30) as http:
            events = stream_run(http, threads[index], {"assistant_id": assistant.id})
        return [event.name for event in events]

    with ThreadPoolExecutor(12) as pool:
        for names in pool.map(stream, range(12)):
            assert names[-2:] == ["thread.run.completed", "done"]
            assert "thread.message.delta" in names


def test_a_cancel_on_one_replica_stops_a_run_on_the_other(
    replicas: tuple[str, str], upstream: ScriptedUpstream
) -> None:
    a, b = replicas
    upstream.script(Slow(Text(["never"]), first_byte_delay=20))
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    with httpx.Client(base_url=a, headers=headers) as admin:
        key = new_project_key(admin)
    with sdk_client(a, key) as on_a, sdk_client(b, key) as on_b:
        assistant = on_a.beta.assistants.create(model="gpt-test")
        thread = on_a.beta.threads.create()
        run = on_a.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
        wait_for_run(on_a, thread.id, run.id, statuses={"in_progress"})
        on_b.beta.threads.runs.cancel(run.id, thread_id=thread.id)
        assert wait_for_run(on_b, thread.id, run.id, timeout=10).status == "cancelled"
