"""Usage totals and the request log as ``/admin`` and ``threadline usage`` show them."""

import re
from dataclasses import dataclass
from datetime import date
from typing import TypedDict

from threadline.errors import InvalidRequest, NotFound
from threadline.gateway.pricing import format_usd
from threadline.gateway.recorder import Recorder
from threadline.records.gateway import GroupedUsage, LogFilters, RequestLogRecord, UsageFilters
from threadline.storage import key_store, usage_store
from threadline.storage.database import Database

# group names as the API takes them -> usage columns
GROUPS = {
    "project": "project_id",
    "key": "api_key_id",
    "model": "model",
    "day": "day",
    "meter": "meter",
}
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MAX_LOGS = 1000
DEFAULT_LOGS = 100


class UsageLine(TypedDict, total=False):
    """One group of a usage report (only the grouped columns asked for), with its sums."""

    project: str | None
    project_id: str
    key_id: str | None
    model: str | None
    day: str | None
    meter: str | None
    requests: int
    input_tokens: int
    output_tokens: int
    quantity: float
    cost_usd: str


class UsageReport(TypedDict):
    object: str
    project: str | None
    requests: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: str
    group_by: list[str]
    data: list[UsageLine]


class LogLine(TypedDict):
    object: str
    id: str
    created_at: int
    method: str
    path: str
    status: int
    project_id: str | None
    model: str | None
    input_tokens: int | None
    output_tokens: int | None
    latency_ms: float
    error_code: str | None
    cache: str | None
    request_body: str | None
    response_body: str | None
    project: str | None
    key_id: str | None
    cost_usd: str | None


class LogPage(TypedDict):
    object: str
    data: list[LogLine]
    has_more: bool
    last_id: str | None


@dataclass(frozen=True, slots=True)
class UsageQuery:
    project: str | None = None  # a project name
    key: str | None = None  # a key id
    model: str | None = None
    meter: str | None = None
    since: str | None = None  # YYYY-MM-DD, inclusive
    until: str | None = None
    group_by: tuple[str, ...] = ("project", "key", "model", "day")


class Reports:
    def __init__(self, database: Database, recorder: Recorder) -> None:
        self._db = database
        self._recorder = recorder

    async def _project_names(self) -> dict[str, str]:
        return {p["id"]: p["name"] for p in await self._db.read(key_store.list_projects)}

    async def _project_id(self, name: str) -> str:
        found = await self._db.read(key_store.get_project_by_name, name)
        if found is None:
            raise NotFound(f"No project named '{name}'.", param="project")
        return str(found["id"])

    async def usage(self, query: UsageQuery) -> UsageReport:
        unknown = [g for g in query.group_by if g not in GROUPS]
        if unknown:
            raise InvalidRequest(
                f"Invalid 'group_by': {unknown[0]!r}; use any of {', '.join(GROUPS)}.",
                param="group_by",
            )
        for param in ("since", "until"):
            day = getattr(query, param)
            if day is not None and not _is_day(day):
                raise InvalidRequest(f"'{param}' must be a day as YYYY-MM-DD.", param=param)
        await self._recorder.flush()  # what happened until now, not until the last flush
        filters: UsageFilters = {
            "project_id": await self._project_id(query.project) if query.project else None,
            "api_key_id": query.key,
            "model": query.model,
            "meter": query.meter,
            "since": query.since,
            "until": query.until,
        }
        columns = tuple(GROUPS[g] for g in dict.fromkeys(query.group_by))
        rows = await self._db.read(usage_store.usage_report, filters, columns)
        names = await self._project_names()
        data = [_usage_view(row, names) for row in rows]
        totals = {
            "requests": sum(int(row["requests"]) for row in rows),
            "input_tokens": sum(int(row["input_tokens"]) for row in rows),
            "output_tokens": sum(int(row["output_tokens"]) for row in rows),
            "cost_nanos": sum(int(row["cost_nanos"]) for row in rows),
        }
        return {
            "object": "usage",
            "project": query.project,
            "requests": totals["requests"],
            "input_tokens": totals["input_tokens"],
            "output_tokens": totals["output_tokens"],
            "total_tokens": totals["input_tokens"] + totals["output_tokens"],
            "cost_usd": format_usd(totals["cost_nanos"]),
            "group_by": list(dict.fromkeys(query.group_by)),
            "data": data,
        }

    async def logs(self, filters: LogFilters, limit: int) -> LogPage:
        if not 1 <= limit <= MAX_LOGS:
            raise InvalidRequest(f"'limit' must be between 1 and {MAX_LOGS}.", param="limit")
        await self._recorder.flush()
        project = filters.pop("project", None)
        if project is not None:
            filters["project_id"] = await self._project_id(project)
        rows = await self._db.read(usage_store.query_logs, filters, limit + 1)
        names = await self._project_names()
        page = [_log_view(row, names) for row in rows[:limit]]
        return {
            "object": "list",
            "data": page,
            "has_more": len(rows) > limit,
            "last_id": page[-1]["id"] if page else None,
        }


def _is_day(text: str) -> bool:
    """A real calendar day in ASCII digits (``str.isdigit`` would take ``²``)."""
    if _DAY.fullmatch(text) is None:
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _usage_view(row: GroupedUsage, names: dict[str, str]) -> UsageLine:
    view: UsageLine = {}
    if "project_id" in row:
        view["project"] = names.get(row["project_id"])
        view["project_id"] = row["project_id"]
    if "api_key_id" in row:
        view["key_id"] = row["api_key_id"] or None
    if "model" in row:
        view["model"] = row["model"] or None
    if "day" in row:
        view["day"] = row["day"] or None
    if "meter" in row:
        view["meter"] = row["meter"] or None
    view["requests"] = int(row["requests"])
    view["input_tokens"] = int(row["input_tokens"])
    view["output_tokens"] = int(row["output_tokens"])
    view["quantity"] = float(row["quantity"])
    view["cost_usd"] = format_usd(int(row["cost_nanos"]))
    return view


def _log_view(row: RequestLogRecord, names: dict[str, str]) -> LogLine:
    cost = row["cost_nanos"]
    return {
        "object": "request_log",
        "id": row["id"],
        "created_at": row["created_at"],
        "method": row["method"],
        "path": row["path"],
        "status": row["status"],
        "project_id": row["project_id"],
        "model": row["model"],
        "input_tokens": row["input_tokens"],
        "output_tokens": row["output_tokens"],
        "latency_ms": row["latency_ms"],
        "error_code": row["error_code"],
        "cache": row["cache"],
        "request_body": row["request_body"],
        "response_body": row["response_body"],
        "project": names.get(row["project_id"]) if row["project_id"] else None,
        "key_id": row["api_key_id"],
        "cost_usd": format_usd(cost) if cost is not None else None,
    }
