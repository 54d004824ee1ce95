"""JSON documents whose shape is not ours to fix: request and response bodies at the edges,
free-form values the API stores verbatim (function parameters, JSON schemas, attributes)."""

from typing import TypeAlias

JsonValue: TypeAlias = str | int | float | bool | list["JsonValue"] | dict[str, "JsonValue"] | None
JsonObject: TypeAlias = dict[str, JsonValue]
JsonArray: TypeAlias = list[JsonValue]
# Up to 16 string pairs (schemas.common.Metadata checks them on the way in).
Metadata: TypeAlias = dict[str, str]
