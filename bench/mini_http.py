"""A minimal HTTP/1.1 keep-alive client over ``asyncio.open_connection``, for load generation.

It does only what the benchmark needs, as cheaply as possible, so that the load generator takes
little CPU from the server it shares the machine with: requests are encoded once up front, and a
response is read as one head (status line + headers) and a ``content-length`` body.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import orjson

HOST = "127.0.0.1"
SETUP_TIMEOUT = 30.0


class ProtocolError(Exception):
    pass


# What a connection can fail with mid-request; a worker counts it as an error and reconnects.
TRANSPORT_ERRORS = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ProtocolError)


def encode_request(method: str, path: str, token: str | None = None, body: Any = None) -> bytes:
    """One request, ready to write: the API's headers and an optional JSON body."""
    payload = b"" if body is None else orjson.dumps(body)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (
        f"{method} {path} HTTP/1.1\r\n"
        f"Host: {HOST}\r\n"
        f"{auth}"
        "Content-Type: application/json\r\n"
        "OpenAI-Beta: assistants=v2\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


def header(head: bytes, name: bytes) -> bytes | None:
    """A header's value in a raw response head; ``name`` is lower case and ends with a colon."""
    start = head.find(b"\r\n" + name)
    if start < 0:
        start = head.lower().find(b"\r\n" + name)  # uvicorn writes lower-case names
        if start < 0:
            return None
    start += 2 + len(name)
    return head[start : head.index(b"\r\n", start)].strip()


def _status(head: bytes) -> int:
    if not head.startswith(b"HTTP/1.") or not head[9:12].isdigit():
        raise ProtocolError(f"not an HTTP/1.x response: {head[:200]!r}")
    return int(head[9:12])


class Connection:
    """One keep-alive connection to ``HOST:port``, opened on first use and after a failure."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.reader, self.writer

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """Writes one pre-encoded request; returns the response's status and body."""
        if self.reader is None or self.writer is None:
            reader, writer = await self._open()
        else:
            reader, writer = self.reader, self.writer
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = _status(head)
        length = header(head, b"content-length:")
        if length is None:
            raise ProtocolError(f"a response without content-length: {head[:200]!r}")
        body = await reader.readexactly(int(length)) if length != b"0" else b""
        if header(head, b"connection:") == b"close":
            self.close()
        return status, body

    async def json(self, request: bytes) -> Any:
        """A set-up call: the parsed JSON body of a 2xx answer; anything else raises."""
        status, body = await asyncio.wait_for(self.send(request), SETUP_TIMEOUT)
        if not 200 <= status < 300:
            raise RuntimeError(f"set-up request failed with {status}: {body[:500]!r}")
        return orjson.loads(body)
