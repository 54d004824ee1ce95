"""Writes src/threadline/schemas/gateway_requests.json: the request schemas of the gateway's
pass-through endpoints (``CreateChatCompletionRequest``, ``CreateEmbeddingRequest``), cut out of
OpenAI's OpenAPI spec so that the product never reads the spec itself.

    python scripts/generate_request_schemas.py [path/to/openai-openapi.yaml]

What the output keeps is a small JSON Schema subset (``type``, ``enum``, ``properties``,
``required``, ``additionalProperties``, ``items``, ``minItems``/``maxItems``,
``minimum``/``maximum``, ``maxLength``, ``anyOf``, ``$ref``, and OpenAPI's ``discriminator``
as a hint), which ``threadline.schemas.gateway_requests`` compiles at import time. On the way:

- documentation (descriptions, examples, defaults, formats) is dropped;
- OpenAPI 3.0's ``nullable: true`` and ``anyOf: [X, {type: "null"}]`` become ``"null"`` in
  ``type`` (and in ``enum``), or a ``"nullable": true`` on a reference or a union;
- ``allOf`` of objects is merged, the outer schema's own properties winning (the spec
  re-declares ``top_logprobs`` as nullable on the chat request, non-null on a base schema);
- ``oneOf`` becomes ``anyOf``: the spec's branches are told apart by their ``type``/``role``
  tags, so "exactly one" and "at least one" accept the same bodies;
- a union of a plain string and string enums (model ids, voices) is just a string;
- an optional field may be ``null`` wherever the spec says so or not: libraries (langchain,
  llama-index, agent frameworks) send explicit nulls for "not given", and a gateway stricter
  than the upstreams it fronts would break them;
- the top level accepts unknown fields (gateways and clients send vendor extensions such as
  ``top_k``), although the spec closes ``CreateEmbeddingRequest``.
"""

import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOTS = {"chat_completions": "CreateChatCompletionRequest", "embeddings": "CreateEmbeddingRequest"}
KEPT = {
    "type",
    "enum",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    "maxLength",
    "anyOf",
    "oneOf",
    "allOf",
    "$ref",
    "nullable",
    "discriminator",
}
OUTPUT = Path(__file__).resolve().parents[1] / "src/threadline/schemas/gateway_requests.json"
DEFAULT_SPEC = Path(__file__).resolve().parents[2] / "shared" / "openai-openapi.yaml"  # ../shared


class Simplifier:
    def __init__(self, schemas: dict[str, Any]) -> None:
        self.schemas = schemas
        self.defs: dict[str, Any] = {}

    def ref(self, ref: str) -> dict[str, Any]:
        name = ref.rsplit("/", 1)[-1]
        if name not in self.defs:
            self.defs[name] = {}  # a placeholder while recursive references resolve
            self.defs[name] = self.node(self.schemas[name])
        return {"$ref": f"#/$defs/{name}"}

    def resolved(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = self.schemas[node["$ref"].rsplit("/", 1)[-1]]
        return node

    def node(self, node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        node = {key: value for key, value in node.items() if key in KEPT}
        if "allOf" in node:
            return self.node(self.merged(node))
        if "$ref" in node:
            reference = self.ref(node["$ref"])
            return {**reference, "nullable": True} if node.get("nullable") else reference
        nullable = bool(node.pop("nullable", False))
        union = node.pop("oneOf", None) or node.pop("anyOf", None)
        out: dict[str, Any] = {}
        if union is not None:
            branches = [b for b in union if b.get("type") != "null"]
            nullable = nullable or len(branches) < len(union)
            simplified = [self.node(b) for b in branches]
            if _plain_string_union(simplified):
                simplified = [{"type": "string"}]
            if len(simplified) == 1 and not node.get("discriminator"):
                out = dict(simplified[0])
            else:
                out["anyOf"] = simplified
                if "discriminator" in node:
                    out["discriminator"] = node["discriminator"]["propertyName"]
        for key, value in node.items():
            if key == "properties":
                required = set(node.get("required", ()))
                out["properties"] = {
                    name: self.node(s) if name in required else _with_null(self.node(s))
                    for name, s in value.items()
                }
            elif key in ("items", "additionalProperties") and isinstance(value, dict):
                out[key] = self.node(value)
            elif key != "discriminator":
                out[key] = value
        return _with_null(out) if nullable else out

    def merged(self, node: dict[str, Any]) -> dict[str, Any]:
        """``allOf`` of object schemas as one object, later (outer) properties winning."""
        out: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for part in [*node.pop("allOf"), node]:
            part = self.resolved(part)
            if "allOf" in part:
                part = self.merged(dict(part))
            out["properties"].update(part.get("properties", {}))
            out["required"] += [r for r in part.get("required", []) if r not in out["required"]]
            if "additionalProperties" in part:
                out["additionalProperties"] = part["additionalProperties"]
        return out


def _with_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` that also accepts ``null``."""
    out = dict(schema)
    if "type" in out and "$ref" not in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        if "null" not in types:
            out["type"] = [*types, "null"]
        if "enum" in out and None not in out["enum"]:  # JSON Schema applies an enum to null too
            out["enum"] = [*out["enum"], None]
    elif "type" not in out and "$ref" not in out and "anyOf" not in out:
        return out  # accepts anything already
    else:
        out["nullable"] = True
    return out


def _plain_string_union(branches: list[dict[str, Any]]) -> bool:
    return any(b == {"type": "string"} for b in branches) and all(
        b.get("type") == "string" and set(b) <= {"type", "enum"} for b in branches
    )


def generate(spec_path: Path) -> dict[str, Any]:
    with spec_path.open() as file:
        spec = yaml.load(file, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    simplifier = Simplifier(spec["components"]["schemas"])
    roots = {}
    for name, schema_name in ROOTS.items():
        root = simplifier.node(spec["components"]["schemas"][schema_name])
        root.pop("additionalProperties", None)  # vendor extensions stay allowed
        roots[name] = root
    return {"roots": roots, "$defs": dict(sorted(simplifier.defs.items()))}


def main() -> None:
    spec_path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SPEC
    OUTPUT.write_text(json.dumps(generate(spec_path), indent=1, sort_keys=False) + "\n")
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
