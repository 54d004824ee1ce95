"""What a sandbox backend is: something that turns a ``JailSpec`` (what the jail may see and use)
into a command line that starts the REPL driver inside an isolated jail. Everything else (the
protocol, sessions, limits per call, files) is shared by every backend."""

import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


class SandboxUnavailable(Exception):
    """No working sandbox: code is never run (there is no unsandboxed fallback)."""


class SandboxError(Exception):
    """A session could not do what was asked (too many sessions busy, a file too large...)."""


@dataclass(frozen=True)
class Limits:
    """Bounds on one session and on each call. Sizes in bytes, times in seconds."""

    wall_seconds: float = 60.0  # per call, enforced by the host (the jail is killed)
    cpu_seconds: int = 60  # per call (SIGXCPU in the code); the session's hard cap is below
    session_cpu_seconds: int = 3600  # hard RLIMIT_CPU of the session's processes
    memory_bytes: int = 1 << 30  # RLIMIT_AS per process; the memory cgroup bounds the jail
    max_processes: int = 64  # pids cgroup of the jail (and RLIMIT_NPROC of its uid)
    file_size_bytes: int = 512 << 20  # RLIMIT_FSIZE
    data_bytes: int = 512 << 20  # size of /mnt/data (a tmpfs)
    data_files: int = 10_000  # inodes in /mnt/data
    tmp_bytes: int = 64 << 20  # size of /tmp
    output_bytes: int = 64 << 10  # logs kept per call (head and tail), the rest is cut
    max_images: int = 10  # figures returned per call
    max_files: int = 20  # changed files returned per call
    cpus: float = 1.0  # share of CPU time per second (cpu cgroup), 0 = unbounded
    lifetime_seconds: float = 4 * 3600.0  # a session is replaced after this long
    open_files: int = 256  # RLIMIT_NOFILE
    nice: int = 10  # under contention, the server's requests come first

    @property
    def jail_memory_bytes(self) -> int:
        """The cgroup bound: process memory plus the tmpfs mounts (/mnt/data, /tmp, /dev/shm),
        whose pages are charged to it."""
        return self.memory_bytes + self.data_bytes + 2 * self.tmp_bytes


@dataclass(frozen=True)
class Mount:
    """A read-only bind mount (``source`` at the same path inside), or, with ``link_to``, a
    symlink at ``path`` pointing to ``link_to`` (for merged-/usr systems' /lib -> usr/lib)."""

    path: Path
    link_to: str | None = None


@dataclass(frozen=True)
class JailSpec:
    mounts: Sequence[Mount]  # the read-only Python runtime and the libraries it loads
    driver_dir: Path  # mounted read-only at DRIVER_DIR
    argv: Sequence[str]  # the interpreter and its arguments, run inside
    env: dict[str, str]  # the jail's whole environment
    limits: Limits
    slot: int  # 0..max_sessions-1: picks the session's own host uid when running as root
    cwd: str = "/mnt/data"


DRIVER_DIR = "/opt/threadline"


@dataclass
class Launch:
    """How to start the jail: the command, the fds it needs, and what to run in the child
    between fork and exec (dropping to the sandbox uid, rlimits, parent-death signal)."""

    argv: list[str]
    pass_fds: tuple[int, ...] = ()
    preexec: Callable[[], None] | None = None
    stop_signal: int = signal.SIGKILL  # what ends the jail at once (nsjail: SIGTERM cleans up)
    cleanup: list[Callable[[], None]] = field(default_factory=list)


class SandboxBackend(Protocol):
    name: str

    def prepare(self) -> None:
        """Checks the binary and sets up host resources (cgroups); raises SandboxUnavailable."""
        ...

    def launch(self, spec: JailSpec) -> Launch: ...

    def describe(self) -> str:
        """One line for the start-up log: binary, uid mode, which limits are enforced."""
        ...
