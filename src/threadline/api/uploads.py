"""Streaming a ``multipart/form-data`` upload into the blob store, never whole in memory.

The body is read chunk by chunk and fed to python-multipart's streaming parser; the ``file``
part's bytes go straight to a ``BlobWriter`` (a temporary file renamed into place on commit)
under a running size cap, the few form fields are collected under small caps. The route
authenticates before this runs, so an anonymous body is never parsed."""

import re
from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from threadline.api.integers import ascii_int
from threadline.errors import InvalidRequest, PayloadTooLarge
from threadline.providers.blobs.base import BlobWriter

FIELD_MAX_BYTES = 4096
MAX_PARTS = 16
FILENAME_MAX_CHARS = 4096
# Room for the part headers and the form fields around the file itself.
FORM_OVERHEAD_BYTES = 64 * 1024
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class Upload:
    filename: str = ""
    size: int = 0
    fields: dict[str, str] = field(default_factory=dict)
    has_file: bool = False


def too_large(limit: int) -> PayloadTooLarge:
    megabytes = limit / (1024 * 1024)
    return PayloadTooLarge(
        f"The file is larger than the maximum upload size of {megabytes:g} MB.", param="file"
    )


def safe_filename(raw: str) -> str:
    """The client's file name as metadata: kept as given, minus control characters (NUL, CR,
    LF…), which no file name needs and which some consumers of it (headers, PostgreSQL) cannot
    take. It never becomes a path."""
    name = _CONTROL_CHARACTERS.sub("", raw)
    if len(name) > FILENAME_MAX_CHARS:
        raise InvalidRequest(
            f"The file name can be at most {FILENAME_MAX_CHARS} characters long.", param="file"
        )
    return name or "upload"


class _Collector:
    """Parser callbacks: remembers the parts; file bytes are handed out in ``take_file_data``
    (callbacks cannot await, so the caller writes them after each parsed chunk)."""

    def __init__(self, upload: Upload, max_file_bytes: int) -> None:
        self.upload = upload
        self.max_file_bytes = max_file_bytes
        self.finished = False
        self._parts = 0
        self._headers: dict[str, bytes] = {}
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._field: str | None = None
        self._field_value = bytearray()
        self._in_file = False
        self._file_data: list[memoryview] = []

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def take_file_data(self) -> list[memoryview]:
        data, self._file_data = self._file_data, []
        return data

    def _part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise InvalidRequest(f"The form can have at most {MAX_PARTS} fields.")
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        name = self._header_name.decode("latin-1").strip().lower()
        self._headers[name] = bytes(self._header_value)
        self._header_name, self._header_value = bytearray(), bytearray()

    def _headers_finished(self) -> None:
        # Header bytes in, the same bytes out (latin-1 maps them one to one); names are UTF-8.
        disposition = self._headers.get("content-disposition", b"").decode("latin-1")
        kind, options = parse_options_header(disposition)
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if kind != b"form-data" or not name:
            raise InvalidRequest("Each part of the form needs a 'form-data' name.")
        if name == "file":
            if self.upload.has_file:
                raise InvalidRequest("Only one file can be uploaded at a time.", param="file")
            self.upload.has_file = True
            raw_name = options.get(b"filename", b"").decode("utf-8", "replace")
            self.upload.filename = safe_filename(raw_name)
            self._in_file = True
        else:
            if name in self.upload.fields:
                raise InvalidRequest(f"The field '{name}' was given more than once.", param=name)
            self._field = name
            self._field_value = bytearray()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self.upload.size += end - start
            if self.upload.size > self.max_file_bytes:
                raise too_large(self.max_file_bytes)
            self._file_data.append(memoryview(data)[start:end])  # copied once, by the writer
        else:
            self._field_value += data[start:end]
            if len(self._field_value) > FIELD_MAX_BYTES:
                raise InvalidRequest(f"The field '{self._field}' is too long.", param=self._field)

    def _part_end(self) -> None:
        if self._field is not None:
            try:
                self.upload.fields[self._field] = self._field_value.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidRequest(
                    f"The field '{self._field}' is not valid UTF-8.", param=self._field
                ) from None
        self._field, self._in_file = None, False

    def _end(self) -> None:
        self.finished = True


def _boundary(request: Request) -> bytes:
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise InvalidRequest(
            "Uploads must be sent as multipart/form-data with a 'file' and a 'purpose'."
        )
    return boundary


async def receive_upload(request: Request, writer: BlobWriter, *, max_file_bytes: int) -> Upload:
    """Parse the upload, writing the file's bytes to ``writer`` (the caller commits or aborts).
    400 for a malformed form, 413 past ``max_file_bytes``; a client gone mid-body raises
    ``ClientDisconnect`` (the gateway counts it, nobody is left to answer)."""
    boundary = _boundary(request)
    body_limit = max_file_bytes + FORM_OVERHEAD_BYTES
    declared = ascii_int(request.headers.get("content-length") or "")
    if declared is not None and declared > body_limit:
        raise too_large(max_file_bytes)  # refused before a byte of the body is read
    upload = Upload()
    collector = _Collector(upload, max_file_bytes)
    try:
        parser = MultipartParser(
            boundary,
            collector.callbacks(),
            max_header_size=16 * 1024,  # type: ignore[arg-type]
        )
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > body_limit:
                raise too_large(max_file_bytes)
            parser.write(chunk)
            for data in collector.take_file_data():
                await writer.write(data)
        parser.finalize()
    except FormParserError as error:
        raise InvalidRequest(f"The multipart body could not be parsed: {error}") from None
    if not collector.finished:
        raise InvalidRequest("The multipart body ended before its closing boundary.")
    if not upload.has_file:
        raise InvalidRequest("Missing required parameter: 'file'.", param="file")
    return upload
