"""The host's end of the driver protocol (see ``inside/driver.py``): length-prefixed frames over
the jail's stdin and stdout. Everything read is untrusted: sizes are bounded before reading, and
JSON must be an object."""

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from threadline.records.jsonvalue import JsonObject

CHUNK = 1 << 20


class ProtocolViolation(Exception):
    """The jail sent something the driver never sends: the session is ended."""


class HostChannel:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, limit: int) -> bytes | None:
        """The next frame, or ``None`` at end of stream (the jail is gone)."""
        try:
            header = await self._reader.readexactly(4)
            size = int.from_bytes(header, "big")
            if size > limit:
                raise ProtocolViolation(f"a frame of {size} bytes (limit {limit})")
            return await self._reader.readexactly(size)
        except asyncio.IncompleteReadError:
            return None

    async def read_json(self, limit: int) -> JsonObject | None:
        frame = await self.read(limit)
        if frame is None:
            return None
        try:
            message = json.loads(frame)
        except ValueError:
            raise ProtocolViolation("a frame that is not JSON") from None
        if not isinstance(message, dict):
            raise ProtocolViolation("a JSON frame that is not an object")
        return message

    async def write(self, payload: bytes) -> None:
        self._writer.write(len(payload).to_bytes(4, "big") + payload)
        await self._writer.drain()

    async def write_json(self, message: Mapping[str, object]) -> None:
        await self.write(json.dumps(message).encode())


def expect(message: Mapping[str, object], key: str, kind: type | tuple[type, ...]) -> Any:
    value = message.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ProtocolViolation(f"field {key!r} of the wrong type")
    return value
