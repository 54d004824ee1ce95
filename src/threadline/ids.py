"""Object ids with OpenAI's prefixes that also sort by creation time.

An id is ``prefix + 10 chars of time + 14 random chars`` in base 36 (``0-9a-z``). The time part is
microseconds since the epoch, made strictly increasing inside a process, so ordering by id equals
ordering by creation. Cursor pagination can then compare ids directly: a cursor whose object was
deleted meanwhile still marks the right place, and no extra lookup is needed.
"""

import os
import threading
import time

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_TIME_WIDTH = 10
_RANDOM_WIDTH = 14

_lock = threading.Lock()
_last_micros = 0
# Random bytes are read from the OS in blocks: one getrandom() call per id was a measurable
# share of a request.
_RANDOM_BYTES = 9  # 72 bits, at least 14 base-36 digits
_POOL_BYTES = _RANDOM_BYTES * 512
_pool = b""
_offset = _POOL_BYTES


def _forget_pool() -> None:
    # A forked child must not hand out the same "random" bytes as its parent.
    global _offset
    _offset = _POOL_BYTES


os.register_at_fork(after_in_child=_forget_pool)


def _base36(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, digit = divmod(value, 36)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def _next_micros() -> int:
    global _last_micros
    with _lock:
        now = time.time_ns() // 1000
        _last_micros = max(now, _last_micros + 1)
        return _last_micros


def _random_bits() -> int:
    global _pool, _offset
    with _lock:
        if _offset >= _POOL_BYTES:
            _pool, _offset = os.urandom(_POOL_BYTES), 0
        start, _offset = _offset, _offset + _RANDOM_BYTES
    return int.from_bytes(_pool[start : start + _RANDOM_BYTES], "big")


def new_id(prefix: str) -> str:
    random_part = _base36(_random_bits(), _RANDOM_WIDTH)
    return f"{prefix}{_base36(_next_micros(), _TIME_WIDTH)}{random_part}"


def creation_key(object_id: str) -> str:
    """The time-ordered part of an id: compares ids of different kinds (``msg_`` and
    ``step_``) by when they were made, which their prefixes would otherwise decide."""
    for index, char in enumerate(object_id):
        if char in "_-":
            return object_id[index + 1 :]
    return object_id


def assistant_id() -> str:
    return new_id("asst_")


def thread_id() -> str:
    return new_id("thread_")


def message_id() -> str:
    return new_id("msg_")


def run_id() -> str:
    return new_id("run_")


def step_id() -> str:
    return new_id("step_")


def tool_call_id() -> str:
    return new_id("call_")


def vector_store_id() -> str:
    return new_id("vs_")


def file_batch_id() -> str:
    return new_id("vsfb_")


def file_id() -> str:
    return new_id("file-")


def project_id() -> str:
    return new_id("proj_")


def api_key_id() -> str:
    return new_id("key_")


def request_id() -> str:
    return new_id("req_")


def copied_id(prefix: str, original: str) -> str:
    """A new id that sorts where ``original`` does (its time part, a new random part): a row
    copied to another thread keeps its place among the rows it came with."""
    random_part = _base36(_random_bits(), _RANDOM_WIDTH)
    return f"{prefix}{creation_key(original)[:_TIME_WIDTH]}{random_part}"
