"""Threadline servers for tests: in a thread of this process, or as a real subprocess."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from threadline.app import create_app
from threadline.cli.serving import ThreadlineServer, server_config
from threadline.engine.tools.base import ServerTool
from threadline.settings import Settings
from threadline.telemetry import Tracer


def xdist_worker_number() -> int:
    """Which of pytest-xdist's worker processes runs this suite (0 without xdist): suites
    running at once keep their sandbox uids and Redis databases apart by it."""
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(base_url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"Threadline at {base_url} did not become healthy in {timeout}s")


@contextmanager
def threaded_server(
    settings: Settings, server_tools: Sequence[ServerTool] = (), tracer: Tracer | None = None
) -> Iterator[str]:
    """The app under uvicorn in a background thread: real HTTP, one process, fast to start.
    ``tracer``: where its spans go (tests/gateway/test_tracing.py); by default, as configured."""
    with threaded_app(settings, server_tools, tracer) as (base_url, _):
        yield base_url


@contextmanager
def threaded_app(
    settings: Settings, server_tools: Sequence[ServerTool] = (), tracer: Tracer | None = None
) -> Iterator[tuple[str, FastAPI]]:
    """``threaded_server``, with the app too: a test may reach its state
    (``app.state.threadline``), e.g. to move a clock."""
    port = free_port()
    # Configured as `threadline serve` configures it.
    app = create_app(settings, server_tools=server_tools, tracer=tracer)
    config = server_config(app, settings, host="127.0.0.1", port=port, log_level="warning")
    server = ThreadlineServer(config)
    thread = threading.Thread(target=server.run, name="threadline-test-server", daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base_url)
        yield base_url, app
    finally:
        server.should_exit = True
        thread.join(timeout=15)


class ServeProcess:
    """``threadline serve`` as a child process, for restart and crash tests."""

    def __init__(self, env: dict[str, str], log_path: Path, *, workers: int = 1) -> None:
        """``workers``: ``serve --workers``; one by default, so that a signal to the process
        reaches the server itself (with more, it reaches their supervisor)."""
        self.env = env
        self.workers = workers
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "ServeProcess":
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "threadline.cli", "serve"),
                *("--port", str(self.port), "--workers", str(self.workers)),
            ],
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        # With workers, the supervisor migrates first, then each worker imports and builds the
        # whole app: on a busy 2-core machine, a while.
        try:
            wait_healthy(self.base_url, timeout=30.0 if self.workers == 1 else 150.0)
        except TimeoutError:
            self.stop()  # not left serving (on a database the test is about to drop)
            raise
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=10)
