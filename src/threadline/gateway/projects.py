"""Projects' own limits, budgets, allowed models, Assistants pass-through provider and
response-cache TTL.

Every key of a project shares these (the seeds' per-organisation limits); a key's own limits
apply on top. A change reaches the keys' cached verifications at once in this process (and
within ``key_cache_seconds`` on other replicas)."""

from dataclasses import dataclass
from typing import Any, Literal, TypedDict, cast

from threadline import clock
from threadline.errors import InvalidRequest, NotFound
from threadline.gateway.api_keys import MAX_LIMIT, KeyService, check_allowlist, check_cache_ttl
from threadline.gateway.pricing import format_usd
from threadline.gateway.principal import BUDGET_PERIODS
from threadline.records.gateway import ProjectColumns, ProjectRecord
from threadline.storage import key_store
from threadline.storage.database import Database

_UNSET: Any = object()
_LIMITS: tuple[Literal["rpm", "tpm", "max_parallel"], ...] = ("rpm", "tpm", "max_parallel")


@dataclass(frozen=True, slots=True)
class ProjectSettings:
    """The settings to change; fields left ``_UNSET`` keep their value, None clears one."""

    rpm: Any = _UNSET
    tpm: Any = _UNSET
    max_parallel: Any = _UNSET
    budget_nanos: Any = _UNSET
    budget_period: Any = _UNSET
    models: Any = _UNSET
    assistants_passthrough: Any = _UNSET
    cache_ttl: Any = _UNSET  # seconds; None or 0: not cached

    def columns(self) -> ProjectColumns:
        given = {
            name: getattr(self, name)
            for name in self.__dataclass_fields__
            if getattr(self, name) is not _UNSET
        }
        values = cast(ProjectColumns, given)
        check_allowlist(values.get("models"), "models")
        for param in _LIMITS:
            limit = values.get(param)
            if limit is not None and not 1 <= limit <= MAX_LIMIT:
                raise InvalidRequest(f"'{param}' must be between 1 and {MAX_LIMIT}.", param=param)
        period = values.get("budget_period")
        if period is not None and period not in BUDGET_PERIODS:
            raise InvalidRequest("'budget_period' must be 'day' or 'month'.", param="budget_period")
        check_cache_ttl(values.get("cache_ttl"))
        if "cache_ttl" in values:
            values["cache_ttl"] = values["cache_ttl"] or None  # 0 and null both turn it off
        if values.get("budget_nanos") is not None and "budget_period" not in values:
            values["budget_period"] = "month"
        return values


class ProjectView(TypedDict):
    """A project as the admin API and the CLI show it."""

    id: str
    object: str
    name: str
    created_at: int
    rpm: int | None
    tpm: int | None
    max_parallel: int | None
    budget_usd: str | None
    budget_period: str | None
    models: list[str] | None
    assistants_passthrough: str | None
    cache_ttl: int | None


def project_view(record: ProjectRecord) -> ProjectView:
    budget = record.get("budget_nanos")
    return {
        "id": record["id"],
        "object": "project",
        "name": record["name"],
        "created_at": record["created_at"],
        "rpm": record.get("rpm"),
        "tpm": record.get("tpm"),
        "max_parallel": record.get("max_parallel"),
        "budget_usd": format_usd(budget) if budget is not None else None,
        "budget_period": record.get("budget_period") if budget is not None else None,
        "models": record.get("models"),
        "assistants_passthrough": record.get("assistants_passthrough"),
        "cache_ttl": record.get("cache_ttl"),
    }


class ProjectService:
    def __init__(self, database: Database, keys: KeyService, providers: set[str]) -> None:
        self._db = database
        self._keys = keys
        self._providers = providers  # THREADLINE_CONFIG provider names (pass-through targets)

    async def list(self) -> list[ProjectView]:
        return [project_view(r) for r in await self._db.read(key_store.list_projects)]

    async def get(self, name: str) -> ProjectView:
        record = await self._db.read(key_store.get_project_by_name, name)
        if record is None:
            raise NotFound(f"No project named '{name}'.", param="project")
        return project_view(record)

    async def update(self, name: str, settings: ProjectSettings) -> ProjectView:
        values = settings.columns()
        target = values.get("assistants_passthrough")
        if target is not None and target not in self._providers:
            known = ", ".join(sorted(self._providers)) or "none configured"
            raise InvalidRequest(
                f"'assistants_passthrough' must name a provider of THREADLINE_CONFIG "
                f"(known: {known}).",
                param="assistants_passthrough",
            )
        record = await self._db.write(key_store.upsert_project, name, values, clock.now())
        self._keys.forget()
        return project_view(record)
