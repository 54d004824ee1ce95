"""Raw-socket helpers for the HTTP edge suites: requests no HTTP client library would send."""

import logging
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

# A valid beginning of a multipart upload (a purpose, then part of a file), to be cut short.
MULTIPART_BOUNDARY = "XBOUNDARY"
MULTIPART_START = (
    b"--XBOUNDARY\r\n"
    b'Content-Disposition: form-data; name="purpose"\r\n\r\nassistants\r\n'
    b"--XBOUNDARY\r\n"
    b'Content-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\n'
    b"the beginning of the fi"
)


def connect(server_url: str) -> socket.socket:
    address = urlsplit(server_url)
    assert address.hostname is not None and address.port is not None
    return socket.create_connection((address.hostname, address.port), timeout=10)


def send_and_hang_up(server_url: str, request: bytes) -> None:
    with connect(server_url) as sock:
        sock.sendall(request)


def cut_short_requests(head: bytes, body_start: bytes) -> tuple[bytes, bytes]:
    """The same request twice, each closed before its body is complete: with a Content-Length
    larger than what is sent, and in chunked encoding, in the middle of a chunk."""
    announced = len(body_start) + 100
    return (
        head + f"Content-Length: {announced}\r\n\r\n".encode() + body_start,
        head + f"Transfer-Encoding: chunked\r\n\r\n{announced:x}\r\n".encode() + body_start,
    )


def requests_by_status(server_url: str, method: str = "POST") -> dict[int, float]:
    """Requests of ``method`` counted in /metrics, by status (all routes together)."""
    counts: dict[int, float] = {}
    text = httpx.get(f"{server_url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        if family.name != "threadline_http_requests":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels["method"] == method:
                status = int(sample.labels["status"])
                counts[status] = counts.get(status, 0) + sample.value
    return counts


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


@contextmanager
def server_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Records of the in-process server's loggers (uvicorn's do not reach the root logger)."""
    uvicorn_logger = logging.getLogger("uvicorn")
    uvicorn_logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="threadline")
    try:
        yield caplog
    finally:
        uvicorn_logger.removeHandler(caplog.handler)


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Messages of the server's records that carry a traceback or are errors."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith(("threadline", "uvicorn"))
        and (record.exc_info or record.levelno >= logging.ERROR)
    ]


def exchange(server_url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Sends ``request`` whole, then reads until the server closes the connection: the status,
    the headers (the last of each name) and the body of what came back."""
    with connect(server_url) as sock:
        sock.sendall(request)
        received = bytearray()
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body
