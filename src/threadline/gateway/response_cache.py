"""The exact-match response cache: a model answer kept for a while and given again, unchanged,
to the same request of the same project.

Opt-in per key or project (``cache_ttl``, seconds; a key's value wins over its project's, 0 on a
key turns it off). An answer is found by the SHA-256 of (route, project id, model, canonical
body), the body parsed and dumped again with sorted keys, so key order and spacing do not
matter but every value does: ``stream``, ``temperature``, ``n``, ``user``... A project never
sees another's answers, since its id is in the key. Exact match means exactly that: an answer
sampled with ``temperature`` > 0 is given again as it was (the key's owner asked for it).

Only whole successful answers are stored: a 200 JSON body, or a stream that ended with its end
marker (``data: [DONE]`` for Chat Completions), as the client got it, and replayed as a stream.
Answers over ``max_entry_bytes`` are not stored. A request's ``Cache-Control: no-cache`` (or
``max-age=0``) skips the lookup, ``no-store`` the lookup and the storing.

The store is Redis when configured (``cache_store_redis``), else the database
(``storage.cache_store``). A store that fails is a miss (and nothing stored), never a failed
request: the cache only saves upstream calls."""

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from prometheus_client import Counter

from threadline.gateway.metrics import Metrics
from threadline.records.gateway import CachedResponse

logger = logging.getLogger("threadline.gateway")

MAX_ENTRY_BYTES = 1024 * 1024
# Upper bound of a key's or project's ``cache_ttl``: a year.
MAX_CACHE_TTL = 365 * 86_400
HIT, MISS = "hit", "miss"
# The last event of a whole Chat Completions stream.
CHAT_STREAM_END = b"data: [DONE]"
# How far from a stream's end its end marker is looked for (an Anthropic ``message_stop`` event
# has a small data line after its name).
_END_WINDOW = 512
_WARN_EVERY_SECONDS = 60.0


class CacheUnavailable(Exception):
    """The store could not be reached (Redis down, timed out)."""


class CacheStore(Protocol):
    async def get(self, key: str, now_ms: int) -> CachedResponse | None:
        """The answer under ``key`` if it has not expired by ``now_ms``."""
        ...

    async def put(self, entry: CachedResponse, now_ms: int) -> None: ...

    async def aclose(self) -> None: ...


