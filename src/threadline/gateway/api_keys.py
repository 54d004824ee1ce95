"""API keys and projects.

A key is ``sk-tl-`` + 32 random base62 characters (~190 bits). Only its SHA-256 is stored: with that
much entropy a slow hash adds nothing, and a hash lookup keeps authentication to one indexed read.
Verified keys are cached in-process for a few seconds so the hot path does no database read.
"""

import contextlib
import hashlib
import hmac
import secrets
import string
import time
from dataclasses import dataclass
from typing import TypedDict

from threadline import clock, ids
from threadline.errors import AuthenticationFailed, InvalidRequest, NotFound
from threadline.gateway.pricing import format_usd
from threadline.gateway.principal import (
    BUDGET_PERIODS,
    Principal,
    parse_networks,
    principal_of,
)
from threadline.gateway.response_cache import MAX_CACHE_TTL
from threadline.providers.cluster.link import HubLink, HubUnavailable
from threadline.records.gateway import (
    KeyOptionColumns,
    KeyRotation,
    KeySecretColumns,
    KeyWithProject,
    NewKeyRecord,
)
from threadline.storage import key_store
from threadline.storage.database import Connection, Database

# Told to the other worker processes: drop cached verifications (of a key id, or all).
_FORGET = "forget-key"

__all__ = [
    "MAX_LIMIT",
    "CreatedKey",
    "KeyOptions",
    "KeyService",
    "Principal",
    "check_allowlist",
    "check_cache_ttl",
    "hash_key",
]

KEY_PREFIX = "sk-tl-"
# Per-key limits are stored as 32-bit integers (PostgreSQL INTEGER).
MAX_LIMIT = 2**31 - 1
_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True, slots=True)
class CreatedKey:
    id: str
    project: str
    name: str | None
    secret: str


@dataclass(frozen=True, slots=True)
class KeyOptions:
    """What a key may do, as given to ``keys create`` / ``POST /admin/keys``."""

    name: str | None = None
    rpm: int | None = None
    tpm: int | None = None
    models: list[str] | None = None
    max_parallel: int | None = None
    budget_nanos: int | None = None
    budget_period: str | None = None
    expires_at: int | None = None
    ip_allowlist: list[str] | None = None
    metadata: dict[str, str] | None = None
    cache_ttl: int | None = None  # seconds; None: the project's, 0: not cached

    def check(self) -> None:
        check_allowlist(self.models, "models")
        check_allowlist(self.ip_allowlist, "ip_allowlist")
        for param in ("rpm", "tpm", "max_parallel"):
            limit = getattr(self, param)
            if limit is not None and not 1 <= limit <= MAX_LIMIT:
                raise InvalidRequest(f"'{param}' must be between 1 and {MAX_LIMIT}.", param=param)
        check_cache_ttl(self.cache_ttl)
        if self.budget_period is not None and self.budget_period not in BUDGET_PERIODS:
            raise InvalidRequest("'budget_period' must be 'day' or 'month'.", param="budget_period")
        if self.expires_at is not None and self.expires_at <= clock.now():
            raise InvalidRequest("'expires_at' must be in the future.", param="expires_at")
        try:
            parse_networks(self.ip_allowlist)
        except ValueError as error:
            raise InvalidRequest(
                f"Invalid 'ip_allowlist': {error}.", param="ip_allowlist"
            ) from None

    def columns(self) -> KeyOptionColumns:
        return {
            "name": self.name,
            "rpm": self.rpm,
            "tpm": self.tpm,
            "models": self.models,
            "max_parallel": self.max_parallel,
            "budget_nanos": self.budget_nanos,
            "budget_period": (self.budget_period or "month") if self.budget_nanos else None,
            "expires_at": self.expires_at,
            "ip_allowlist": self.ip_allowlist,
            "metadata": self.metadata,
            "cache_ttl": self.cache_ttl,
        }


def check_allowlist(values: list[str] | None, param: str) -> None:
    """An allowlist is None (no restriction) or names something: an empty list is refused,
    since "allowed: nothing" and "allowed: everything" are too easily confused."""
    if values is not None and not values:
        raise InvalidRequest(
            f"'{param}' must name at least one entry; leave it out (or null) for no restriction.",
            param=param,
        )


def check_cache_ttl(ttl: int | None) -> None:
    if ttl is not None and not 0 <= ttl <= MAX_CACHE_TTL:
        raise InvalidRequest(
            f"'cache_ttl' must be between 0 and {MAX_CACHE_TTL} seconds (or null).",
            param="cache_ttl",
        )


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyView(TypedDict):
    """A key as the admin API and the CLI show it."""

    id: str
    object: str
    project: str
    project_id: str
    name: str | None
    hint: str
    rpm: int | None
    tpm: int | None
    models: list[str] | None
    max_parallel: int | None
    budget_usd: str | None
    budget_period: str | None
    expires_at: int | None
    ip_allowlist: list[str] | None
    metadata: dict[str, str]
    cache_ttl: int | None
    created_at: int
    rotated_at: int | None
    revoked_at: int | None


