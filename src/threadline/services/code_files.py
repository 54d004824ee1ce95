"""The files of code_interpreter: what a run's code sees under /mnt/data, and the files the code
makes, stored as File objects (``purpose: assistants_output``).

A run's code sees the files of its assistant's (or the run's) ``tool_resources``, its thread's,
and those attached to the thread's messages for ``code_interpreter`` — of its own project only,
and only while they exist."""

import asyncio
import contextlib
from pathlib import Path

from threadline import clock, ids
from threadline.engine.tools.code_interpreter import InputFile
from threadline.providers.blobs.base import BlobStore
from threadline.records.files import FileRecord
from threadline.records.runs import RunScope
from threadline.records.tools import ToolResourcesRecord
from threadline.storage.database import Connection, Database
from threadline.storage.files import FileRepository
from threadline.storage.repositories import ThreadRepository
from threadline.storage.run_messages import thread_attachments

_files = FileRepository()
_threads = ThreadRepository()
_CHUNK = 1024 * 1024


class CodeFiles:
    def __init__(self, database: Database, blobs: BlobStore) -> None:
        self._db = database
        self._blobs = blobs

    async def files_of(self, run: RunScope) -> list[InputFile]:
        records = await self._db.read(_run_files, run, clock.now())
        found = []
        for record in records:
            # The local blob store hands out the blob itself; the path outlives the context.
            async with self._blobs.local_path(record["id"]) as path:
                found.append(InputFile(record["id"], record["filename"], path))
        return found

    async def save_output(self, project_id: str, name: str, path: Path) -> str:
        """A file the code wrote, as a File of the project; its id."""
        file_id = ids.file_id()
        writer = self._blobs.writer(file_id)
        try:
            with path.open("rb") as source:  # a file in the sandbox's own directory
                while chunk := await asyncio.to_thread(source.read, _CHUNK):
                    await writer.write(chunk)
            await writer.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                await writer.abort()
            raise
        await self._db.write(_insert_output, project_id, file_id, name, writer.size)
        return file_id

    async def save_image(self, project_id: str, png: bytes) -> str:
        """A figure the code showed, as a PNG File of the project; its id."""
        file_id = ids.file_id()
        writer = self._blobs.writer(file_id)
        await writer.write(png)
        await writer.commit()
        await self._db.write(_insert_output, project_id, file_id, f"{file_id}.png", len(png))
        return file_id


def _run_files(connection: Connection, run: RunScope, now: int) -> list[FileRecord]:
    project_id = run["project_id"]
    wanted = _code_file_ids(run["tool_resources"])
    thread = _threads.get_any(connection, project_id, run["thread_id"])
    if thread is not None:
        wanted += _code_file_ids(thread["tool_resources"])
    for attachment in thread_attachments(connection, run["thread_id"]):
        if any(tool.get("type") == "code_interpreter" for tool in attachment.get("tools", ())):
            wanted.append(attachment["file_id"])
    found = []
    for file_id in dict.fromkeys(wanted):
        record = _files.get_live(connection, project_id, file_id, now)
        if record is not None:
            found.append(record)
    return found


def _code_file_ids(resources: ToolResourcesRecord | None) -> list[str]:
    code = (resources or {}).get("code_interpreter") or {}
    return list(code.get("file_ids") or [])


def _insert_output(
    connection: Connection, project_id: str, file_id: str, filename: str, size: int
) -> None:
    _files.insert(
        connection,
        {
            "id": file_id,
            "project_id": project_id,
            "created_at": clock.now(),
            "bytes": size,
            "filename": filename,
            "purpose": "assistants_output",
            "status": "processed",
            "expires_at": None,
        },
    )
