"""Budget periods: a UTC day or a UTC calendar month, and how long a spend counter of one must
live (to the period's end, and a day more, so late finishers still count in it)."""

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class Period:
    id: str
    first_day: str
    last_day: str
    ttl_ms: int  # how long its counter lives: to its end, and a day more


def budget_period(kind: str, now: float) -> Period:
    moment = datetime.fromtimestamp(now, UTC)
    day_ms = 86_400_000
    if kind == "day":
        day = moment.strftime("%Y-%m-%d")
        left = day_ms - int(now * 1000) % day_ms
        return Period(f"d{day}", day, day, left + day_ms)
    last = calendar.monthrange(moment.year, moment.month)[1]
    end = datetime(moment.year, moment.month, last, tzinfo=UTC).timestamp() + 86_400
    month = moment.strftime("%Y-%m")
    return Period(
        f"m{month}", f"{month}-01", f"{month}-{last:02d}", int((end - now) * 1000) + day_ms
    )
