"""The bubblewrap backend, where ``bwrap`` is installed (Debian: ``apt-get install bubblewrap``).

bwrap always runs unprivileged in a user namespace: as root, the launcher first drops to the
session's own host uid (``uid_base + slot``), so ``RLIMIT_NPROC`` is the session's alone. It has
no cgroups: limits are rlimits set before exec (memory per process, not per jail) and size-capped
tmpfs mounts. The runtime must then be readable by that uid: a Python under /root (mode 0700) is
not, and the start-up probe says so."""

import os
import resource
import shutil
import signal
from pathlib import Path

from threadline.providers.sandbox.base import DRIVER_DIR, JailSpec, Launch, SandboxUnavailable
from threadline.providers.sandbox.process import die_with_parent
from threadline.providers.sandbox.seccomp import bpf_program_fd

INSIDE_UID = 65534


class BwrapBackend:
    name = "bwrap"

    def __init__(self, binary: Path | None, uid_base: int) -> None:
        self._configured = binary
        self._binary: Path | None = None
        self._uid_base = uid_base
        self._root = os.geteuid() == 0

    def prepare(self) -> None:
        found = shutil.which("bwrap")
        binary = self._configured or (Path(found) if found else None)
        if binary is None:
            raise SandboxUnavailable("bubblewrap (bwrap) is not installed")
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            raise SandboxUnavailable(f"the bwrap binary {str(binary)!r} does not exist")
        try:
            os.close(bpf_program_fd())
        except Exception as error:  # libseccomp missing or unusable: no filter, no bwrap
            raise SandboxUnavailable(f"no seccomp filter ({error})") from None
        self._binary = binary

    def describe(self) -> str:
        uid = f"host uids {self._uid_base}+" if self._root else "the server's uid"
        return f"bwrap {self._binary} (user namespace as {uid}; rlimits, no cgroups)"

    def launch(self, spec: JailSpec) -> Launch:
        assert self._binary is not None, "prepare() first"
        limits = spec.limits
        seccomp_fd = bpf_program_fd()
        args = [str(self._binary), "--unshare-all", "--die-with-parent", "--new-session"]
        args += ["--uid", str(INSIDE_UID), "--gid", str(INSIDE_UID), "--cap-drop", "ALL"]
        args += ["--hostname", "sandbox", "--clearenv", "--seccomp", str(seccomp_fd)]
        # The jail's own scratch space first: a runtime that lives under /tmp on the host (a
        # checkout in /tmp) is then mounted on top of it instead of being hidden by it.
        args += ["--proc", "/proc", "--dev", "/dev"]
        args += ["--perms", "0700", "--size", str(limits.data_bytes), "--tmpfs", "/mnt/data"]
        for path in ("/tmp", "/dev/shm"):
            args += ["--perms", "0700", "--size", str(limits.tmp_bytes), "--tmpfs", path]
        for mount in spec.mounts:
            if mount.link_to is not None:
                args += ["--symlink", mount.link_to, str(mount.path)]
            else:
                args += ["--ro-bind", str(mount.path), str(mount.path)]
        args += ["--ro-bind", str(spec.driver_dir), DRIVER_DIR]
        args += ["--remount-ro", "/", "--chdir", spec.cwd]
        for key, value in spec.env.items():
            args += ["--setenv", key, value]
        args += ["--", *spec.argv]
        uid = self._uid_base + spec.slot if self._root else None

        def drop_privileges() -> None:
            for which, value in (
                (resource.RLIMIT_AS, limits.memory_bytes),
                (resource.RLIMIT_CPU, limits.session_cpu_seconds),
                (resource.RLIMIT_FSIZE, limits.file_size_bytes),
                (resource.RLIMIT_NOFILE, limits.open_files),
                (resource.RLIMIT_NPROC, limits.max_processes),
                (resource.RLIMIT_CORE, 0),
            ):
                resource.setrlimit(which, (value, value))
            os.setpriority(os.PRIO_PROCESS, 0, limits.nice)
            if uid is not None:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)

        launch = Launch(
            argv=args,
            pass_fds=(seccomp_fd,),
            preexec=die_with_parent(signal.SIGKILL, drop_privileges),
            stop_signal=signal.SIGKILL,
        )
        launch.cleanup.append(lambda: os.close(seccomp_fd))
        return launch
