"""Idempotent POSTs: a request sent again with the same ``Idempotency-Key`` (and body) gets the
first one's response instead of doing the work twice; the same key with another body is a 400.

OpenAI documents no idempotency for this API and its SDKs send no key, so a retried POST (after a
dropped connection, say) can create a second message or thread. A client that sends the header
gets Stripe's semantics, per project, for 24 hours. Streamed responses are not kept (a stream
cannot be replayed); a replayed run creation meets the one-active-run rule instead."""

import hashlib

from threadline import clock
from threadline.errors import APIError, InvalidRequest
from threadline.storage import idempotency as units
from threadline.storage.database import Database
from threadline.storage.idempotency import Claim, Claimed, InFlight, Mismatch, Replay

__all__ = [
    "Claim",
    "Claimed",
    "IdempotencyKeys",
    "InFlight",
    "Mismatch",
    "Replay",
    "in_flight_error",
    "mismatch_error",
]

KEEP_SECONDS = 24 * 3600
# A key still in flight this long after its request began belongs to a server that died.
ABANDONED_SECONDS = 15 * 60
MAX_KEY_LENGTH = 255


class RequestInFlight(APIError):
    # 409: the SDKs retry it (with backoff), and the retry finds the response recorded.
    status_code = 409
    error_type = "invalid_request_error"
    default_code = "idempotency_key_in_use"


class IdempotencyKeys:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def claim(self, project_id: str, key: str, request: bytes) -> Claim:
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise InvalidRequest(
                f"The Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} printable characters.",
                param="Idempotency-Key",
            )
        now = clock.now()
        fingerprint = hashlib.sha256(request).hexdigest()
        return await self._db.write(
            units.claim,
            project_id,
            key,
            fingerprint,
            now,
            now - KEEP_SECONDS,
            now - ABANDONED_SECONDS,
        )

    async def record(
        self, project_id: str, key: str, status: int, content_type: str, body: bytes
    ) -> None:
        await self._db.write(units.record, project_id, key, status, content_type, body)

    async def forget(self, project_id: str, key: str) -> None:
        await self._db.write(units.forget, project_id, key)

    async def expire(self) -> int:
        """Drop keys past their 24 hours (the sweeper); how many."""
        return await self._db.write(units.expire, clock.now() - KEEP_SECONDS)


def mismatch_error(key: str) -> InvalidRequest:
    return InvalidRequest(
        f"Keys for idempotent requests can only be used with the same parameters they were "
        f"first used with. Try using a key other than '{key}' if you meant to execute a "
        "different request.",
        param="Idempotency-Key",
        code="idempotency_key_reused",
    )


def in_flight_error() -> RequestInFlight:
    return RequestInFlight(
        "A request with this Idempotency-Key is still being processed. Retry shortly.",
        param="Idempotency-Key",
        headers={"retry-after": "1"},
    )
