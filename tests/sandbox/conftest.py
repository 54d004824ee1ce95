"""Real sandboxes for the sandbox suites: ``SandboxSessions`` started on an event loop in a
background thread, driven through a small synchronous facade. Limits are small so that every
abuse case ends within seconds."""

import asyncio
import os
import shutil
import threading
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.servers import xdist_worker_number
from threadline.providers.sandbox import (
    ExecutionResult,
    Limits,
    SandboxConfig,
    SandboxSessions,
)

T = TypeVar("T")

TEST_LIMITS = Limits(
    wall_seconds=4.0,
    cpu_seconds=2,
    memory_bytes=768 << 20,
    max_processes=32,
    file_size_bytes=8 << 20,
    data_bytes=16 << 20,
    data_files=200,
    tmp_bytes=8 << 20,
    output_bytes=8 << 10,
    max_images=3,
    max_files=5,
    lifetime_seconds=600.0,
    nice=0,  # this machine is shared: niced sandboxes would crawl
)
# Below the servers' uids (tests/conftest.py), one range per xdist worker.
UID_BASE = 1_900_000_000 + 1_000_000 * xdist_worker_number()
MAX_SESSIONS = 8
CANARY = f"canary-{uuid.uuid4().hex}"


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class Sandbox:
    """SandboxSessions, synchronously."""

    def __init__(self, loop: LoopThread, sessions: SandboxSessions, data_dir: Path) -> None:
        self.loop = loop
        self.sessions = sessions
        self.data_dir = data_dir

    def execute(self, key: str, code: str) -> ExecutionResult:
        return self.loop.run(self.sessions.execute(key, code))

    def execute_all(self, calls: list[tuple[str, str]]) -> list[ExecutionResult]:
        """Several calls at once (different keys run in parallel)."""

        async def run_all() -> list[ExecutionResult]:
            return list(await asyncio.gather(*(self.sessions.execute(k, c) for k, c in calls)))

        return self.loop.run(run_all())

    def put_file(self, key: str, filename: str, source: Path) -> str:
        return self.loop.run(self.sessions.put_file(key, filename, source))

    def close(self, key: str) -> None:
        self.loop.run(self.sessions.close(key))


def bwrap_python() -> str | None:
    """The interpreter the bubblewrap backend can run here, or None. As root, bwrap drops to an
    unprivileged uid that cannot enter /root, where this venv's Python lives: Debian's own
    /usr/bin/python3 serves (the escape payloads need the standard library only)."""
    if shutil.which("bwrap") is None:
        return None
    if os.geteuid() != 0:
        return None  # the server's own venv
    return "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else None


BACKENDS = ["nsjail"] + (["bwrap"] if shutil.which("bwrap") else [])


def start_sandbox(loop: LoopThread, data_dir: Path, **overrides: Any) -> Sandbox:
    config = SandboxConfig(
        data_dir=data_dir,
        limits=TEST_LIMITS,
        max_sessions=MAX_SESSIONS,
        uid_base=UID_BASE,
        idle_seconds=600,
    )
    config = replace(config, **overrides)
    sessions = SandboxSessions(config)
    loop.run(sessions.start())
    return Sandbox(loop, sessions, data_dir)


@pytest.fixture(scope="module")
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture(scope="module")
def canary_env() -> Iterator[str]:
    """A secret in the server's environment that no sandbox may see."""
    os.environ["THREADLINE_TEST_CANARY"] = CANARY
    yield CANARY
    os.environ.pop("THREADLINE_TEST_CANARY", None)


def make_sandbox(
    loop: LoopThread, tmp_path_factory: pytest.TempPathFactory, backend: str, **overrides: Any
) -> Iterator[Sandbox]:
    data_dir = tmp_path_factory.mktemp("sandbox-data")
    (data_dir / "threadline.db").write_text(CANARY)  # stands in for the server's database
    if backend == "bwrap":
        python = bwrap_python()
        if python is None and os.geteuid() == 0:
            pytest.skip("bwrap as root needs a Python outside /root (Debian's python3)")
        overrides.setdefault("python", python)
    sandbox = start_sandbox(loop, data_dir, backend=backend, **overrides)
    if not sandbox.sessions.availability.ok:
        pytest.fail(f"{backend} sandbox unavailable: {sandbox.sessions.availability.reason}")
    yield sandbox
    loop.run(sandbox.sessions.aclose())


@pytest.fixture(scope="module")
def sandbox(
    loop: LoopThread, tmp_path_factory: pytest.TempPathFactory, canary_env: str
) -> Iterator[Sandbox]:
    """The default backend (nsjail) with the test limits."""
    yield from make_sandbox(loop, tmp_path_factory, "nsjail")


def sandbox_uids() -> range:
    return range(UID_BASE, UID_BASE + MAX_SESSIONS)


def processes_of(uids: range) -> list[int]:
    """Host pids whose real uid is in ``uids``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as status:
                for line in status:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) in uids:
                            found.append(int(entry))
                        break
        except OSError:
            continue
    return found
