"""API keys and projects.

A key is ``sk-tl-`` + 32 random base62 characters (~190 bits). Only its SHA-256 is stored: with that
much entropy a slow hash adds nothing, and a hash lookup keeps authentication to one indexed read.
Verified keys are cached in-process for a few seconds so the hot path does no database read.
"""

import hashlib
import hmac
import secrets
import string
import time
from dataclasses import dataclass
from typing import Any

from threadline import clock, ids
from threadline.errors import AuthenticationFailed, InvalidRequest, NotFound
from threadline.storage import key_store
from threadline.storage.database import Connection, Database

KEY_PREFIX = "sk-tl-"
# Per-key limits are stored as 32-bit integers (PostgreSQL INTEGER).
MAX_LIMIT = 2**31 - 1
_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key and the project every object it touches belongs to."""

    key_id: str
    project_id: str
    project: str
    rpm: int | None = None
    tpm: int | None = None
    models: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class CreatedKey:
    id: str
    project: str
    name: str | None
    secret: str


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def public_key_view(record: dict[str, Any]) -> dict[str, Any]:
    """A key as listings show it: never the secret, never its hash."""
    return {
        "id": record["id"],
        "object": "api_key",
        "project": record["project"],
        "project_id": record["project_id"],
        "name": record["name"],
        "hint": record["key_hint"],
        "rpm": record["rpm"],
        "tpm": record["tpm"],
        "models": record["models"],
        "created_at": record["created_at"],
        "revoked_at": record["revoked_at"],
    }


class KeyService:
    def __init__(self, database: Database, cache_seconds: float = 5.0) -> None:
        self._db = database
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    async def create(
        self,
        project: str,
        *,
        name: str | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        models: list[str] | None = None,
    ) -> CreatedKey:
        for param, limit in (("rpm", rpm), ("tpm", tpm)):
            if limit is not None and not 1 <= limit <= MAX_LIMIT:
                raise InvalidRequest(f"'{param}' must be between 1 and {MAX_LIMIT}.", param=param)
        secret = KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(32))
        key_id = ids.api_key_id()
        record = {
            "id": key_id,
            "name": name,
            "key_hash": hash_key(secret),
            # Only the public prefix and the last 4 characters: enough to recognise a key.
            "key_hint": f"{KEY_PREFIX}…{secret[-4:]}",
            "rpm": rpm,
            "tpm": tpm,
            "models": models,
            "created_at": clock.now(),
            "revoked_at": None,
        }
        await self._db.write(key_store.insert_key, project, record)
        return CreatedKey(id=key_id, project=project, name=name, secret=secret)

    async def list(self, project: str | None = None) -> list[dict[str, Any]]:
        return [public_key_view(r) for r in await self._db.read(key_store.list_keys, project)]

    async def get(self, key_id: str) -> dict[str, Any]:
        record = await self._db.read(key_store.get_key, key_id)
        if record is None:
            raise NotFound.object("api key", key_id)
        return public_key_view(record)

    async def revoke(self, key_id: str) -> dict[str, Any]:
        record = await self._db.write(_revoke, key_id, clock.now())
        if record is None:
            raise NotFound.object("api key", key_id)
        self._cache = {
            key_hash: entry
            for key_hash, entry in self._cache.items()
            if entry[1] is None or entry[1].key_id != key_id
        }
        return public_key_view(record)

    async def count(self) -> int:
        return await self._db.read(key_store.count_keys)

    async def authenticate(self, secret: str) -> Principal:
        key_hash = hash_key(secret)
        cached = self._cache.get(key_hash)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            principal = cached[1]
        else:
            principal = await self._load(key_hash)
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key_hash] = (now + self._cache_seconds, principal)
        if principal is None:
            raise AuthenticationFailed(
                f"Incorrect API key provided: {_redact(secret)}. Check the key, or create one "
                "with `threadline keys create --project NAME`."
            )
        return principal

    async def _load(self, key_hash: str) -> Principal | None:
        record = await self._db.read(key_store.find_key_by_hash, key_hash)
        # The lookup is by an index over the hash; compare in constant time all the same.
        if record is None or not hmac.compare_digest(record["key_hash"], key_hash):
            return None
        if record["revoked_at"] is not None:
            return None
        return Principal(
            key_id=record["id"],
            project_id=record["project_id"],
            project=record["project"],
            rpm=record["rpm"],
            tpm=record["tpm"],
            models=tuple(record["models"]) if record["models"] else None,
        )


def _revoke(connection: Connection, key_id: str, when: int) -> dict[str, Any] | None:
    key_store.revoke_key(connection, key_id, when)
    return key_store.get_key(connection, key_id)


def _redact(secret: str) -> str:
    if len(secret) <= 8:
        return "*" * len(secret)
    return f"{secret[:6]}{'*' * 10}{secret[-4:]}"
