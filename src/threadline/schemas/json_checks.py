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
budget downstream. The values must come from ``orjson.loads`` (exact ``dict``/``list``/``str``…
types). The leaves (violations, strings, numbers, depth) are in ``json_leaf_checks``."""

from typing import Any

from threadline.schemas.json_leaf_checks import (
    JSON_TYPE,
    MAX_FREE_DEPTH,
    Check,
    Violation,
    boolean_check,
    bounded,
    declared,
    missing,
    number_check,
    shown,
    string_check,
    wrong_type,
)

__all__ = ["MAX_FREE_DEPTH", "Check", "Compiler", "Violation"]

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
_ALL = frozenset(JSON_TYPE)


def _anything(value: Any) -> None:
    pass


def _unknown(value: Any) -> None:
    raise Violation("Unknown parameter: '{param}'.", "unknown_parameter")


def _null_only(value: Any) -> None:
    raise wrong_type(["null"], value)


class Compiler:
    """Compiles the nodes of one document (``$defs`` shared by its roots)."""

    def __init__(self, defs: dict[str, Any]) -> None:
        self._defs = defs
        self._compiled: dict[str, Check] = {}
        self._free: Check = bounded

    def compile(self, node: dict[str, Any]) -> Check:
        if "$ref" in node:
            check = self._ref(node["$ref"])
        elif "anyOf" in node:
            check = self._union(node)
        else:
            check = self._typed(node)
        if node.get("nullable") or "null" in declared(node):
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
            types = set(declared(node))
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
                for json_type in declared(node)
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
        main = [t for t in declared(node) if t != "null"]
        if not main:
            return _null_only
        if len(main) != 1:
            raise ValueError(f"unsupported type list {node['type']}")
        if main[0] == "object":
            return self._object(node)
        if main[0] == "array":
            return self._array(node)
        return {
            "string": string_check,
            "integer": number_check,
            "number": number_check,
            "boolean": boolean_check,
        }[main[0]](node)

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
                    raise wrong_type(["object"], value)
                free(value)

            return free_object

        def check(value: Any) -> None:
            if type(value) is not dict:
                raise wrong_type(["object"], value)
            for name in required:
                if name not in value:
                    raise missing(name)
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
                raise wrong_type(["array"], value)
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
                raise wrong_type(expected, value)
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
            if not values or "object" not in declared(branch):
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
                raise missing(tag)
            violation = Violation(
                f"Invalid value for '{{param}}': {shown(value[tag])}. Supported values are: "
                f"{supported}.",
                "invalid_value",
            )
            violation.path.append(tag)
            raise violation

        return check


def _common_tag(branches: list[dict[str, Any]]) -> str | None:
    for name in branches[0].get("required", ()):
        if all(
            name in b.get("required", ())
            and len(b["properties"].get(name, {}).get("enum", ())) == 1
            for b in branches
        ):
            return name
    return None
