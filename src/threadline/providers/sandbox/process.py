"""Starting and ending a jail's launcher process.

The launcher gets nothing of the server: an environment of its own, no inherited fds but its
pipes (and those the backend names), its own session, and a parent-death signal so that a
server that dies (even by SIGKILL) takes its jails with it."""

import asyncio
import contextlib
import ctypes
import os
import signal
from collections.abc import Callable

from threadline.providers.sandbox.base import Launch

_PR_SET_PDEATHSIG = 1
# Resolved now: the function runs in the forked child, where loading a library is not safe.
_prctl = ctypes.CDLL(None, use_errno=True).prctl

LAUNCHER_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def die_with_parent(sig: int, first: Callable[[], None] | None = None) -> Callable[[], None]:
    """A ``preexec_fn``: the child gets ``sig`` when the server (the forking thread) is gone.
    ``first`` runs before: changing uids clears the parent-death signal."""

    def preexec() -> None:
        if first is not None:
            first()
        _prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)

    return preexec


async def spawn(launch: Launch) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *launch.argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=LAUNCHER_ENV,
        close_fds=True,
        pass_fds=launch.pass_fds,
        start_new_session=True,
        preexec_fn=launch.preexec,
        limit=1 << 20,
    )


def signal_process(process: asyncio.subprocess.Process, sig: int) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, sig)


async def stop(process: asyncio.subprocess.Process, sig: int, grace: float = 2.0) -> int:
    """Ends the jail: ``sig`` first (the backend's way to end it at once), SIGKILL if the
    launcher is still there after ``grace`` seconds."""
    signal_process(process, sig)
    try:
        return await asyncio.wait_for(process.wait(), grace)
    except TimeoutError:
        signal_process(process, signal.SIGKILL)
        return await process.wait()
