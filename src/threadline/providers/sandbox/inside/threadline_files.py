"""Inside the sandbox: /mnt/data as the driver sees it. Files arrive from the host by name; the
files a call created or changed are found by comparing snapshots. Only regular files with a
single link count: symlinks, hardlinks, fifos and devices are never opened or sent."""

import contextlib
import os
import stat

DATA_DIR = "/mnt/data"
MAX_DEPTH = 8
MAX_ENTRIES = 20_000

Signature = tuple[int, int, int]  # inode, size, mtime_ns


def snapshot() -> dict[str, Signature]:
    """Every regular, singly linked file under /mnt/data by relative path (bounded walk)."""
    found: dict[str, Signature] = {}
    pending: list[tuple[str, int]] = [("", 0)]
    seen = 0
    while pending and seen < MAX_ENTRIES:
        relative, depth = pending.pop()
        try:
            entries = os.scandir(os.path.join(DATA_DIR, relative) if relative else DATA_DIR)
        except OSError:
            continue
        with entries:
            for entry in entries:
                seen += 1
                path = f"{relative}/{entry.name}" if relative else entry.name
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(info.st_mode) and depth < MAX_DEPTH:
                    pending.append((path, depth + 1))
                elif stat.S_ISREG(info.st_mode) and info.st_nlink == 1:
                    found[path] = (info.st_ino, info.st_size, info.st_mtime_ns)
    return found


def changed(before: dict[str, Signature], after: dict[str, Signature]) -> list[str]:
    return sorted(path for path, signature in after.items() if before.get(path) != signature)


def open_regular(relative: str) -> tuple[int, int] | None:
    """(fd, size) of a regular, singly linked file, walking every component without following
    a symlink; ``None`` for anything else."""
    parts = relative.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return None
    directory = os.open(DATA_DIR, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=directory)
            os.close(directory)
            directory = inner
        fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=directory)
    except OSError:
        return None
    finally:
        os.close(directory)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        return None
    return fd, info.st_size


class Upload:
    """A file from the host, written under a temporary name and renamed into place, so that a
    name the code made a symlink is replaced, never followed."""

    def __init__(self, name: str) -> None:
        if "/" in name or name in ("", ".", "..") or "\x00" in name:
            raise ValueError(f"invalid file name {name!r}")
        self.name = name
        self._temporary = f".threadline-upload-{os.urandom(6).hex()}"
        self._directory = os.open(DATA_DIR, os.O_RDONLY | os.O_DIRECTORY)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        self._fd = os.open(self._temporary, flags, 0o644, dir_fd=self._directory)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def commit(self) -> None:
        os.close(self._fd)
        self._fd = -1
        os.replace(
            self._temporary, self.name, src_dir_fd=self._directory, dst_dir_fd=self._directory
        )
        os.close(self._directory)

    def abort(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        with contextlib.suppress(OSError):
            os.unlink(self._temporary, dir_fd=self._directory)
        os.close(self._directory)
