"""Blobs as files under ``<data_dir>/files``: written to a temporary file, fsynced, then renamed
into place (atomic: a reader sees the whole blob or none), read and written off the event loop.

The path is built from the blob id alone, after checking it is a plain id, so no client input
can name a path."""

import asyncio
import contextlib
import os
import re
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import BinaryIO

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Disk writes are gathered to this size before a thread hop: one hop per network chunk (64 KiB)
# costs more than the write.
_FLUSH_BYTES = 1024 * 1024
_READ_BYTES = 1024 * 1024
_PARTIAL_SUFFIX = ".part"


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._incoming = root / ".incoming"
        self._incoming.mkdir(parents=True, exist_ok=True)

    def path(self, blob_id: str) -> Path:
        if not _ID.match(blob_id):
            raise ValueError("not a blob id")
        # Spread over 1,296 directories (the id ends in random base-36 digits).
        return self.root / blob_id[-2:] / blob_id

    def writer(self, blob_id: str) -> "LocalBlobWriter":
        target = self.path(blob_id)
        partial = self._incoming / f"{secrets.token_hex(16)}{_PARTIAL_SUFFIX}"
        return LocalBlobWriter(target, partial)

    async def read(self, blob_id: str) -> AsyncIterator[bytes]:
        handle = await asyncio.to_thread(self.path(blob_id).open, "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, _READ_BYTES):
                yield chunk
        finally:
            handle.close()

    @asynccontextmanager
    async def local_path(self, blob_id: str) -> AsyncIterator[Path]:
        path = self.path(blob_id)
        if not await asyncio.to_thread(path.is_file):
            raise FileNotFoundError(blob_id)
        yield path

    async def delete(self, blob_id: str) -> None:
        await asyncio.to_thread(self.path(blob_id).unlink, missing_ok=True)

    async def discard_partial(self, older_than_seconds: float) -> int:
        """Remove uploads a crash left half-written; the number removed."""
        return await asyncio.to_thread(self._discard_partial, time.time() - older_than_seconds)

    def _discard_partial(self, before: float) -> int:
        removed = 0
        for path in self._incoming.glob(f"*{_PARTIAL_SUFFIX}"):
            try:
                if path.stat().st_mtime < before:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed


class LocalBlobWriter:
    def __init__(self, target: Path, partial: Path) -> None:
        self._target = target
        self._partial = partial
        self._handle: BinaryIO | None = None
        self._buffer = bytearray()
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    async def write(self, data: bytes | memoryview) -> None:
        self._buffer += data
        self._size += len(data)
        if len(self._buffer) >= _FLUSH_BYTES:
            await self._flush()

    async def _flush(self) -> None:
        if self._handle is None:
            self._handle = await asyncio.to_thread(self._partial.open, "wb")
        data, self._buffer = self._buffer, bytearray()
        await asyncio.to_thread(self._handle.write, data)

    async def commit(self) -> None:
        await self._flush()
        await asyncio.to_thread(self._finish)

    def _finish(self) -> None:
        assert self._handle is not None
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        self._handle = None
        self._target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._partial, self._target)

    async def abort(self) -> None:
        await asyncio.to_thread(self._discard)

    def _discard(self) -> None:
        handle, self._handle, self._buffer = self._handle, None, bytearray()
        try:
            if handle is not None:
                # On a full disk closing fails flushing what is being thrown away anyway: the
                # file is closed all the same, and must still go.
                with contextlib.suppress(OSError):
                    handle.close()
        finally:
            self._partial.unlink(missing_ok=True)
