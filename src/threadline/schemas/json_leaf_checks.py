"""The leaves of ``json_checks``: how a violation is reported (OpenAI's wording, ``param`` as
the path to the offending value), the checks of strings, numbers and booleans, and the depth
bound of free-form values."""

from collections.abc import Callable
from typing import Any

from threadline.schemas.common import JSON_MAX_DEPTH

MAX_FREE_DEPTH = JSON_MAX_DEPTH
Check = Callable[[Any], None]

JSON_TYPE: dict[type, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    type(None): "null",
    dict: "object",
    list: "array",
}
_ARTICLE = {"integer": "an integer", "array": "an array", "object": "an object", "null": "null"}


class Violation(Exception):
    """The first place where a value breaks its schema. ``path`` is filled in, innermost step
    first, as the exception leaves each container."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.template = message  # ``{param}`` stands for the offending field's path
        self.code = code
        self.path: list[str | int] = []

    @property
    def param(self) -> str:
        text = ""
        for part in reversed(self.path):
            text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
        return text

    @property
    def message(self) -> str:
        return self.template.replace("{param}", self.param or "body")


def missing(name: str) -> Violation:
    violation = Violation("Missing required parameter: '{param}'.", "missing_required_parameter")
    violation.path.append(name)
    return violation


def _a(json_type: str) -> str:
    return _ARTICLE.get(json_type, f"a {json_type}")


def shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def wrong_type(expected: list[str], value: Any) -> Violation:
    wanted = " or ".join(_a(t) for t in expected)
    got = _a(JSON_TYPE.get(type(value), "unknown"))
    return Violation(
        f"Invalid type for '{{param}}': expected {wanted}, but got {got} instead.", "invalid_type"
    )


def _too_deep(container: dict[str, Any] | list[Any], budget: int) -> bool:
    """Whether ``container`` nests dicts and lists more than ``budget`` levels below it."""
    if budget <= 0:
        return True
    budget -= 1
    for child in container.values() if type(container) is dict else container:
        kind = type(child)
        if (kind is dict or kind is list) and _too_deep(child, budget):
            return True
    return False


def bounded(value: Any) -> None:
    if (type(value) is dict or type(value) is list) and _too_deep(value, MAX_FREE_DEPTH):
        raise Violation(
            f"Invalid '{{param}}': nested too deeply (at most {MAX_FREE_DEPTH} levels).",
            "invalid_value",
        )


def string_check(node: dict[str, Any]) -> Check:
    enum = frozenset(node.get("enum", ()))
    supported = ", ".join(repr(v) for v in node.get("enum", ()) if v is not None)
    longest = node.get("maxLength")

    def check(value: Any) -> None:
        if type(value) is not str:
            raise wrong_type(["string"], value)
        if enum and value not in enum:
            raise Violation(
                f"Invalid value for '{{param}}': {shown(value)}. Supported values are: "
                f"{supported}.",
                "invalid_value",
            )
        if longest is not None and len(value) > longest:
            raise Violation(
                f"Invalid '{{param}}': string too long. Expected a string with maximum length "
                f"{longest}, but got a string with length {len(value)} instead.",
                "string_above_max_length",
            )

    return check


def number_check(node: dict[str, Any]) -> Check:
    integer = "integer" in declared(node)
    word = "integer" if integer else "decimal"
    low, high = node.get("minimum"), node.get("maximum")

    def check(value: Any) -> None:
        kind = type(value)
        if not (kind is int or (kind is float and (not integer or value.is_integer()))):
            raise wrong_type(["integer" if integer else "number"], value)
        if low is not None and value < low:
            raise Violation(
                f"Invalid '{{param}}': {word} below minimum value. Expected a value >= {low}, "
                f"but got {shown(value)} instead.",
                f"{word}_below_min_value",
            )
        if high is not None and value > high:
            raise Violation(
                f"Invalid '{{param}}': {word} above maximum value. Expected a value <= {high}, "
                f"but got {shown(value)} instead.",
                f"{word}_above_max_value",
            )

    return check


def boolean_check(node: dict[str, Any]) -> Check:
    def check(value: Any) -> None:
        if type(value) is not bool:
            raise wrong_type(["boolean"], value)

    return check


def declared(node: dict[str, Any]) -> list[str]:
    """A schema node's ``type`` as a list."""
    value = node.get("type", [])
    return value if isinstance(value, list) else [value]
