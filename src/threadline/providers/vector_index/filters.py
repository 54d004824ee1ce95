"""OpenAI's attribute filters, evaluated on a file's attributes.

A ``ComparisonFilter`` is ``{"type": "eq"|"ne"|"gt"|"gte"|"lt"|"lte"|"in"|"nin", "key", "value"}``;
a ``CompoundFilter`` is ``{"type": "and"|"or", "filters": [...]}``, nested freely. Every index
applies filters with this one function, so they mean the same on every backend: a missing key
or values of different types never match, except for ``ne`` and ``nin``, which then do."""

from typing import Any

from threadline.records.files import AttributeFilter, Attributes

_ORDERINGS = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def matches(filters: AttributeFilter | None, attributes: Attributes | None) -> bool:
    if not filters:
        return True
    kind = filters.get("type", "eq")
    if kind in ("and", "or"):
        results = (matches(f, attributes) for f in filters.get("filters") or ())
        return all(results) if kind == "and" else any(results)
    attributes = attributes or {}
    key, wanted = filters.get("key"), filters.get("value")
    present = key is not None and key in attributes
    actual = attributes[key] if key is not None and present else None
    if kind == "eq":
        return present and _same_type(actual, wanted) and actual == wanted
    if kind == "ne":
        return not (present and _same_type(actual, wanted) and actual == wanted)
    if kind in ("in", "nin"):
        values = wanted if isinstance(wanted, list) else [wanted]
        found = present and any(_same_type(actual, v) and actual == v for v in values)
        return found if kind == "in" else not found
    compare = _ORDERINGS.get(str(kind))
    if compare is None or not present or not _same_type(actual, wanted):
        return False
    return bool(compare(actual, wanted))


def _same_type(a: Any, b: Any) -> bool:
    # Numbers compare with numbers (1 == 1.0), strings with strings, booleans with booleans.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return True
    return type(a) is type(b)
