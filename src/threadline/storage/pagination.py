"""OpenAI cursor pagination: ``limit``, ``order``, ``after``, ``before`` over ids that sort by
creation time (see ``ids.py``), with an exact ``has_more``.

A listing of several kinds of ids (prefixes) pages by creation key instead (``key_bounds``):
each kind is one indexed range scan (``key_conditions``), and the scans are merged."""

from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy import ColumnElement, Select

from threadline.ids import creation_key


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


# Listings over creation keys (ids of several prefixes, merged)


@dataclass(frozen=True, slots=True)
class KeyRange:
    """Creation keys a listing keeps to: from ``start`` (inclusive) to ``stop`` (exclusive)."""

    start: str | None = None
    stop: str | None = None


EVERY_KEY = KeyRange()
# Sorts after every creation key (base 36: digits and lower-case letters), so an open range is
# still a bound parameter of a statement built once.
_AFTER_EVERY_KEY = "~"


def key_range_params(prefix: str, within: KeyRange) -> tuple[str, str]:
    """``within`` as the (inclusive low, exclusive high) values of a column of ids (or keys)
    that start with ``prefix``, open ends included."""
    return prefix + (within.start or ""), prefix + (within.stop or _AFTER_EVERY_KEY)


@dataclass(frozen=True, slots=True)
class KeyBounds:
    """A scan's key bounds and direction: ``low`` (inclusive when ``low_inclusive``) and
    ``high`` (exclusive), ascending or not."""

    low: str | None
    low_inclusive: bool
    high: str | None
    ascending: bool

    def keeps(self, key: str) -> bool:
        if self.low is not None and (
            key < self.low or (key == self.low and not self.low_inclusive)
        ):
            return False
        return self.high is None or key < self.high


def key_bounds(page: PageRequest, within: KeyRange = EVERY_KEY) -> KeyBounds:
    """The creation keys ``page`` covers inside ``within``; its cursors may be ids of any
    prefix (or of objects since deleted)."""
    after = creation_key(page.after) if page.after is not None else None
    before = creation_key(page.before) if page.before is not None else None
    low, high = (after, before) if page.order == "asc" else (before, after)
    low_inclusive = False
    if within.start is not None and (low is None or within.start > low):
        low, low_inclusive = within.start, True
    if within.stop is not None and (high is None or within.stop < high):
        high = within.stop
    # ``before`` alone walks backward (``finish_page`` turns the rows back).
    forward = page.before is None or page.after is not None
    return KeyBounds(low, low_inclusive, high, (page.order == "asc") == forward)


def key_conditions(column: Any, prefix: str, bounds: KeyBounds) -> list[Any]:
    """``bounds`` on a column of ids (or keys) that start with ``prefix``."""
    conditions = []
    if bounds.low is not None:
        low = prefix + bounds.low
        conditions.append(column >= low if bounds.low_inclusive else column > low)
    if bounds.high is not None:
        conditions.append(column < prefix + bounds.high)
    return conditions
