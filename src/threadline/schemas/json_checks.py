"""A JSON Schema subset compiled into plain Python checks, for request bodies that are forwarded
as they are (the gateway's pass-through) and so are never turned into models.

The subset is what ``scripts/generate_request_schemas.py`` writes: ``type``, ``enum``,
``properties``, ``required``, ``additionalProperties``, ``items``, ``minItems``/``maxItems``,
``minimum``/``maximum``, ``maxLength``, ``anyOf`` (with an optional ``discriminator``),
``nullable`` and ``$ref``. Each schema node becomes one closure, built once; checking a valid
body allocates nothing, and a value whose type alone makes it valid (most leaves: plain strings,
booleans, nulls) is accepted by its container without a call. The first violation is raised as
``Violation`` with the path to the offending value, built while the exception unwinds. A union
is resolved by the value's JSON type, then by the tag property (``role``, ``type``) its object
branches share, so its errors name the field that is wrong (``messages[0].role``), not the
whole union.

Values the schema leaves free (function parameters, JSON schemas, unknown fields) are checked
only for their nesting depth: at most ``MAX_FREE_DEPTH`` levels of objects and arrays (the
Assistants API's bound), which keeps a hostile body from exhausting a serializer's recursion
budget downstream. The values must come from
``orjson.loads`` (exact ``dict``/``list``/``str``… types)."""

from collections.abc import Callable
from typing import Any

from threadline.schemas.common import JSON_MAX_DEPTH

MAX_FREE_DEPTH = JSON_MAX_DEPTH
Check = Callable[[Any], None]

_JSON_TYPE: dict[type, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    type(None): "null",
    dict: "object",
    list: "array",
}
_TYPE_ORDER = ["string", "integer", "number", "boolean", "object", "array", "null"]
# The Python values of each JSON type (a float with no fraction is an integer too: 1.0).
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int, float),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}
# What an unconstrained type accepts on its type alone (a float must be checked for integer).
_ACCEPTED: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}
_SCALARS = frozenset({str, int, float, bool, type(None)})
_ALL = frozenset(_JSON_TYPE)
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


def _missing(name: str) -> Violation:
    violation = Violation("Missing required parameter: '{param}'.", "missing_required_parameter")
    violation.path.append(name)
    return violation


def _a(json_type: str) -> str:
    return _ARTICLE.get(json_type, f"a {json_type}")


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _wrong_type(expected: list[str], value: Any) -> Violation:
    wanted = " or ".join(_a(t) for t in expected)
    got = _a(_JSON_TYPE.get(type(value), "unknown"))
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


def _bounded(value: Any) -> None:
    if (type(value) is dict or type(value) is list) and _too_deep(value, MAX_FREE_DEPTH):
        raise Violation(
            f"Invalid '{{param}}': nested too deeply (at most {MAX_FREE_DEPTH} levels).",
            "invalid_value",
        )


def _anything(value: Any) -> None:
    pass


def _unknown(value: Any) -> None:
    raise Violation("Unknown parameter: '{param}'.", "unknown_parameter")


def _null_only(value: Any) -> None:
    raise _wrong_type(["null"], value)


