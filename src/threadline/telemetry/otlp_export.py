"""The OTLP/HTTP span exporter: the SDK's, with spans encoded by ``otlp_encoding``.

Everything but the encoding stays the SDK's ``OTLPSpanExporter``: the endpoint, headers,
timeout, compression, certificates and credential provider it reads from the
``OTEL_EXPORTER_OTLP_*`` variables, its size limit, retries with backoff, and its own metrics.
Only the bytes it posts (``application/x-protobuf``) are written by ``SpanEncoder``, at a
fifth of the SDK encoder's cost. An SDK whose exporter is not built as this one expects (its
sender as ``_client``, 1.40 and later) keeps its own encoder: ``encodes`` is then False."""

import logging
from collections.abc import Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from threadline.telemetry.otlp_encoding import SpanEncoder

_logger = logging.getLogger(__name__)


class OTLPBytesExporter(OTLPSpanExporter):
    def __init__(self) -> None:
        super().__init__()
        self._encoder = SpanEncoder()
        client = getattr(self, "_client", None)
        self._send = getattr(client, "export", None)
        self._too_large = getattr(self, "_max_request_size", None)
        # Whether spans are encoded here: they may then be any object with a ReadableSpan's
        # fields (the tracer hands over its own records, not ReadableSpans).
        self.encodes = (
            self._send is not None
            and self._too_large is not None
            and hasattr(self, "_metrics")
            and hasattr(self, "_shutdown")
        )

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        if not self.encodes:
            return super().export(spans)
        if self._shutdown:
            _logger.warning("Exporter already shutdown, ignoring batch")
            return SpanExportResult.FAILURE
        with self._metrics.export_operation(len(spans)) as result:
            try:
                data = self._encoder.encode(spans)
            except Exception as error:  # as the SDK's: a batch that fails to encode is dropped
                _logger.error("Failed to encode span batch: %s", error)
                result.error = error
                return SpanExportResult.FAILURE
            if 0 < self._too_large < len(data):
                _logger.warning(
                    "Dropping span batch: serialized size %d bytes exceeds max_request_size "
                    "%d bytes.",
                    len(data),
                    self._too_large,
                )
                result.error = ValueError("span batch larger than max_request_size")
                return SpanExportResult.FAILURE
            sent = self._send(data)
            if not sent.success:
                result.error = sent.error
                if sent.status_code is not None:
                    result.error_attrs = {"http.response.status_code": sent.status_code}
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS
