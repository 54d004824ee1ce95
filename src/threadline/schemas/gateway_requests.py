"""The request bodies of ``POST /v1/chat/completions`` and ``POST /v1/embeddings`` checked
against the spec's ``CreateChatCompletionRequest`` and ``CreateEmbeddingRequest`` before they
are forwarded, so a malformed body is the client's 400 (``param`` naming the field) instead of
an upstream's 500.

The schemas ship with the package (``gateway_requests.json``, written from OpenAI's spec by
``scripts/generate_request_schemas.py``) and are compiled once, at import, twice over:

- for ``jsonschema-rs``, which answers "valid?" in Rust: 0.3 µs for a one-message body, 2 µs
  for one with tools, where the same checks in Python took 1.4 µs and 10 µs;
- into ``json_checks``' Python checks, run only for a body found invalid, because they say
  where: a union is resolved by its tag (``messages[0].role``), where a JSON Schema validator
  only reports that no branch of ``messages[0]`` matched.

Free-form values (function parameters, JSON schemas, unknown fields) are bounded to
``MAX_FREE_DEPTH`` levels by both."""

from typing import Any

import jsonschema_rs
import orjson

from threadline.errors import InvalidRequest
from threadline.schemas.json_checks import MAX_FREE_DEPTH, Check, Compiler, Violation

with open(__file__.removesuffix(".py") + ".json", "rb") as _file:
    _DOCUMENT: dict[str, Any] = orjson.loads(_file.read())
_ROOTS = {"/chat/completions": "chat_completions", "/embeddings": "embeddings"}


class RequestCheck:
    """One endpoint's body check."""

    __slots__ = ("_explain", "_is_valid")

    def __init__(self, root: dict[str, Any], explain: Check) -> None:
        self._is_valid = jsonschema_rs.Draft202012Validator(_standard(root)).is_valid
        self._explain = explain

    def __call__(self, data: dict[str, Any]) -> None:
        """Raises ``InvalidRequest`` for the first place where ``data`` breaks the schema."""
        if self._is_valid(data):
            return
        try:
            self._explain(data)
        except Violation as violation:
            raise InvalidRequest(
                violation.message, param=violation.param or None, code=violation.code
            ) from None
        # Both read the same schemas; should they ever disagree, the body still is invalid.
        raise InvalidRequest("The request body does not match the API's schema.")


def _standard(root: dict[str, Any]) -> dict[str, Any]:
    """``root`` in standard JSON Schema: ``nullable`` as a null branch, free-form values (and
    the root's unknown fields) as JSON bounded to ``MAX_FREE_DEPTH`` levels."""
    defs = {name: _standardized(node) for name, node in _DOCUMENT["$defs"].items()}
    for depth in range(MAX_FREE_DEPTH):  # _free0: a container of scalars only
        below = {"$ref": f"#/$defs/_free{depth - 1}"} if depth else _SCALAR
        defs[f"_free{depth}"] = {"items": below, "additionalProperties": below}
    return {
        **_standardized(root),
        "additionalProperties": _FREE,
        "$defs": defs,
    }


_FREE = {"$ref": f"#/$defs/_free{MAX_FREE_DEPTH - 1}"}
_SCALAR = {"type": ["string", "number", "boolean", "null"]}


def _standardized(node: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: _standardized(schema) for name, schema in value.items()}
        elif key == "anyOf":
            out[key] = [_standardized(branch) for branch in value]
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _standardized(value)
        elif key == "additionalProperties" and value is True and "properties" not in node:
            out.update(_FREE)  # a free-form object: its own level counts
        elif key in ("items", "additionalProperties") and value is True:
            out[key] = _FREE
        elif key not in ("discriminator", "nullable"):
            out[key] = value
    if "properties" in out:  # unknown fields are allowed, as free values
        out.setdefault("additionalProperties", _FREE)
    if not {"type", "anyOf", "$ref"} & out.keys():
        out.update(_FREE)
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


_EXPLAIN = Compiler(_DOCUMENT["$defs"])
REQUEST_CHECKS = {
    path: RequestCheck(_DOCUMENT["roots"][root], _EXPLAIN.compile(_DOCUMENT["roots"][root]))
    for path, root in _ROOTS.items()
}
