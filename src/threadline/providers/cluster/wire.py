"""The framing of hub messages: a 4-byte big-endian length, then a JSON array.

A worker's message is ``[id, op, *args]``: ``id`` > 0 asks for an answer ``[id, result]`` (or
``[id, null, error]``), 0 asks for none. The hub's own messages to a worker (a peer's telling)
are ``[0, kind, *args]``. JSON (orjson) rather than pickle: a peer can never make another one
run code, and a frame is a few hundred bytes."""

import struct
from collections.abc import Callable

import orjson

Message = list[object]
_LENGTH = struct.Struct(">I")
# Far above any message (a counter check names a few keys); a bigger one is a broken peer.
MAX_FRAME_BYTES = 1 << 20


class FrameTooLarge(Exception):
    pass


def encode(message: Message) -> bytes:
    body = orjson.dumps(message)
    return _LENGTH.pack(len(body)) + body


class Decoder:
    """Turns the bytes of a stream into messages, however the stream splits them."""

    def __init__(self, on_message: Callable[[Message], None]) -> None:
        self._on_message = on_message
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        start = 0
        while len(buffer) - start >= 4:
            (length,) = _LENGTH.unpack_from(buffer, start)
            if length > MAX_FRAME_BYTES:
                raise FrameTooLarge(f"a hub message of {length} bytes")
            end = start + 4 + length
            if len(buffer) < end:
                break
            message = orjson.loads(bytes(buffer[start + 4 : end]))
            start = end
            self._on_message(message)
        del buffer[:start]