def response_key(
    route: str, project_id: str, model: str, body: Mapping[str, object], vary: str = ""
) -> str:
    """The SHA-256 (hex) of the route, the project, the model, ``vary`` (request headers that
    change the answer, e.g. ``anthropic-beta``) and the canonical body."""
    digest = hashlib.sha256(f"{route}\0{project_id}\0{model}\0{vary}\0".encode())
    digest.update(orjson.dumps(body, option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()


def directives(cache_control: list[str]) -> tuple[bool, bool]:
    """(look up, store) for a request's ``Cache-Control`` header values."""
    read = write = True
    for value in cache_control:
        for directive in value.lower().split(","):
            name, _, argument = directive.strip().partition("=")
            if name == "no-store":
                read = write = False
            elif name == "no-cache" or (name == "max-age" and argument.strip() == "0"):
                read = False
    return read, write


@dataclass(slots=True)
class CacheLookup:
    """One request's use of the cache: where its answer goes, and the answer found, if any."""

    route: str
    key: str
    project_id: str
    ttl_ms: int
    write: bool  # False under ``Cache-Control: no-store``
    hit: CachedResponse | None

    @property
    def outcome(self) -> str:
        """``hit`` or ``miss``: the ``x-threadline-cache`` header and the log's ``cache``."""
        return HIT if self.hit is not None else MISS


class StreamCapture:
    """A streamed answer's bytes as the client gets them, kept until the stream's last event
    (the one holding ``end_marker``) is in: a stream cut off, broken or ended by an in-band
    error never gets there. Past ``limit`` bytes it gives up and holds nothing more."""

    __slots__ = ("_end_marker", "_limit", "_parts", "_size", "_tail")

    def __init__(self, limit: int, end_marker: bytes) -> None:
        self._parts: list[bytes] | None = []
        self._size = 0
        self._limit = limit
        self._end_marker = end_marker
        self._tail = b""  # the stream's last bytes: the marker may straddle two reads

    def add(self, data: bytes) -> bool:
        """Keep ``data``; True when it completes the stream's last event."""
        if self._parts is None or not data:
            return False
        self._size += len(data)
        if self._size > self._limit:
            self._parts = None
            return False
        self._parts.append(data)
        tail = self._tail = (self._tail + data)[-_END_WINDOW:]
        return tail.endswith((b"\n\n", b"\r\n\r\n")) and self._end_marker in tail

    def body(self) -> bytes | None:
        """Everything kept, or None past the size limit."""
        return b"".join(self._parts) if self._parts is not None else None


class ResponseCache:
    """Looks answers up and stores them; counts hits and misses in ``/metrics``.

    ``clock`` (Unix seconds) decides expiry on every store (Redis also drops an entry by itself
    at the same time): tests move it instead of waiting."""

    def __init__(
        self,
        store: CacheStore,
        metrics: Metrics,
        *,
        max_entry_bytes: int = MAX_ENTRY_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self.max_entry_bytes = max_entry_bytes
        self.clock = clock
        self._hits = metrics.cache_hits
        self._misses = metrics.cache_misses
        self._counted: dict[tuple[str, str], Any] = {}  # (route, outcome) -> labelled counter
        self._warned = float("-inf")

    async def lookup(
        self,
        route: str,
        project_id: str,
        model: str,
        body: Mapping[str, object],
        ttl: int,
        cache_control: list[str],
        vary: str = "",
    ) -> CacheLookup:
        """The request's key, and its stored answer unless ``Cache-Control`` skips the lookup.
        ``body`` as the client sent it, before any change made for the upstream."""
        key = response_key(route, project_id, model, body, vary)
        read, write = directives(cache_control)
        hit = None
        if read:
            try:
                hit = await self._store.get(key, self._now_ms())
            except Exception as error:
                self._warn("look up an answer in", error)
        lookup = CacheLookup(route, key, project_id, ttl * 1000, write, hit)
        self._count(route, lookup.outcome)
        return lookup

    def capture(self, lookup: CacheLookup, end_marker: bytes) -> StreamCapture | None:
        """Where a streamed answer is kept while it is sent, if it may be stored;
        ``end_marker`` is found in its last event only (``CHAT_STREAM_END``)."""
        return StreamCapture(self.max_entry_bytes, end_marker) if lookup.write else None

    async def store(
        self, lookup: CacheLookup, content_type: str, body: bytes, *, stream: bool
    ) -> bool:
        """Keep a whole successful answer for ``lookup``'s TTL; False when it is not kept
        (``no-store``, too big, the store failing)."""
        if not lookup.write or len(body) > self.max_entry_bytes:
            return False
        now_ms = self._now_ms()
        entry: CachedResponse = {
            "key": lookup.key,
            "project_id": lookup.project_id,
            "expires_at": now_ms + lookup.ttl_ms,
            "stream": stream,
            "content_type": content_type[:128],
            "body": body,
        }
        try:
            await self._store.put(entry, now_ms)
        except Exception as error:
            self._warn("store an answer in", error)
            return False
        return True

    async def aclose(self) -> None:
        await self._store.aclose()

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _count(self, route: str, outcome: str) -> None:
        counter = self._counted.get((route, outcome))
        if counter is None:
            family: Counter = self._hits if outcome == HIT else self._misses
            counter = self._counted[(route, outcome)] = family.labels(route)
        counter.inc()

    def _warn(self, what: str, error: Exception) -> None:
        """One line a minute at most: a store that is down fails every request's lookup."""
        now = time.monotonic()
        if now - self._warned >= _WARN_EVERY_SECONDS:
            self._warned = now
            logger.warning("could not %s the response cache (%s); going on without", what, error)
