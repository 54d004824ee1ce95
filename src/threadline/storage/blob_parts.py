"""Blobs in the database (``THREADLINE_BLOB_STORE=database``): every replica reads every file
without shared storage, which is what PostgreSQL + Redis behind a load balancer needs.

A blob is stored as rows of up to 1 MiB (``blob_parts``). While it is being written its rows
carry an incoming id (``~`` + random hex, never a file id); ``commit`` renames them to the blob id
in one transaction, so a reader sees the whole blob or none, and a crash leaves only incoming rows
that the sweeper removes (``discard_partial``). An upload is never whole in memory: one part is
buffered, then written. Parts are written and read off the event loop (``run_off_loop``)."""

import asyncio
import os
import secrets
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import Connection, delete, func, insert, select, update

from threadline.storage.database import Database
from threadline.storage.file_tables import BlobPartRow

PART_BYTES = 1024 * 1024
_INCOMING = "~"
_parts = BlobPartRow.__table__


class DatabaseBlobStore:
    def __init__(self, database: Database, scratch: Path) -> None:
        self._db = database
        # Where ``local_path`` puts a blob's bytes for as long as a parser needs a file.
        self._scratch = scratch
        scratch.mkdir(parents=True, exist_ok=True)

    def writer(self, blob_id: str) -> "DatabaseBlobWriter":
        return DatabaseBlobWriter(self._db, blob_id)

    async def read(self, blob_id: str) -> AsyncIterator[bytes]:
        count = await self._db.read(_part_count, blob_id)
        if not count:
            raise FileNotFoundError(blob_id)
        for seq in range(count):
            data = await self._db.run_off_loop(False, _part, blob_id, seq)
            if data is None:  # deleted while being read
                raise FileNotFoundError(blob_id)
            yield data

    @asynccontextmanager
    async def local_path(self, blob_id: str) -> AsyncIterator[Path]:
        handle, name = tempfile.mkstemp(dir=self._scratch, prefix="blob-")
        path = Path(name)
        try:
            with os.fdopen(handle, "wb") as file:
                async for data in self.read(blob_id):
                    await asyncio.to_thread(file.write, data)
            yield path
        finally:
            path.unlink(missing_ok=True)

    async def delete(self, blob_id: str) -> None:
        await self._db.run_off_loop(True, _delete, blob_id)

    async def discard_partial(self, older_than_seconds: float) -> int:
        """Remove what uploads a crash left half-written; the number of blobs removed."""
        return await self._db.run_off_loop(
            True, _discard_incoming, int(time.time() - older_than_seconds)
        )


class DatabaseBlobWriter:
    def __init__(self, database: Database, blob_id: str) -> None:
        self._db = database
        self._blob_id = blob_id
        self._incoming = f"{_INCOMING}{secrets.token_hex(16)}"
        self._buffer = bytearray()
        self._parts = 0
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    async def write(self, data: bytes | memoryview) -> None:
        self._buffer += data
        self._size += len(data)
        while len(self._buffer) >= PART_BYTES:
            await self._flush(bytes(self._buffer[:PART_BYTES]))
            del self._buffer[:PART_BYTES]

    async def _flush(self, data: bytes) -> None:
        await self._db.run_off_loop(
            True, _insert_part, self._incoming, self._parts, data, int(time.time())
        )
        self._parts += 1

    async def commit(self) -> None:
        if self._buffer or not self._parts:  # an empty blob still has its (empty) part
            await self._flush(bytes(self._buffer))
            self._buffer = bytearray()
        await self._db.write(_rename, self._incoming, self._blob_id)

    async def abort(self) -> None:
        self._buffer = bytearray()
        await self._db.run_off_loop(True, _delete, self._incoming)


def _insert_part(connection: Connection, blob_id: str, seq: int, data: bytes, now: int) -> None:
    connection.execute(insert(_parts).values(blob_id=blob_id, seq=seq, data=data, created_at=now))


def _rename(connection: Connection, incoming: str, blob_id: str) -> None:
    connection.execute(delete(_parts).where(_parts.c.blob_id == blob_id))
    connection.execute(update(_parts).where(_parts.c.blob_id == incoming).values(blob_id=blob_id))


def _part_count(connection: Connection, blob_id: str) -> int:
    return int(
        connection.execute(
            select(func.count()).select_from(_parts).where(_parts.c.blob_id == blob_id)
        ).scalar_one()
    )


def _part(connection: Connection, blob_id: str, seq: int) -> bytes | None:
    row = connection.execute(
        select(_parts.c.data).where(_parts.c.blob_id == blob_id, _parts.c.seq == seq)
    ).first()
    return bytes(row[0]) if row is not None else None


def _delete(connection: Connection, blob_id: str) -> None:
    connection.execute(delete(_parts).where(_parts.c.blob_id == blob_id))


def _discard_incoming(connection: Connection, before: int) -> int:
    stale = (
        select(_parts.c.blob_id)
        .where(_parts.c.blob_id.startswith(_INCOMING, autoescape=True))
        .group_by(_parts.c.blob_id)
        .having(func.max(_parts.c.created_at) < before)
    )
    ids = list(connection.execute(stale).scalars())
    if ids:
        connection.execute(delete(_parts).where(_parts.c.blob_id.in_(ids)))
    return len(ids)
