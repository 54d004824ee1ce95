"""Spans to OTLP protobuf bytes (an ``ExportTraceServiceRequest``), written directly.

The SDK's encoder builds a protobuf object per span, attribute and value, then serializes them,
and hashes each span's resource (as JSON) to group spans: about 14 µs a span plus 3 µs an
attribute, most of tracing's cost on a gateway request (docs/benchmarks.md#tracing). This one
writes the wire format itself: a span's fields as they are laid out, the resource and scope
encoded once, and the attributes Threadline repeats on every span (the method, the route, the
model, the upstream's address) kept encoded. What it writes decodes to what the SDK's encoder
makes of the same spans (tests/unit/test_otlp_encoding.py).

A span is read through the fields of the SDK's ``ReadableSpan`` (``name``, ``context``,
``parent``, ``attributes``, ``events``, ``links``, ``kind``, ``status``, ``start_time``,
``end_time``, ``resource``, ``instrumentation_scope``, the ``dropped_*`` counts): a
``ReadableSpan`` or the tracer's own recorded span (``otel.py``). Like the SDK, an attribute
whose value cannot be encoded is left out (and logged)."""

import logging
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

_logger = logging.getLogger(__name__)

# Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32. A tag is (field << 3) | type.
_pack_double = struct.Struct("<d").pack
_pack_fixed64 = struct.Struct("<Q").pack
_pack_fixed32 = struct.Struct("<I").pack
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1

# SpanFlags: the parent's (or a link's) is_remote is known, and whether it is remote.
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200
_FLAGS_LOCAL = b"\x85\x01" + _pack_fixed32(_HAS_IS_REMOTE)  # Span.flags, field 16, fixed32
_FLAGS_REMOTE = b"\x85\x01" + _pack_fixed32(_HAS_IS_REMOTE | _IS_REMOTE)
_EMPTY_STATUS = b"\x7a\x00"  # Span.status, always present (the SDK's encoder always sets it)
# SpanKind (INTERNAL 0 … CONSUMER 4 in the API) is the protobuf's value less one.
_KINDS = tuple(b"\x30" + bytes((value + 1,)) for value in range(5))

_SMALL_VARINTS = tuple(
    bytes((n,)) if n < 0x80 else bytes(((n & 0x7F) | 0x80, n >> 7)) for n in range(1 << 14)
)


def _varint(n: int) -> bytes:
    """A non-negative integer (or an int64's two's complement) as a base-128 varint."""
    if n < 16384:
        if n >= 0:
            return _SMALL_VARINTS[n]
        n += 1 << 64
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: bytes, body: bytes) -> bytes:
    """A length-delimited field: its tag, the body's length, the body."""
    return tag + _varint(len(body)) + body


def _string(tag: bytes, text: str) -> bytes:
    return _field(tag, text.encode())


def encode_value(value: Any) -> bytes:
    """An ``AnyValue``'s body (as the SDK's ``_encode_value`` chooses its case); TypeError or
    ValueError when it cannot be encoded."""
    if value is None:
        return b""
    kind = type(value)
    if kind is str:
        return _string(b"\x0a", value)
    if kind is bool:
        return b"\x10\x01" if value else b"\x10\x00"
    if kind is int:
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"{value} is out of an int64's range")
        return b"\x18" + _varint(value)
    if kind is float:
        return b"\x21" + _pack_double(value)
    # Subclasses, sequences and mappings: the SDK's order of checks.
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, str):
        return _string(b"\x0a", value)
    if isinstance(value, int):
        return encode_value(int(value))
    if isinstance(value, float):
        return encode_value(float(value))
    if isinstance(value, bytes):
        return _field(b"\x3a", bytes(value))
    if isinstance(value, Sequence):
        values = b"".join(_field(b"\x0a", encode_value(item)) for item in value)
        return _field(b"\x2a", values)  # ArrayValue.values
    if isinstance(value, Mapping):
        pairs = b"".join(_field(b"\x0a", _key_value(str(k), v)) for k, v in value.items())
        return _field(b"\x32", pairs)  # KeyValueList.values
    raise TypeError(f"Invalid type {type(value)} of value {value}")


def _key_value(key: str, value: Any) -> bytes:
    return _string(b"\x0a", key) + _field(b"\x12", encode_value(value))


