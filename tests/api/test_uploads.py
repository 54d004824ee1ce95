"""Hostile uploads: the file name is metadata only, the body
is streamed to disk under a running size cap, an anonymous body is refused before it is read,
and malformed multipart is a 400, never a 500.

Most cases run against a server of their own with a 1 MiB upload limit, whose data directory the
tests can inspect."""

import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
import pytest

from tests.servers import threaded_server
from threadline.settings import Settings

MASTER = "sk-master-uploads-" + secrets.token_hex(8)
LIMIT = 1024 * 1024
BOUNDARY = "threadline-test-boundary"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, str]]:
    """(base URL, data dir, project key) of a server with a 1 MiB upload limit."""
    root = tmp_path_factory.mktemp("uploads")
    data_dir = root / "data"
    with threaded_server(
        Settings(data_dir=data_dir, master_key=MASTER, max_upload_bytes=LIMIT)
    ) as url:
        key = httpx.post(
            f"{url}/admin/keys",
            headers={"Authorization": f"Bearer {MASTER}"},
            json={"project": "uploads"},
        ).json()["key"]
        yield url, data_dir, key


@pytest.fixture
def api(small: tuple[str, Path, str]) -> Iterator[httpx.Client]:
    url, _, key = small
    with httpx.Client(
        base_url=f"{url}/v1", headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as client:
        yield client


def multipart(*parts: tuple[str, bytes]) -> bytes:
    """A multipart body from raw part headers and contents (nothing escaped for us)."""
    body = b""
    for headers, content in parts:
        body += f"--{BOUNDARY}\r\n".encode() + headers.encode("utf-8") + b"\r\n\r\n"
        body += content + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode()


def file_part(filename: str, content: bytes = b"data") -> tuple[str, bytes]:
    return f'Content-Disposition: form-data; name="file"; filename="{filename}"', content


PURPOSE = ('Content-Disposition: form-data; name="purpose"', b"assistants")
MULTIPART = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


def post_raw(api: httpx.Client, body: bytes | Iterator[bytes], **headers: str) -> httpx.Response:
    return api.post("/files", content=body, headers={**MULTIPART, **headers})


def error_of(response: httpx.Response, status: int) -> dict[str, str]:
    assert response.status_code == status, response.text[:300]
    body = response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]  # type: ignore[no-any-return]


# --- the file name is metadata only -----------------------------------------------------------

HOSTILE_NAMES = [
    "../../etc/passwd",
    "/etc/passwd",
    "..\\..\\x",
    "a/../../b",
    "%2e%2e%2f",
    "\uff0e\uff0e\uff0fx",  # fullwidth dots and slash
    "CON",
    'quote"d; filename=evil.sh',
    "n" * 4096,
    "ünïcödé ✓.txt",
]


def test_hostile_names_are_stored_by_id_only(api: httpx.Client, small):
    _, data_dir, _ = small
    before_outside = set(data_dir.parent.iterdir())
    created = []
    for name in HOSTILE_NAMES:
        response = post_raw(api, multipart(PURPOSE, file_part(name.replace('"', "%22"))))
        assert response.status_code == 200, (name, response.text[:200])
        created.append(response.json())

    stored = {p.name for p in (data_dir / "files").rglob("*") if p.is_file()}
    assert stored >= {f["id"] for f in created}
    assert all(re.fullmatch(r"file-[0-9a-z]+", name) for name in stored), stored
    assert set(data_dir.parent.iterdir()) == before_outside
    for obj in created:
        # Delete and read by id never touch a path derived from the name.
        assert api.get(f"/files/{obj['id']}/content").content == b"data"
        assert api.delete(f"/files/{obj['id']}").status_code == 200
    assert not [p for p in (data_dir / "files").rglob("file-*") if p.is_file()]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_content_disposition_is_quoted_safely(api: httpx.Client, name: str):
    response = post_raw(api, multipart(PURPOSE, file_part(name)))
    assert response.status_code == 200, response.text[:200]
    stored = response.json()["filename"]

    header = api.get(f"/files/{response.json()['id']}/content").headers["content-disposition"]

    assert "\r" not in header and "\n" not in header
    fallback, encoded = re.fullmatch(
        r'attachment; filename="([^"\\]*)"; filename\*=UTF-8\'\'(\S+)', header
    ).groups()  # type: ignore[union-attr]
    assert unquote(encoded) == stored
    assert len(fallback) == len(stored)


def test_control_characters_are_dropped_from_the_name(api: httpx.Client):
    # A NUL (and any control character) can come in a header value; no file name needs one.
    part = ('Content-Disposition: form-data; name="file"; filename="a\x00b\x07c.txt"', b"x")
    response = post_raw(api, multipart(PURPOSE, part))
    assert response.status_code == 200, response.text
    assert response.json()["filename"] == "abc.txt"


def test_a_name_longer_than_4096_characters_is_400(api: httpx.Client):
    response = post_raw(api, multipart(PURPOSE, file_part("n" * 4097)))
    assert error_of(response, 400)["param"] == "file"


# --- size, authentication, malformed bodies ---------------------------------------------------