def public_key_view(record: KeyWithProject) -> KeyView:
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
        "max_parallel": record["max_parallel"],
        "budget_usd": (
            format_usd(record["budget_nanos"]) if record["budget_nanos"] is not None else None
        ),
        "budget_period": record["budget_period"],
        "expires_at": record["expires_at"],
        "ip_allowlist": record["ip_allowlist"],
        "metadata": record["metadata"] or {},
        "cache_ttl": record["cache_ttl"],
        "created_at": record["created_at"],
        "rotated_at": record["rotated_at"],
        "revoked_at": record["revoked_at"],
    }


class KeyService:
    def __init__(
        self, database: Database, cache_seconds: float = 5.0, hub: HubLink | None = None
    ) -> None:
        """``hub``: this server's other worker processes drop their cached verifications of a
        key revoked, rotated or re-limited here at once (other replicas: within
        ``cache_seconds``)."""
        self._db = database
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._by_id: dict[str, tuple[float, Principal | None]] = {}
        self._hub = hub
        if hub is not None:
            hub.on_told(_FORGET, self._forget_here)

    async def create(
        self,
        project: str,
        *,
        name: str | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        models: list[str] | None = None,
        options: KeyOptions | None = None,
    ) -> CreatedKey:
        options = options or KeyOptions(name=name, rpm=rpm, tpm=tpm, models=models)
        options.check()
        secret = _new_secret()
        key_id = ids.api_key_id()
        record: NewKeyRecord = {
            "id": key_id,
            **options.columns(),
            **_secret_columns(secret),
            "created_at": clock.now(),
            "revoked_at": None,
            "rotated_at": None,
        }
        await self._db.write(key_store.insert_key, project, record)
        return CreatedKey(id=key_id, project=project, name=options.name, secret=secret)

    async def rotate(self, key_id: str) -> CreatedKey:
        """A new secret for the key (same id, limits and usage); the old one stops at once."""
        secret = _new_secret()
        changes: KeyRotation = {**_secret_columns(secret), "rotated_at": clock.now()}
        record = await self._db.write(_change, key_id, changes)
        if record is None:
            raise NotFound.object("api key", key_id)
        self.forget(key_id)
        return CreatedKey(id=key_id, project=record["project"], name=record["name"], secret=secret)

    async def by_id(self, key_id: str) -> Principal | None:
        """The principal of a key by its id (revoked or not), cached like verifications: for
        counting usage that happens outside a request (runs)."""
        now = time.monotonic()
        cached = self._by_id.get(key_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        record = await self._db.read(key_store.get_key, key_id)
        principal = principal_of(record) if record is not None else None
        if len(self._by_id) > 10_000:
            self._by_id.clear()
        self._by_id[key_id] = (now + self._cache_seconds, principal)
        return principal

    def forget(self, key_id: str | None = None) -> None:
        """Drop cached verifications (of one key, or all), in every worker process of this
        server: the next request re-reads them."""
        self._forget_here(key_id)
        if self._hub is not None:
            with contextlib.suppress(HubUnavailable):
                self._hub.tell(_FORGET, key_id)

    def _forget_here(self, key_id: str | None = None) -> None:
        self._by_id.clear()
        if key_id is None:
            self._cache.clear()
            return
        self._cache = {
            key_hash: entry
            for key_hash, entry in self._cache.items()
            if entry[1] is None or entry[1].key_id != key_id
        }

    async def list(
        self, project: str | None = None, after: str | None = None, limit: int | None = None
    ) -> list[KeyView]:
        records = await self._db.read(key_store.list_keys, project, after, limit)
        return [public_key_view(r) for r in records]

    async def get(self, key_id: str) -> KeyView:
        record = await self._db.read(key_store.get_key, key_id)
        if record is None:
            raise NotFound.object("api key", key_id)
        return public_key_view(record)

    async def revoke(self, key_id: str) -> KeyView:
        record = await self._db.write(_revoke, key_id, clock.now())
        if record is None:
            raise NotFound.object("api key", key_id)
        self.forget(key_id)
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
        if principal.expired():
            raise AuthenticationFailed(
                f"The API key {_redact(secret)} has expired. Create a new one or extend it.",
                headers={"x-should-retry": "false"},
            )
        return principal

    async def _load(self, key_hash: str) -> Principal | None:
        record = await self._db.read(key_store.find_key_by_hash, key_hash)
        # The lookup is by an index over the hash; compare in constant time all the same.
        if record is None or not hmac.compare_digest(record["key_hash"], key_hash):
            return None
        if record["revoked_at"] is not None:
            return None
        return principal_of(record)


def _new_secret() -> str:
    return KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(32))


def _secret_columns(secret: str) -> KeySecretColumns:
    # Only the public prefix and the last 4 characters: enough to recognise a key.
    return {"key_hash": hash_key(secret), "key_hint": f"{KEY_PREFIX}…{secret[-4:]}"}


def _change(connection: Connection, key_id: str, values: KeyRotation) -> KeyWithProject | None:
    if not key_store.update_key(connection, key_id, values):
        return None
    return key_store.get_key(connection, key_id)


def _revoke(connection: Connection, key_id: str, when: int) -> KeyWithProject | None:
    key_store.revoke_key(connection, key_id, when)
    return key_store.get_key(connection, key_id)


def _redact(secret: str) -> str:
    if len(secret) <= 8:
        return "*" * len(secret)
    return f"{secret[:6]}{'*' * 10}{secret[-4:]}"
