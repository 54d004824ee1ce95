"""Usage totals and the request log as ``/admin`` and ``threadline usage`` show them."""

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from threadline.errors import InvalidRequest, NotFound
from threadline.gateway.pricing import format_usd
from threadline.gateway.recorder import Recorder
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

    async def usage(self, query: UsageQuery) -> dict[str, Any]:
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
        filters = {
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
            name: sum(int(row[name]) for row in rows)
            for name in ("requests", "input_tokens", "output_tokens", "cost_nanos")
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

    async def logs(self, filters: dict[str, Any], limit: int) -> dict[str, Any]:
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


def _usage_view(row: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    view: dict[str, Any] = {}
    if "project_id" in row:
        view["project"] = names.get(row["project_id"])
        view["project_id"] = row["project_id"]
    if "api_key_id" in row:
        view["key_id"] = row["api_key_id"] or None
    for name in ("model", "day", "meter"):
        if name in row:
            view[name] = row[name] or None
    view.update(
        requests=int(row["requests"]),
        input_tokens=int(row["input_tokens"]),
        output_tokens=int(row["output_tokens"]),
        quantity=float(row["quantity"]),
        cost_usd=format_usd(int(row["cost_nanos"])),
    )
    return view


def _log_view(row: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    cost = row.pop("cost_nanos")
    key_id = row.pop("api_key_id")
    return {
        "object": "request_log",
        **row,
        "project": names.get(row["project_id"]) if row["project_id"] else None,
        "key_id": key_id,
        "cost_usd": format_usd(cost) if cost is not None else None,
    }