def raw_exchange(url: str, head: str, body_start: bytes, close_write: bool = False) -> str:
    """Send a request head and the start of its body, then read the status line (``""`` if
    the server closed without one). The rest of the body is never sent; ``close_write`` ends
    the request there."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=20) as sock:
        sock.sendall(head.encode() + body_start)
        if close_write:
            sock.shutdown(socket.SHUT_WR)
        return sock.recv(4096).split(b"\r\n", 1)[0].decode()


def request_head(key: str | None, length: int) -> str:
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    return (
        f"POST /v1/files HTTP/1.1\r\nHost: test\r\n{auth}"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    )


def test_anonymous_upload_is_refused_before_the_body_is_read(small):
    url, _, _ = small
    assert " 401 " in raw_exchange(url, request_head(None, 1024**3), b"x" * 1024)


def test_declared_oversized_upload_is_refused_before_the_body_is_read(small):
    url, _, key = small
    assert " 413 " in raw_exchange(url, request_head(key, LIMIT + 10**6), b"x" * 1024)


def test_declared_512_mb_plus_one_is_413_on_the_default_limit(server_url: str, api_key: str):
    head = request_head(api_key, 512 * 1024 * 1024 + 1 + 64 * 1024)
    assert " 413 " in raw_exchange(server_url, head, b"x" * 1024)


def test_streamed_upload_past_the_limit_is_413_and_leaves_nothing(api: httpx.Client, small):
    _, data_dir, _ = small

    def chunks() -> Iterator[bytes]:  # chunked: no length declared
        yield f"--{BOUNDARY}\r\n".encode() + PURPOSE[0].encode() + b"\r\n\r\nassistants\r\n"
        yield f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '.encode()
        yield b'filename="big.bin"\r\n\r\n'
        for _ in range(40):
            yield b"x" * 65536

    error = error_of(post_raw(api, chunks()), 413)
    assert error["param"] == "file"
    assert not list((data_dir / "files" / ".incoming").iterdir())


def test_body_shorter_than_declared_is_400(small):
    url, _, key = small
    body = multipart(PURPOSE, file_part("a.txt"))
    status = raw_exchange(url, request_head(key, len(body) + 100), body, close_write=True)
    assert status == "" or " 400 " in status  # a 400, or the connection closed: never a 500


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (multipart(PURPOSE), "file"),
        (multipart(file_part("a.txt")), "purpose"),
        (
            multipart(
                ('Content-Disposition: form-data; name="purpose"', b"secrets"), file_part("a")
            ),
            "purpose",
        ),
        (
            multipart(PURPOSE, file_part("a"), ('Content-Disposition: form-data; name="x"', b"1")),
            "x",
        ),
        (multipart(PURPOSE, file_part("a"), file_part("b")), "file"),
        (
            multipart(
                PURPOSE,
                ('Content-Disposition: form-data; name="purpose"', b"batch"),
                file_part("a"),
            ),
            "purpose",
        ),
    ],
    ids=["no-file", "no-purpose", "bad-purpose", "unknown-field", "two-files", "purpose-twice"],
)
def test_invalid_forms_are_400_naming_the_param(api: httpx.Client, body: bytes, param: str):
    assert error_of(post_raw(api, body), 400)["param"] == param


@pytest.mark.parametrize(
    "body",
    [
        b"not multipart at all",
        f"--{BOUNDARY}\r\n".encode() + b"-" * 1_000_000,
        f"--{BOUNDARY}\r\n".encode() + b"".join(b"X-H%d: v\r\n" % i for i in range(10_000)),
        multipart(PURPOSE, file_part("a"))[:-20],
        f"--{BOUNDARY}\r\nContent-Disposition: attachment\r\n\r\nx\r\n--{BOUNDARY}--\r\n".encode(),
    ],
    ids=["garbage", "million-dashes", "10k-part-headers", "truncated", "not-form-data"],
)
def test_malformed_multipart_is_400(api: httpx.Client, body: bytes):
    started = time.monotonic()
    error_of(post_raw(api, body), 400)
    assert time.monotonic() - started < 30  # generous: the machine is shared


def test_json_body_is_400(api: httpx.Client):
    response = api.post("/files", json={"purpose": "assistants"})
    assert "multipart/form-data" in error_of(response, 400)["message"]


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_a_large_upload_is_streamed_not_buffered(http, client):
    """96 MiB through the server (in this process) raises its memory by far less than that."""
    size = 96 * 1024 * 1024
    chunk = b"z" * (1024 * 1024)

    def body() -> Iterator[bytes]:
        yield multipart(PURPOSE)[: -len(f"--{BOUNDARY}--\r\n")]
        yield f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '.encode()
        yield b'filename="big.bin"\r\n\r\n'
        for _ in range(size // len(chunk)):
            yield chunk
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    baseline, peak, done = _rss_bytes(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        response = http.post("/files", content=body(), headers=MULTIPART, timeout=120)
    finally:
        done.set()
        sampler.join()
    assert response.status_code == 200, response.text
    assert response.json()["bytes"] == size
    assert peak[0] - baseline < 64 * 1024 * 1024
    client.files.delete(response.json()["id"])