class Compiler:
    """Compiles the nodes of one document (``$defs`` shared by its roots)."""

    def __init__(self, defs: dict[str, Any]) -> None:
        self._defs = defs
        self._compiled: dict[str, Check] = {}
        self._free: Check = _bounded

    def compile(self, node: dict[str, Any]) -> Check:
        if "$ref" in node:
            check = self._ref(node["$ref"])
        elif "anyOf" in node:
            check = self._union(node)
        else:
            check = self._typed(node)
        if node.get("nullable") or "null" in _declared(node):
            inner = check

            def check(value: Any) -> None:
                if value is not None:
                    inner(value)

        return check

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = self._defs[node["$ref"].rsplit("/", 1)[-1]]
        return node

    def _ref(self, ref: str) -> Check:
        name = ref.rsplit("/", 1)[-1]
        if name not in self._compiled:
            compiled = self._compiled  # a recursive reference finds the check at run time
            self._compiled[name] = lambda value: compiled[name](value)
            self._compiled[name] = self.compile(self._defs[name])
        return self._compiled[name]

    def types_of(self, node: dict[str, Any]) -> set[str]:
        """The JSON types a node can accept (all of them when it does not say)."""
        node = self._resolve(node)
        if "anyOf" in node:
            types = set().union(*(self.types_of(b) for b in node["anyOf"]))
        elif "type" in node:
            types = set(_declared(node))
        else:
            types = set(_TYPE_ORDER)
        if node.get("nullable"):
            types.add("null")
        return types

    def accepted_types(self, node: dict[str, Any]) -> frozenset[type]:
        """The Python types of which every value passes ``node``: a container accepts those
        without calling the check."""
        node = self._resolve(node)
        if "anyOf" in node:
            accepted = set().union(*(self.accepted_types(b) for b in node["anyOf"]))
        elif "type" not in node:
            accepted = set(_SCALARS)
        else:
            constrained = any(k in node for k in ("enum", "minimum", "maximum", "maxLength"))
            accepted = {
                python_type
                for json_type in _declared(node)
                if json_type == "null" or not constrained
                for python_type in _ACCEPTED.get(json_type, ())
            }
        if node.get("nullable"):
            accepted.add(type(None))
        return frozenset(accepted)

    def _entry(self, node: dict[str, Any]) -> tuple[frozenset[type], Check]:
        return self.accepted_types(node), self.compile(node)

    def _typed(self, node: dict[str, Any]) -> Check:
        if "type" not in node:
            return self._free
        main = [t for t in _declared(node) if t != "null"]
        if not main:
            return _null_only
        if len(main) != 1:
            raise ValueError(f"unsupported type list {node['type']}")
        if main[0] == "object":
            return self._object(node)
        if main[0] == "array":
            return self._array(node)
        return {"string": _string, "integer": _number, "number": _number, "boolean": _boolean}[
            main[0]
        ](node)

    def _object(self, node: dict[str, Any], skip: str | None = None) -> Check:
        properties = {name: self._entry(s) for name, s in node.get("properties", {}).items()}
        if skip is not None:  # a union's tag, already checked by its dispatch
            properties[skip] = (_ALL, _anything)
        required = tuple(node.get("required", ()))
        extra_schema = node.get("additionalProperties", True)
        free_entry = (_SCALARS, self._free)
        if extra_schema is False:
            extra: tuple[frozenset[type], Check] = (frozenset(), _unknown)
        elif extra_schema is True:
            extra = free_entry
        else:
            extra = self._entry(extra_schema)
        if not properties and not required and extra is free_entry:
            free = self._free

            def free_object(value: Any) -> None:
                if type(value) is not dict:
                    raise _wrong_type(["object"], value)
                free(value)

            return free_object

        def check(value: Any) -> None:
            if type(value) is not dict:
                raise _wrong_type(["object"], value)
            for name in required:
                if name not in value:
                    raise _missing(name)
            for name, item in value.items():
                accepted, item_check = properties.get(name) or extra
                if type(item) in accepted:
                    continue
                try:
                    item_check(item)
                except Violation as violation:
                    violation.path.append(name)
                    raise

        return check

    def _array(self, node: dict[str, Any]) -> Check:
        accepted, items = self._entry(node["items"]) if "items" in node else (_SCALARS, self._free)
        low, high = node.get("minItems", 0), node.get("maxItems")

        def check(value: Any) -> None:
            if type(value) is not list:
                raise _wrong_type(["array"], value)
            size = len(value)
            if size < low:
                raise Violation(
                    f"Invalid '{{param}}': {'empty array' if not size else 'array too short'}. "
                    f"Expected an array with minimum length {low}, but got {size} items instead.",
                    "empty_array" if not size else "array_below_min_length",
                )
            if high is not None and size > high:
                raise Violation(
                    f"Invalid '{{param}}': array too long. Expected an array with maximum length "
                    f"{high}, but got {size} items instead.",
                    "array_above_max_length",
                )
            for index, item in enumerate(value):
                if type(item) in accepted:
                    continue
                try:
                    items(item)
                except Violation as violation:
                    violation.path.append(index)
                    raise

        return check

    def _union(self, node: dict[str, Any]) -> Check:
        branches = node["anyOf"]
        expected = [t for t in _TYPE_ORDER if any(t in self.types_of(b) for b in branches)]
        candidates: dict[type, list[Check]] = {}
        for branch in branches:
            check = self.compile(branch)
            for json_type in self.types_of(branch):
                for python_type in _PYTHON_TYPES[json_type]:
                    candidates.setdefault(python_type, []).append(check)
        tagged = self._tagged(node, [b for b in branches if "object" in self.types_of(b)])

        def check(value: Any) -> None:
            kind = type(value)
            if kind is dict and tagged is not None:
                tagged(value)
                return
            options = candidates.get(kind)
            if not options:
                raise _wrong_type(expected, value)
            if len(options) == 1:
                options[0](value)
                return
            best: Violation | None = None
            for option in options:
                try:
                    option(value)
                    return
                except Violation as violation:
                    if best is None or len(violation.path) > len(best.path):
                        best = violation
            assert best is not None
            raise best

        return check

    def _tagged(self, node: dict[str, Any], objects: list[dict[str, Any]]) -> Check | None:
        """Dispatch on the tag property shared by every object branch (the spec's
        ``discriminator``, or a required property with one allowed value in each branch)."""
        resolved = [self._resolve(b) for b in objects]
        if len(resolved) < 2 or any("properties" not in b or b.get("nullable") for b in resolved):
            return None
        tag = node.get("discriminator") or _common_tag(resolved)
        if tag is None:
            return None
        branches: dict[str, Check] = {}
        for branch in resolved:
            values = branch["properties"].get(tag, {}).get("enum")
            if not values or "object" not in _declared(branch):
                return None
            check = self._object(branch, skip=tag)
            branches.update(dict.fromkeys(values, check))
        supported = ", ".join(repr(v) for v in branches)

        def check(value: dict[str, Any]) -> None:
            branch = branches.get(value[tag]) if type(value.get(tag)) is str else None
            if branch is not None:
                branch(value)
                return
            if tag not in value:
                raise _missing(tag)
            violation = Violation(
                f"Invalid value for '{{param}}': {_shown(value[tag])}. Supported values are: "
                f"{supported}.",
                "invalid_value",
            )
            violation.path.append(tag)
            raise violation

        return check


