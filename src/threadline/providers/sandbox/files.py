"""Host-side files of the sandbox: safe names, and the server's own directory under the data
directory where files collected from sessions are written.

Each server process works in ``<data_dir>/sandbox/<random>/`` and holds an flock on its
``lock`` file while it lives; at start, directories whose lock nobody holds (a crashed server's)
are removed. Directory names are made here, never from client input."""

import contextlib
import fcntl
import os
import secrets
import shutil
import time
import unicodedata
from pathlib import Path

MAX_NAME_BYTES = 255


class InvalidFilename(ValueError):
    pass


def safe_filename(name: str) -> str:
    """The name a file gets in /mnt/data: its last path component, checked. Rejects what
    cannot be a single harmless name (empty, ``.``/``..``, NUL or other control characters)."""
    if any(unicodedata.category(char) == "Cc" for char in name):
        raise InvalidFilename("A file name must not contain control characters.")
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if base in ("", ".", "..") or base.startswith(".threadline-"):
        raise InvalidFilename(f"{name!r} is not a usable file name.")
    if len(base.encode()) > MAX_NAME_BYTES:
        raise InvalidFilename("A file name must be at most 255 bytes long.")
    return base


def safe_relative_path(path: str) -> str | None:
    """A path the code wrote under /mnt/data, as reported by the jail (untrusted), or ``None``
    if any component would not pass ``safe_filename`` unchanged."""
    parts = path.split("/")
    if not 0 < len(parts) <= 16:
        return None
    for part in parts:
        try:
            if safe_filename(part) != part:
                return None
        except InvalidFilename:
            return None
    return path


class Workspace:
    """This server's directory for sandbox files, removed on close."""

    def __init__(self, data_dir: Path) -> None:
        self.parent = data_dir / "sandbox"
        self.root = self.parent / secrets.token_hex(8)
        self._lock_fd = -1

    def open(self) -> None:
        self.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(self.parent)
        self.root.mkdir(mode=0o700)
        self._lock_fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def session_dir(self) -> Path:
        directory = self.root / secrets.token_hex(8)
        directory.mkdir(mode=0o700)
        return directory

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1


def remove_stale(parent: Path) -> None:
    for directory in parent.iterdir():
        if not directory.is_dir() or directory.is_symlink():
            continue
        try:
            fd = os.open(directory / "lock", os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            # Died before it took its lock, or is starting right now.
            if time.time() - directory.stat().st_mtime > 60:
                shutil.rmtree(directory, ignore_errors=True)
            continue
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # a live server's
        finally:
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(directory, ignore_errors=True)
