"""Which of ``threadline serve --workers N``'s processes serves a client connection (Linux only).

The workers are the supervisor's children started by ``multiprocessing``'s spawn (their command
line runs ``spawn_main``; the resource tracker's does not). The process serving a connection is
the one holding its server side: the TCP socket whose remote port is the client's local port
(``/proc/net/tcp``), found by its inode among the processes' open files (``/proc/<pid>/fd``)."""

import os
import socket
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

PROC = Path("/proc")


def worker_pids(supervisor: int) -> set[int]:
    """The live worker processes of the supervisor ``supervisor`` (zombies excluded)."""
    found: set[int] = set()
    for task in (PROC / str(supervisor) / "task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            try:
                cmdline = (PROC / str(child) / "cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in cmdline and not gone(child):
                found.add(child)
    return found


def gone(pid: int) -> bool:
    """The process has exited (a zombie nobody reaped yet counts as gone)."""
    try:
        return (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def wait_for_workers(
    supervisor: int, count: int, timeout: float = 60.0, without: Iterable[int] = ()
) -> set[int]:
    """The supervisor's ``count`` worker processes, none of ``without`` (started: whether
    they serve yet is for a request to tell)."""
    excluded = set(without)
    deadline = time.monotonic() + timeout
    while True:
        pids = worker_pids(supervisor)
        if len(pids) == count and not pids & excluded:
            return pids
        if time.monotonic() >= deadline:
            raise AssertionError(f"workers {sorted(pids)}, not {count} new ones, at the deadline")
        time.sleep(0.1)


def _server_side_inodes(client_port: int) -> set[int]:
    """Inodes of the TCP sockets whose remote port is ``client_port`` (the server sides of
    the client's connection; 0 while not yet accepted)."""
    inodes: set[int] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            inode = int(fields[9])
            if remote_port == client_port and inode:
                inodes.add(inode)
    return inodes


def _holds(pid: int, inodes: set[int]) -> bool:
    wanted = {f"socket:[{inode}]" for inode in inodes}
    try:
        for fd in os.listdir(PROC / str(pid) / "fd"):
            try:
                if os.readlink(PROC / str(pid) / "fd" / fd) in wanted:
                    return True
            except OSError:
                continue
    except OSError:
        pass
    return False


def serving_pid(client_port: int, candidates: Iterable[int], timeout: float = 5.0) -> int:
    """Which of ``candidates`` holds the server side of the connection whose client-side local
    port is ``client_port`` (polled: it may not be accepted yet)."""
    pids = list(candidates)
    deadline = time.monotonic() + timeout
    while True:
        inodes = _server_side_inodes(client_port)
        holders = [pid for pid in pids if inodes and _holds(pid, inodes)]
        if len(holders) == 1:
            return holders[0]
        if time.monotonic() >= deadline:
            raise AssertionError(f"port {client_port}: held by {holders} of {pids}")
        time.sleep(0.02)


def response_port(response: httpx.Response) -> int:
    """The client-side local port of the connection ``response`` came over."""
    sock: socket.socket = response.extensions["network_stream"].get_extra_info("socket")
    return int(sock.getsockname()[1])


def served_by(response: httpx.Response, workers: Iterable[int]) -> int:
    """The worker process that served ``response``'s connection."""
    return serving_pid(response_port(response), workers)


@contextmanager
def client_of(
    base_url: str,
    worker: int,
    workers: Iterable[int],
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> Iterator[httpx.Client]:
    """An ``httpx.Client`` of one connection, served by the process ``worker``: new ones are
    opened until the kernel hands one to that worker (one just started may take a while to
    accept). Use it again within uvicorn's keep-alive
    (5 s idle) and check ``served_by`` where it matters."""
    pool = list(workers)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        client = httpx.Client(
            base_url=base_url,
            headers=headers,
            timeout=30,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        response = client.get("/healthz")
        if served_by(response, pool) == worker:
            try:
                yield client
            finally:
                client.close()
            return
        client.close()
    raise AssertionError(f"no connection in {timeout:.0f} s was served by worker {worker}")
