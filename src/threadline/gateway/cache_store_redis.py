"""The response cache in Redis (``THREADLINE_REDIS_URL``), shared by every replica.

One string per answer, ``threadline:cache:<key>``, set with its expiry (``PX``), so Redis drops
it by itself. The value is a small JSON head (expiry, stream flag, content type, project), a
newline, then the answer's bytes as they were sent: a lookup is one ``GET`` and one split."""

from typing import Any

import orjson

from threadline.gateway.response_cache import CacheUnavailable
from threadline.records.gateway import CachedResponse

_PREFIX = "threadline:cache:"


class RedisCacheStore:
    """``gateway.response_cache.CacheStore`` over Redis."""

    def __init__(self, url: str, *, prefix: str = _PREFIX, timeout: float = 2.0) -> None:
        import redis.asyncio as redis  # imported here: without Redis the database serves

        # A cache may be slow to answer, never slower than the upstream it saves a call to.
        self.redis: Any = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._prefix = prefix

    async def get(self, key: str, now_ms: int) -> CachedResponse | None:
        from redis.exceptions import RedisError

        try:
            value = await self.redis.get(self._prefix + key)
        except (RedisError, OSError) as error:
            raise CacheUnavailable(type(error).__name__) from None
        if value is None:
            return None
        head, _, body = bytes(value).partition(b"\n")
        try:
            fields = orjson.loads(head)
        except orjson.JSONDecodeError:
            return None  # not a value of ours: a miss, overwritten by the next answer
        if fields["e"] <= now_ms:
            return None  # Redis's clock has not caught up with ours yet
        return {
            "key": key,
            "project_id": fields["p"],
            "expires_at": fields["e"],
            "stream": fields["s"],
            "content_type": fields["t"],
            "body": body,
        }

    async def put(self, entry: CachedResponse, now_ms: int) -> None:
        from redis.exceptions import RedisError

        ttl_ms = entry["expires_at"] - now_ms
        if ttl_ms <= 0:
            return
        head = {
            "e": entry["expires_at"],
            "s": entry["stream"],
            "t": entry["content_type"],
            "p": entry["project_id"],
        }
        value = orjson.dumps(head) + b"\n" + entry["body"]
        try:
            await self.redis.set(self._prefix + entry["key"], value, px=ttl_ms)
        except (RedisError, OSError) as error:
            raise CacheUnavailable(type(error).__name__) from None

    async def aclose(self) -> None:
        await self.redis.aclose()
