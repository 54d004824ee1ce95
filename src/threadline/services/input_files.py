"""``input_file`` parts of a response's input messages, read for the model: a file of the
project (``file_id``) or one sent inline (``file_data``, base64 or a ``data:`` URL, with its
``filename``) is parsed to text in the sandboxed parser child (providers.documents) and the text
kept in the stored part, under ``INPUT_FILE_TEXT`` (never shown: the item views leave private keys
out), for the prompt (engine.chat_turns.chat_content). A ``file_url`` is refused: this server
fetches nothing from the internet.

The text is bounded (``MAX_CHARS``, about 25,000 tokens): past it the model is told the file
goes on, as a file_search tool would serve the rest."""

import asyncio
import base64
import binascii
import tempfile
from pathlib import Path
from typing import cast

from threadline import clock
from threadline.errors import InvalidRequest, NotFound
from threadline.providers.blobs.base import BlobStore
from threadline.providers.documents.errors import DocumentRejected
from threadline.providers.documents.isolation import ParseLimits, parse_isolated
from threadline.records.jsonvalue import JsonObject
from threadline.records.responses import INPUT_FILE_TEXT
from threadline.records.threads import MessageRecord
from threadline.storage.database import Database
from threadline.storage.files import FileRepository

MAX_CHARS = 100_000

_files = FileRepository()


class InputFileReader:
    def __init__(
        self,
        database: Database,
        blobs: BlobStore,
        limits: ParseLimits | None = None,
        max_parallel_parses: int = 2,
    ) -> None:
        self._db = database
        self._blobs = blobs
        self._limits = limits or ParseLimits()
        self._slots = asyncio.Semaphore(max_parallel_parses)

    async def read_into(self, project_id: str, messages: list[MessageRecord]) -> None:
        """Give every ``input_file`` part of ``messages`` its text (in place). Raises the
        request's error for a file it cannot read."""
        for message in messages:
            for part in cast(list[JsonObject], message["content"]):
                if part.get("type") == "input_file" and INPUT_FILE_TEXT not in part:
                    filename, text = await self._text_of(project_id, part)
                    part[INPUT_FILE_TEXT] = framed(filename, text)

    async def _text_of(self, project_id: str, part: JsonObject) -> tuple[str, str]:
        """The file's name and its text."""
        file_id, data, url = part.get("file_id"), part.get("file_data"), part.get("file_url")
        if isinstance(url, str) and not file_id and not data:
            raise InvalidRequest(
                "input_file with a file_url is not supported: this server fetches nothing from "
                "the internet. Upload the file (POST /v1/files) and pass its file_id, or send "
                "its content as file_data.",
                param="input",
                code="unsupported_value",
            )
        with tempfile.TemporaryDirectory(prefix="threadline-input-") as folder:
            path = Path(folder) / "file"
            if isinstance(file_id, str) and file_id:
                filename = await self._copy_file(project_id, file_id, path)
            elif isinstance(data, str):
                filename = str(part.get("filename") or "")
                if not filename:
                    raise InvalidRequest(
                        "input_file with file_data needs its filename.", param="input"
                    )
                path.write_bytes(_decoded(data))
            else:
                raise InvalidRequest(
                    "input_file needs one of file_id, file_data or file_url.", param="input"
                )
            try:
                async with self._slots:
                    return filename, await parse_isolated(path, filename, self._limits)
            except DocumentRejected as rejected:
                raise InvalidRequest(
                    f"The input file {filename!r} could not be read: {rejected.message}",
                    param="input",
                    code=rejected.code,
                ) from rejected

    async def _copy_file(self, project_id: str, file_id: str, path: Path) -> str:
        record = await self._db.read(_files.get_live, project_id, file_id, clock.now())
        if record is None:  # another project's file is no file of this one
            raise NotFound.object("file", file_id, param="input")
        with path.open("wb") as out:
            async for block in self._blobs.read(file_id):
                out.write(block)
        return record["filename"]


def framed(filename: str, text: str) -> str:
    """The text as the model reads it: between lines that name the file, cut at
    ``MAX_CHARS``."""
    if len(text) > MAX_CHARS:
        text = (
            text[:MAX_CHARS]
            + f"\n[… the file goes on: only its first {MAX_CHARS:,} characters are shown here.]"
        )
    return f"[file {filename}]\n{text}\n[end of file {filename}]"


def _decoded(data: str) -> bytes:
    """``file_data`` as bytes: base64, bare or as a ``data:`` URL (what OpenAI takes)."""
    if data.startswith("data:"):
        data = data.partition(",")[2]
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(
            "input_file's file_data is not base64 (or a base64 data: URL).", param="input"
        ) from None