def _declared(node: dict[str, Any]) -> list[str]:
    declared = node.get("type", [])
    return declared if isinstance(declared, list) else [declared]


def _common_tag(branches: list[dict[str, Any]]) -> str | None:
    for name in branches[0].get("required", ()):
        if all(
            name in b.get("required", ())
            and len(b["properties"].get(name, {}).get("enum", ())) == 1
            for b in branches
        ):
            return name
    return None


def _string(node: dict[str, Any]) -> Check:
    enum = frozenset(node.get("enum", ()))
    supported = ", ".join(repr(v) for v in node.get("enum", ()) if v is not None)
    longest = node.get("maxLength")

    def check(value: Any) -> None:
        if type(value) is not str:
            raise _wrong_type(["string"], value)
        if enum and value not in enum:
            raise Violation(
                f"Invalid value for '{{param}}': {_shown(value)}. Supported values are: "
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


def _number(node: dict[str, Any]) -> Check:
    integer = "integer" in _declared(node)
    word = "integer" if integer else "decimal"
    low, high = node.get("minimum"), node.get("maximum")

    def check(value: Any) -> None:
        kind = type(value)
        if not (kind is int or (kind is float and (not integer or value.is_integer()))):
            raise _wrong_type(["integer" if integer else "number"], value)
        if low is not None and value < low:
            raise Violation(
                f"Invalid '{{param}}': {word} below minimum value. Expected a value >= {low}, "
                f"but got {_shown(value)} instead.",
                f"{word}_below_min_value",
            )
        if high is not None and value > high:
            raise Violation(
                f"Invalid '{{param}}': {word} above maximum value. Expected a value <= {high}, "
                f"but got {_shown(value)} instead.",
                f"{word}_above_max_value",
            )

    return check


def _boolean(node: dict[str, Any]) -> Check:
    def check(value: Any) -> None:
        if type(value) is not bool:
            raise _wrong_type(["boolean"], value)

    return check
