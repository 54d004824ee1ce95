"""Rate-limit and budget counters in Redis, shared by every replica.

Each operation is one Lua script, so check-and-take is atomic across replicas (no INCR-then-
EXPIRE race), and every key it writes gets an expiry in the same script: nothing is immortal.

- window ``…w:…``: a hash ``{e: end ms, n: count}`` expiring at ``e``;
- slots ``…c:…``: a sorted set of request ids scored by when their hold runs out (a replica that
  dies holding slots loses them after ``slot_ms``);
- spend ``…s:…``: an integer of nano-USD expiring a day after its period."""

import functools
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from threadline.gateway.counters import (
    WINDOW_MS,
    Check,
    CountersUnavailable,
    Outcome,
    OutcomeKind,
)

# The script's outcome number -> its kind, by indexing (cheaper than calling the enum).
_KINDS = tuple(OutcomeKind)

P = ParamSpec("P")
T = TypeVar("T")


def _unavailable(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Redis failures (down, timeout) as ``CountersUnavailable``; the limiter decides."""

    @functools.wraps(method)
    async def wrapped(*args: P.args, **kwargs: P.kwargs) -> T:
        from redis.exceptions import RedisError

        try:
            return await method(*args, **kwargs)
        except (RedisError, OSError) as error:
            raise CountersUnavailable(type(error).__name__) from None

    return wrapped


_ADMIT = """
local now = tonumber(ARGV[1])
local nw, ns, nb = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local slot_id, slot_ms, window_ms = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
local a = 8
local used, ends = {}, {}
local failed = 0
for i = 1, nw do
  local limit, amount = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  a = a + 2
  local v = redis.call('HMGET', KEYS[i], 'e', 'n')
  local e, n = tonumber(v[1]), tonumber(v[2])
  if not e or e <= now then e = now + window_ms; n = 0 end
  if failed == 0 and (n + amount > limit or n >= limit) then failed = i end
  used[i], ends[i] = n + amount, e
end
if failed > 0 then
  for i = 1, nw do used[i] = used[i] - tonumber(ARGV[8 + (i - 1) * 2 + 1]) end
  return {1, failed, used, ends}
end
for j = 1, ns do
  local key = KEYS[nw + j]
  local limit = tonumber(ARGV[a]); a = a + 1
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) >= limit then return {2, j, used, ends} end
end
for k = 1, nb do
  local budget = tonumber(ARGV[a]); a = a + 1
  local spent = redis.call('GET', KEYS[nw + ns + k])
  if not spent then return {4, k, used, ends} end
  if tonumber(spent) >= budget then return {3, k, used, ends} end
end
for i = 1, nw do
  redis.call('HSET', KEYS[i], 'e', ends[i], 'n', used[i])
  redis.call('PEXPIREAT', KEYS[i], ends[i])
end
for j = 1, ns do
  local key = KEYS[nw + j]
  redis.call('ZADD', key, now + slot_ms, slot_id)
  redis.call('PEXPIRE', key, slot_ms)
end
return {0, 0, used, ends}
"""

# KEYS[1] window; ARGV: expected end, reserved, actual, now, window_ms
_SETTLE = """
local e = tonumber(redis.call('HGET', KEYS[1], 'e'))
local now = tonumber(ARGV[4])
if e and e == tonumber(ARGV[1]) and e > now then
  local n = tonumber(redis.call('HGET', KEYS[1], 'n')) + tonumber(ARGV[3]) - tonumber(ARGV[2])
  if n < 0 then n = 0 end
  redis.call('HSET', KEYS[1], 'n', n)
elseif e and e > now then
  redis.call('HINCRBY', KEYS[1], 'n', ARGV[3])
else
  local fresh = now + tonumber(ARGV[5])
  redis.call('HSET', KEYS[1], 'e', fresh, 'n', ARGV[3])
  redis.call('PEXPIREAT', KEYS[1], fresh)
end
return 1
"""

# KEYS: windows; ARGV: amount, now, window_ms
_ADD = """
local now, window_ms = tonumber(ARGV[2]), tonumber(ARGV[3])
for i = 1, #KEYS do
  local e = tonumber(redis.call('HGET', KEYS[i], 'e'))
  if e and e > now then
    redis.call('HINCRBY', KEYS[i], 'n', ARGV[1])
  else
    local fresh = now + window_ms
    redis.call('HSET', KEYS[i], 'e', fresh, 'n', ARGV[1])
    redis.call('PEXPIREAT', KEYS[i], fresh)
  end
end
return 1
"""

# KEYS: spend counters; ARGV: nanos. Only existing counters grow (see Counters.spend).
_SPEND = """
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('INCRBY', KEYS[i], ARGV[1]) end
end
return 1
"""


class RedisCounters:
    def __init__(self, url: str, *, prefix: str = "threadline:", slot_ms: int = 900_000) -> None:
        import redis.asyncio as redis  # imported here: the in-memory default needs no Redis

        self.redis: Any = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._prefix = prefix
        self._slot_ms = slot_ms
        self._admit = self.redis.register_script(_ADMIT)
        self._settle = self.redis.register_script(_SETTLE)
        self._add = self.redis.register_script(_ADD)
        self._spend = self.redis.register_script(_SPEND)

    @_unavailable
    async def admit(self, check: Check, slot_id: str, now_ms: int) -> Outcome:
        prefix = self._prefix
        keys = [prefix + key for key, _, _ in check.windows]
        keys += [prefix + key for key, _ in check.slots]
        keys += [prefix + key for key, _ in check.budgets]
        args: list[Any] = [
            now_ms,
            len(check.windows),
            len(check.slots),
            len(check.budgets),
            slot_id or "-",
            self._slot_ms,
            WINDOW_MS,
        ]
        for _, limit, amount in check.windows:
            args += [limit, amount]
        args += [limit for _, limit in check.slots]
        args += [budget for _, budget in check.budgets]
        kind, index, used, ends = await self._admit(keys=keys, args=args)
        used_now, ends_ms = [int(u) for u in used], [int(e) for e in ends]
        return Outcome(_KINDS[int(kind)], int(index) - 1, used_now, ends_ms)

    @_unavailable
    async def settle(self, key: str, end_ms: int, reserved: int, actual: int, now_ms: int) -> None:
        await self._settle(
            keys=[self._prefix + key], args=[end_ms, reserved, actual, now_ms, WINDOW_MS]
        )

    @_unavailable
    async def add(self, keys: list[str], amount: int, now_ms: int) -> None:
        await self._add(keys=[self._prefix + k for k in keys], args=[amount, now_ms, WINDOW_MS])

    @_unavailable
    async def release(self, keys: list[str], slot_id: str) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.zrem(self._prefix + key, slot_id)
            await pipe.execute()

    @_unavailable
    async def spend(self, keys: list[str], nanos: int) -> None:
        await self._spend(keys=[self._prefix + k for k in keys], args=[nanos])

    @_unavailable
    async def seed(self, key: str, nanos: int, ttl_ms: int) -> None:
        await self.redis.set(self._prefix + key, nanos, px=ttl_ms, nx=True)

    async def aclose(self) -> None:
        await self.redis.aclose()
