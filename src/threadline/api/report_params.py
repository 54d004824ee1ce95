"""The query parameters of the usage report and the request log, read one way for every route
that serves them (``/admin/usage`` and ``/admin/logs``, ``/console/api/usage`` and
``/console/api/logs``)."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from threadline.api.integers import MAX_UNIX_MS, parse_int
from threadline.gateway.reports import DEFAULT_LOGS, MAX_LOGS, UsageQuery
from threadline.records.gateway import LogFilters

DEFAULT_GROUP_BY = "project,key,model,day"

# Log filters matched exactly: (filter, query parameter).
_LOG_MATCHES = (
    ("project", "project"),
    ("api_key_id", "key"),
    ("model", "model"),
    ("method", "method"),
    ("path", "path"),
    ("cache", "cache"),
    ("before", "before"),
)


@dataclass(slots=True)
class LogQuery:
    filters: LogFilters
    limit: int


def usage_query(query: Mapping[str, str]) -> UsageQuery:
    """Filters: project, key, model, meter, since/until (YYYY-MM-DD, checked by the report);
    ``group_by``: a comma-separated list of project, key, model, day, meter."""
    group_by = query.get("group_by", DEFAULT_GROUP_BY)  # empty: the totals alone
    return UsageQuery(
        project=query.get("project") or None,
        key=query.get("key") or None,
        model=query.get("model") or None,
        meter=query.get("meter") or None,
        since=query.get("since") or None,
        until=query.get("until") or None,
        group_by=tuple(g.strip() for g in group_by.split(",") if g.strip()),
    )


def log_query(query: Mapping[str, str]) -> LogQuery:
    """Filters: project, key, model, method, path, cache (hit or miss), status (404 or 4xx),
    since/until (Unix ms), before (a request id, to page back), limit (1 to 1000, default 100)."""
    matches = {name: query.get(param) for name, param in _LOG_MATCHES if query.get(param)}
    filters = cast(LogFilters, matches)
    status = query.get("status")
    if status:
        if len(status) == 3 and status[0] in "12345" and status[1:].lower() == "xx":
            filters["status"] = status.lower()
        else:
            filters["status"] = parse_int(
                status, "status", 100, 599, "'status' is a status code (404) or a class (4xx)."
            )
    for param in ("since", "until"):
        value = query.get(param)
        if value:
            filters[param] = parse_int(
                value, param, 0, MAX_UNIX_MS, f"'{param}' is a time in Unix milliseconds."
            )
    raw_limit = query.get("limit")
    limit = parse_int(raw_limit, "limit", 1, MAX_LOGS) if raw_limit else DEFAULT_LOGS
    return LogQuery(filters, limit)
