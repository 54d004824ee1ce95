"""The Python the sandbox runs: an interpreter (by default the server's own venv, where
``make install`` put numpy, pandas and matplotlib), mounted read-only at its own paths together
with the system library directories its extension modules load from. Nothing else of the host
is visible: no /etc, no /home, no /var, no binaries outside the runtime."""

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from threadline.providers.sandbox.base import (
    DRIVER_DIR,
    JailSpec,
    Limits,
    Mount,
    SandboxUnavailable,
)

# Where the dynamic loader and the libraries of CPython's and the wheels' extension modules live.
_LIBRARY_DIRS = ("/lib", "/lib32", "/lib64", "/libx32", "/usr/lib", "/usr/lib32", "/usr/lib64")

_PRINT_PREFIXES = "import sys, json; print(json.dumps([sys.prefix, sys.base_prefix]))"

DRIVER_SOURCE = Path(__file__).resolve().parent / "inside"


@dataclass(frozen=True)
class PythonRuntime:
    executable: str  # as invoked: a venv's bin/python finds its site-packages from there
    mounts: tuple[Mount, ...]

    def argv(self) -> list[str]:
        # -I: no PYTHON* variables, no user site, no script directory on sys.path; -B: the
        # runtime is read-only, so no bytecode is written.
        return [self.executable, "-I", "-B", f"{DRIVER_DIR}/driver.py"]

    def jail_spec(self, limits: Limits, slot: int) -> JailSpec:
        return JailSpec(
            mounts=self.mounts,
            driver_dir=DRIVER_SOURCE,
            argv=self.argv(),
            env=self.environment(),
            limits=limits,
            slot=slot,
        )

    def environment(self) -> dict[str, str]:
        """The jail's entire environment: nothing of the server's."""
        return {
            "PATH": f"{os.path.dirname(self.executable)}:/usr/bin:/bin",
            "HOME": "/tmp",
            "PWD": "/mnt/data",  # the working directory (bubblewrap sets it anyway)
            "TMPDIR": "/tmp",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "MPLBACKEND": "module://threadline_show",
            "MPLCONFIGDIR": "/tmp/.matplotlib",
            # One BLAS/OpenMP thread: the memory limit is per address space, and the CPU
            # share per session is one core.
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }


def discover(executable: str | None = None) -> PythonRuntime:
    """The runtime of ``executable`` (default: this server's interpreter)."""
    if executable is None:
        executable = sys.executable
        prefixes = {sys.prefix, sys.base_prefix}
    else:
        prefixes = _prefixes_of(executable)
    roots = {Path(os.path.realpath(prefix)) for prefix in prefixes}
    # The interpreter a venv links to may live outside both prefixes.
    roots.add(Path(os.path.realpath(executable)).parent.parent)
    mounts: list[Mount] = []
    for directory in _LIBRARY_DIRS:
        path = Path(directory)
        if path.is_symlink():
            mounts.append(Mount(path, link_to=os.readlink(path)))
        elif path.is_dir():
            roots.add(path)
    # Parents first; a directory inside another mounted one needs no mount of its own.
    kept: list[Path] = []
    for root in sorted(roots, key=lambda p: len(p.parts)):
        if not any(root.is_relative_to(parent) for parent in kept):
            kept.append(root)
    if Path("/") in kept:
        raise SandboxUnavailable("the sandbox's Python runtime cannot be the whole filesystem")
    return PythonRuntime(executable, tuple([Mount(p) for p in kept] + mounts))


def _prefixes_of(executable: str) -> set[str]:
    try:
        completed = subprocess.run(
            [executable, "-I", "-c", _PRINT_PREFIXES],
            capture_output=True,
            timeout=30,
            env={"PATH": "/usr/bin:/bin"},
            check=True,
        )
        return set(json.loads(completed.stdout))
    except (OSError, subprocess.SubprocessError, ValueError) as error:
        raise SandboxUnavailable(f"the Python {executable!r} does not run: {error}") from None
