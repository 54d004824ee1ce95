"""Who is calling: a key, its project, and everything the gateway enforces for them.

A ``Principal`` is built once per key load (and cached, see ``api_keys``): its CIDRs are parsed
and its allowed models merged with the project's, so a request only compares."""

import ipaddress
import time
from dataclasses import dataclass
from typing import Literal, cast

from threadline.records.gateway import KeyWithProject, LimitColumns

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
BudgetPeriod = Literal["day", "month"]
BUDGET_PERIODS = ("day", "month")


@dataclass(frozen=True, slots=True)
class Limits:
    """Limits of one scope (a key or a project); None means unlimited."""

    rpm: int | None = None
    tpm: int | None = None
    max_parallel: int | None = None
    budget_nanos: int | None = None
    budget_period: BudgetPeriod = "month"

    @property
    def any(self) -> bool:
        return any(
            value is not None
            for value in (self.rpm, self.tpm, self.max_parallel, self.budget_nanos)
        )

    @classmethod
    def of(cls, record: LimitColumns) -> "Limits":
        # Stored periods were checked on the way in (BUDGET_PERIODS).
        period = cast(BudgetPeriod, record.get("budget_period") or "month")
        return cls(
            rpm=record.get("rpm"),
            tpm=record.get("tpm"),
            max_parallel=record.get("max_parallel"),
            budget_nanos=record.get("budget_nanos"),
            budget_period=period,
        )


UNLIMITED = Limits()


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    project_id: str
    project: str
    rpm: int | None = None
    tpm: int | None = None
    # The models this key may use (the key's list within the project's); None: any.
    models: tuple[str, ...] | None = None
    key_limits: Limits = UNLIMITED
    project_limits: Limits = UNLIMITED
    expires_at: int | None = None  # Unix seconds
    networks: tuple[Network, ...] | None = None
    # A THREADLINE_CONFIG provider serving this project's Assistants API unchanged, or None.
    assistants_passthrough: str | None = None
    # Whether the key or its project has any limit (computed once: read on every request).
    limited: bool = False
    # Seconds model answers are kept in the response cache (the key's value, else the
    # project's); None: not cached, and the cache is not even looked at.
    cache_ttl: int | None = None

    def expired(self, now: float | None = None) -> bool:
        return self.expires_at is not None and (now or time.time()) >= self.expires_at

    def allows_model(self, model: str) -> bool:
        return self.models is None or model in self.models

    def allows_address(self, address: str | None) -> bool:
        if self.networks is None:
            return True
        if address is None:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.networks)


def parse_networks(cidrs: list[str] | None) -> tuple[Network, ...] | None:
    """CIDRs (or single addresses) as networks; raises ``ValueError`` naming the bad one."""
    if cidrs is None:
        return None
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(str(cidr).strip(), strict=False))
        except ValueError:
            raise ValueError(f"'{cidr}' is not an IP address or CIDR range") from None
    return tuple(networks)


def merge_models(key: list[str] | None, project: list[str] | None) -> tuple[str, ...] | None:
    """A key may use the models both it and its project allow."""
    if key is None and project is None:
        return None
    if key is None:
        return tuple(project or ())
    if project is None:
        return tuple(key)
    allowed = set(project)
    return tuple(model for model in key if model in allowed)


def principal_of(record: KeyWithProject) -> Principal:
    """A principal from a key row joined with its project's columns (``project_*``)."""
    key_limits = Limits.of(record)
    project_limits = Limits.of(
        {
            "rpm": record.get("project_rpm"),
            "tpm": record.get("project_tpm"),
            "max_parallel": record.get("project_max_parallel"),
            "budget_nanos": record.get("project_budget_nanos"),
            "budget_period": record.get("project_budget_period"),
        }
    )
    return Principal(
        key_id=record["id"],
        project_id=record["project_id"],
        project=record["project"],
        rpm=record["rpm"],
        tpm=record["tpm"],
        # An empty stored list allows nothing (the API refuses to store one): never "any".
        models=merge_models(record["models"], record.get("project_models")),
        key_limits=key_limits,
        project_limits=project_limits,
        expires_at=record.get("expires_at"),
        networks=parse_networks(record.get("ip_allowlist")),
        assistants_passthrough=record.get("project_assistants_passthrough"),
        limited=key_limits.any or project_limits.any,
        cache_ttl=cache_ttl_of(record.get("cache_ttl"), record.get("project_cache_ttl")),
    )


def cache_ttl_of(key: int | None, project: int | None) -> int | None:
    """The key's TTL wins (0 turns the cache off for it), else the project's; 0 is None."""
    ttl = key if key is not None else project
    return ttl or None