def encode_attributes(tag: bytes, attributes: Mapping[str, Any] | None) -> bytes:
    """Repeated ``KeyValue`` fields under ``tag``, uncached (resources, scopes, events, links)."""
    if not attributes:
        return b""
    out = []
    for key, value in attributes.items():
        try:
            out.append(_field(tag, _key_value(key, value)))
        except (TypeError, ValueError, OverflowError) as error:
            _logger.error("Failed to encode key %s: %s", key, error)
    return b"".join(out)


class SpanEncoder:
    """Encodes batches of spans. Keeps, across batches, each resource's and scope's bytes and
    the span attributes most often repeated: one encoder per exporter, used by one thread (the
    batch processor's)."""

    _REPEATED_LIMIT = 4096  # (key, value) pairs kept encoded; forgotten all at once when full
    _REPEATED_LENGTH = 256  # longer strings are not kept (ids, paths, content)

    def __init__(self) -> None:
        # id(resource or scope) -> (the object, kept alive so its id stays its own; its bytes)
        self._resources: dict[int, tuple[object, bytes]] = {}
        self._scopes: dict[int, tuple[object, bytes]] = {}
        # Span.attributes fields (tag and all), by the value's type, key and value (the types
        # apart: True == 1; floats not kept: -0.0 == 0.0).
        self._repeated: dict[type, dict[str, dict[object, bytes]]] = {str: {}, int: {}, bool: {}}
        self._repeated_count = 0

    def encode(self, spans: Iterable[Any]) -> bytes:
        """An ``ExportTraceServiceRequest`` holding ``spans``, grouped by resource then scope."""
        groups: dict[int, dict[int, list[bytes]]] = {}
        owners: dict[int, Any] = {}
        for span in spans:
            resource = span.resource
            scope = span.instrumentation_scope
            by_scope = groups.get(id(resource))
            if by_scope is None:
                by_scope = groups[id(resource)] = {}
                owners[id(resource)] = resource
            encoded = by_scope.get(id(scope))
            if encoded is None:
                encoded = by_scope[id(scope)] = []
                owners[id(scope)] = scope
            encoded.append(self.span(span))
        resource_spans = []
        for resource_id, by_scope in self._merged(groups, owners):
            scope_spans = b"".join(
                _field(b"\x12", self._scope(owners[scope_id]) + b"".join(encoded))
                for scope_id, encoded in by_scope
            )
            resource_spans.append(
                _field(b"\x0a", self._resource(owners[resource_id]) + scope_spans)
            )
        return b"".join(resource_spans)

    def _merged(
        self, groups: dict[int, dict[int, list[bytes]]], owners: dict[int, Any]
    ) -> list[tuple[int, list[tuple[int, list[bytes]]]]]:
        """The groups, those of equal resources (distinct objects) and scopes made one, as the
        SDK's encoder groups (by equality, it hashes each span's resource to)."""
        merged: list[tuple[int, list[tuple[int, list[bytes]]]]] = []
        for resource_id, by_scope in groups.items():
            resource = owners[resource_id]
            into = next((m for m in merged if owners[m[0]] == resource), None)
            if into is None:
                into = (resource_id, [])
                merged.append(into)
            for scope_id, encoded in by_scope.items():
                scope = owners[scope_id]
                same = next((s for s in into[1] if owners[s[0]] == scope), None)
                if same is None:
                    into[1].append((scope_id, list(encoded)))
                else:
                    same[1].extend(encoded)
        return merged

    def _resource(self, resource: Any) -> bytes:
        """ResourceSpans' ``resource`` field and its ``schema_url``."""
        kept = self._resources.get(id(resource))
        if kept is None or kept[0] is not resource:
            encoded = _field(b"\x0a", encode_attributes(b"\x0a", resource.attributes))
            if resource.schema_url:
                encoded += _string(b"\x1a", resource.schema_url)
            kept = self._resources[id(resource)] = (resource, encoded)
        return kept[1]

    def _scope(self, scope: Any) -> bytes:
        """ScopeSpans' ``scope`` field (always present, empty for no scope), ``schema_url``."""
        kept = self._scopes.get(id(scope))
        if kept is None or kept[0] is not scope:
            body = b""
            if scope is not None:
                if scope.name:
                    body += _string(b"\x0a", scope.name)
                if scope.version:
                    body += _string(b"\x12", scope.version)
                body += encode_attributes(b"\x1a", scope.attributes)
            encoded = _field(b"\x0a", body)
            if scope is not None and scope.schema_url:
                encoded += _string(b"\x1a", scope.schema_url)
            kept = self._scopes[id(scope)] = (scope, encoded)
        return kept[1]

    def span(self, span: Any) -> bytes:
        """One ``ScopeSpans.spans`` field (tag, length, Span)."""
        context = span.context
        parent = span.parent
        out = [
            b"\x0a\x10",
            context.trace_id.to_bytes(16, "big"),
            b"\x12\x08",
            context.span_id.to_bytes(8, "big"),
        ]
        trace_state = context.trace_state
        if trace_state:
            out.append(_string(b"\x1a", ",".join(f"{k}={v}" for k, v in trace_state.items())))
        if parent is not None:
            out.append(b"\x22\x08" + parent.span_id.to_bytes(8, "big"))
        if span.name:
            out.append(_string(b"\x2a", span.name))
        out.append(_KINDS[span.kind.value])
        if span.start_time:
            out.append(b"\x39" + _pack_fixed64(span.start_time))
        if span.end_time:
            out.append(b"\x41" + _pack_fixed64(span.end_time))
        attributes = span.attributes
        if attributes:
            out.append(self._span_attributes(attributes))
        if span.dropped_attributes:
            out.append(b"\x50" + _varint(span.dropped_attributes))
        for event in span.events:
            out.append(_field(b"\x5a", _event(event)))
        if span.dropped_events:
            out.append(b"\x60" + _varint(span.dropped_events))
        for link in span.links:
            out.append(_field(b"\x6a", _link(link)))
        if span.dropped_links:
            out.append(b"\x70" + _varint(span.dropped_links))
        status = span.status
        if status is None or (not status.status_code.value and not status.description):
            out.append(_EMPTY_STATUS)
        else:
            out.append(_field(b"\x7a", _status(status)))
        out.append(_FLAGS_REMOTE if parent is not None and parent.is_remote else _FLAGS_LOCAL)
        body = b"".join(out)
        return b"\x12" + _varint(len(body)) + body

    def _span_attributes(self, attributes: Mapping[str, Any]) -> bytes:
        """Span.attributes fields; a (key, value) pair seen before is found encoded."""
        repeated = self._repeated
        out = []
        for key, value in attributes.items():
            by_key = repeated.get(type(value))
            by_value = by_key.get(key) if by_key is not None else None
            encoded = by_value.get(value) if by_value is not None else None
            if encoded is None:
                try:
                    encoded = _field(b"\x4a", _key_value(key, value))
                except (TypeError, ValueError, OverflowError) as error:
                    _logger.error("Failed to encode key %s: %s", key, error)
                    continue
                if by_key is not None:
                    self._keep(by_key, key, value, encoded)
            out.append(encoded)
        return b"".join(out)

    def _keep(
        self, by_key: dict[str, dict[object, bytes]], key: str, value: Any, encoded: bytes
    ) -> None:
        if type(value) is str and len(value) > self._REPEATED_LENGTH:
            return
        if self._repeated_count >= self._REPEATED_LIMIT:
            for kept in self._repeated.values():
                kept.clear()
            self._repeated_count = 0
        self._repeated_count += 1
        by_value = by_key.get(key)
        if by_value is None:
            by_value = by_key[key] = {}
        by_value[value] = encoded


def _event(event: Any) -> bytes:
    out = []
    if event.timestamp:
        out.append(b"\x09" + _pack_fixed64(event.timestamp))
    if event.name:
        out.append(_string(b"\x12", event.name))
    out.append(encode_attributes(b"\x1a", event.attributes))
    if event.dropped_attributes:
        out.append(b"\x20" + _varint(event.dropped_attributes))
    return b"".join(out)


def _link(link: Any) -> bytes:
    """A link as the SDK's encoder writes one (its trace state left out, as there)."""
    context = link.context
    out = [
        b"\x0a\x10",
        context.trace_id.to_bytes(16, "big"),
        b"\x12\x08",
        context.span_id.to_bytes(8, "big"),
        encode_attributes(b"\x22", link.attributes),
    ]
    if link.dropped_attributes:
        out.append(b"\x28" + _varint(link.dropped_attributes))
    flags = _HAS_IS_REMOTE | (_IS_REMOTE if context.is_remote else 0)
    out.append(b"\x35" + _pack_fixed32(flags))
    return b"".join(out)


def _status(status: Any) -> bytes:
    out = b""
    if status.description:
        out += _string(b"\x12", status.description)
    if status.status_code.value:
        out += b"\x18" + _varint(status.status_code.value)
    return out
