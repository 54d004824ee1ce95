"""The blob store seam: bytes stored and read back by a server-generated id, never by a name a
client chose."""

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Protocol


class BlobWriter(Protocol):
    """One blob being written. Nothing is visible under its id until ``commit``; ``abort`` (or
    a crash) leaves nothing behind under it."""

    @property
    def size(self) -> int: ...

    async def write(self, data: bytes | memoryview) -> None: ...

    async def commit(self) -> None: ...

    async def abort(self) -> None: ...


class BlobStore(Protocol):
    def writer(self, blob_id: str) -> BlobWriter: ...

    def read(self, blob_id: str) -> AsyncIterator[bytes]:
        """The blob's bytes in chunks; ``FileNotFoundError`` if there is none."""
        ...

    def local_path(self, blob_id: str) -> AbstractAsyncContextManager[Path]:
        """The blob as a file on this machine for as long as the context lasts (parsers read
        files)."""
        ...

    async def delete(self, blob_id: str) -> None:
        """Remove the blob; removing one that is not there is not an error."""
        ...

    async def discard_partial(self, older_than_seconds: float) -> int:
        """Remove uploads a crash left half-written this long ago; how many."""
        ...
