"""Usage totals, the request log, and the pass-through runs already billed."""

from typing import Any, cast

from sqlalchemy import Connection, Table, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from threadline.records.gateway import (
    BilledRun,
    GroupedUsage,
    LogFilters,
    RequestLogRecord,
    UsageFilters,
    UsageTotals,
)
from threadline.storage.repositories import Columns, rows_of
from threadline.storage.tables import BilledRunRow, RequestLogRow, UsageRow

_usage: Table = UsageRow.__table__  # type: ignore[assignment]
_logs: Table = RequestLogRow.__table__  # type: ignore[assignment]
_billed: Table = BilledRunRow.__table__  # type: ignore[assignment]
_SUMMED = ("requests", "input_tokens", "output_tokens", "quantity", "cost_nanos")
GROUPS = ("project_id", "api_key_id", "model", "day", "meter")


def _insert(connection: Connection, table: Table) -> Any:
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def add_usage(connection: Connection, rows: list[UsageTotals]) -> None:
    """Add each row's counts to its (day, project, key, model, meter) total."""
    if not rows:
        return
    statement = _insert(connection, _usage)
    statement = statement.on_conflict_do_update(
        index_elements=["day", "project_id", "api_key_id", "model", "meter"],
        set_={name: _usage.c[name] + statement.excluded[name] for name in _SUMMED},
    )
    connection.execute(statement, cast(list[Columns], rows))


def insert_logs(connection: Connection, rows: list[RequestLogRecord]) -> None:
    if rows:
        connection.execute(insert(_logs), cast(list[Columns], rows))


def claim_runs(connection: Connection, runs: list[BilledRun]) -> set[str]:
    """Mark runs billed; returns the ids that were not billed before."""
    fresh = set()
    for run in runs:
        statement = _insert(connection, _billed).on_conflict_do_nothing(index_elements=["run_id"])
        if connection.execute(statement, cast(Columns, run)).rowcount > 0:
            fresh.add(run["run_id"])
    return fresh


def spend(connection: Connection, kind: str, scope_id: str, first_day: str, last_day: str) -> int:
    """Nano-USD spent by a key or a project in the days ``first_day..last_day``."""
    column = _usage.c.api_key_id if kind == "key" else _usage.c.project_id
    query = select(func.coalesce(func.sum(_usage.c.cost_nanos), 0)).where(
        column == scope_id, _usage.c.day >= first_day, _usage.c.day <= last_day
    )
    return int(connection.execute(query).scalar_one())


def usage_report(
    connection: Connection, filters: UsageFilters, group_by: tuple[str, ...]
) -> list[GroupedUsage]:
    """Totals grouped by ``group_by`` (a subset of ``GROUPS``), filtered by equality on
    ``project_id``/``api_key_id``/``model``/``meter`` and by ``since``/``until`` days."""
    groups = [_usage.c[name] for name in group_by]
    sums = [func.sum(_usage.c[name]).label(name) for name in _SUMMED]
    query = select(*groups, *sums)
    for name in ("project_id", "api_key_id", "model", "meter"):
        wanted = filters.get(name)
        if wanted is not None:
            query = query.where(_usage.c[name] == wanted)
    if filters.get("since"):
        query = query.where(_usage.c.day >= filters["since"])
    if filters.get("until"):
        query = query.where(_usage.c.day <= filters["until"])
    if groups:
        query = query.group_by(*groups).order_by(*groups)
    rows = [dict(row) for row in connection.execute(query).mappings()]
    for row in rows:
        for name in _SUMMED:
            row[name] = row[name] or 0
    return cast(list[GroupedUsage], rows)


def query_logs(connection: Connection, filters: LogFilters, limit: int) -> list[RequestLogRecord]:
    """Newest first; ``before`` is a request id to page from; the other filters match
    exactly, except ``since``/``until`` (Unix ms) and ``status`` classes like ``4xx``."""
    query = select(_logs)
    for name in ("project_id", "api_key_id", "model", "method", "path", "cache"):
        wanted = filters.get(name)
        if wanted is not None:
            query = query.where(_logs.c[name] == wanted)
    status = filters.get("status")
    if status is not None:
        if isinstance(status, int):
            query = query.where(_logs.c.status == status)
        else:  # "4xx"
            low = int(status[0]) * 100
            query = query.where(_logs.c.status >= low, _logs.c.status < low + 100)
    if filters.get("since") is not None:
        query = query.where(_logs.c.created_at >= filters["since"])
    if filters.get("until") is not None:
        query = query.where(_logs.c.created_at < filters["until"])
    if filters.get("before") is not None:
        query = query.where(_logs.c.id < filters["before"])
    query = query.order_by(_logs.c.id.desc()).limit(limit)
    return rows_of(connection.execute(query), RequestLogRecord)


def delete_logs_before(connection: Connection, created_before_ms: int) -> int:
    statement = delete(_logs).where(_logs.c.created_at < created_before_ms)
    return connection.execute(statement).rowcount or 0
