"""OpenAI cursor pagination: ``limit``, ``order``, ``after``, ``before`` over ids that sort by
creation time (see ``ids.py``), with an exact ``has_more``."""

from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy import ColumnElement, Select


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int = 20
    order: Literal["asc", "desc"] = "desc"
    after: str | None = None
    before: str | None = None


RowT = TypeVar("RowT")


@dataclass(frozen=True, slots=True)
class Page(Generic[RowT]):
    items: list[RowT]
    has_more: bool


def paginate(query: Select[Any], id_column: ColumnElement[str], page: PageRequest) -> Select[Any]:
    """Constrain ``query`` to one page plus one row, which tells whether there is more.

    ``after`` walks forward in the requested order; ``before`` walks backward, so that query runs
    in the opposite direction and ``finish_page`` restores the requested order.
    """
    ascending = page.order == "asc"
    if page.after is not None:
        query = query.where(id_column > page.after if ascending else id_column < page.after)
    if page.before is not None:
        query = query.where(id_column < page.before if ascending else id_column > page.before)
    forward = page.before is None or page.after is not None
    sort_ascending = ascending if forward else not ascending
    return query.order_by(id_column.asc() if sort_ascending else id_column.desc()).limit(
        page.limit + 1
    )


def finish_page(rows: list[RowT], page: PageRequest) -> Page[RowT]:
    has_more = len(rows) > page.limit
    rows = rows[: page.limit]
    if page.before is not None and page.after is None:
        rows.reverse()
    return Page(items=rows, has_more=has_more)
