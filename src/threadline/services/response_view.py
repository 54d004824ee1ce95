"""A response as its API shows it: built in ``engine.response_view`` (the worker rebuilds a
response there when it ends one outside its execution, e.g. after a crash)."""

from threadline.engine.response_view import (
    ENDED,
    opening_record,
    response_record,
    step_events,
    translator_for,
)

__all__ = ["ENDED", "opening_record", "response_record", "step_events", "translator_for"]
