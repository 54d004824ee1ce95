"""The HTTP edge: request headers are bounded before anything else runs (431, as nginx answers),
and answers carry the headers a security review expects (no server banner, nosniff, admin
answers never stored)."""

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import new_project_key
from tests.raw_http import exchange
from tests.servers import threaded_server
from threadline.settings import Settings

DEFAULT_MAX_HEADER_BYTES = Settings.model_fields["max_header_bytes"].default
DEFAULT_MAX_HEADER_COUNT = Settings.model_fields["max_header_count"].default


def _get(path: str, *header_lines: bytes) -> bytes:
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: test\r\n" + b"".join(header_lines)


def _assert_refused_431(status: int, headers: dict[str, str], body: bytes) -> None:
    assert status == 431
    assert headers["connection"] == "close"
    assert headers["x-content-type-options"] == "nosniff"
    assert "server" not in headers
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "request_headers_too_large"


def _assert_healthy(server_url: str) -> None:
    assert httpx.get(f"{server_url}/healthz", timeout=10).status_code == 200


def test_a_header_over_the_size_limit_is_431_and_the_connection_closed(server_url: str) -> None:
    oversize = b"X-Big: " + b"a" * DEFAULT_MAX_HEADER_BYTES + b"\r\n\r\n"
    # exchange() returns only once the server has closed the connection.
    _assert_refused_431(*exchange(server_url, _get("/v1/models", oversize)))
    _assert_healthy(server_url)


def test_a_head_that_never_ends_is_refused_without_reading_it_whole(server_url: str) -> None:
    """A megabyte of one header line, never finished: refused as soon as it passes the limit
    (the rest is dropped unparsed), and the client can still read the answer."""
    endless = b"X-Big: " + b"a" * (1024 * 1024)
    _assert_refused_431(*exchange(server_url, _get("/v1/models", endless)))
    _assert_healthy(server_url)


def test_too_many_header_lines_are_431(server_url: str) -> None:
    lines = b"".join(b"X-%d: a\r\n" % n for n in range(DEFAULT_MAX_HEADER_COUNT + 1))
    _assert_refused_431(*exchange(server_url, _get("/v1/models", lines, b"\r\n")))
    _assert_healthy(server_url)


def test_a_big_but_sane_request_still_works(server_url: str, api_key: str) -> None:
    headers = {
        "Authorization": f"Bearer {api_key}",
        "Cookie": "session=" + "c" * 8192,
        **{f"X-Extra-{n}": "v" * 64 for n in range(100)},
    }
    response = httpx.get(f"{server_url}/v1/models", headers=headers, timeout=10)
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def small_limits_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp("small-limits")
    settings = Settings(
        data_dir=tmp,
        database_url=f"sqlite+aiosqlite:///{tmp / 'edge.db'}",
        max_header_bytes=8192,
        max_header_count=20,
    )
    with threaded_server(settings) as url:
        yield url


def test_the_limits_are_settings(small_limits_server: str) -> None:
    url = small_limits_server
    few = b"".join(b"X-%d: a\r\n" % n for n in range(15))
    assert exchange(url, _get("/healthz", few, b"Connection: close\r\n\r\n"))[0] == 200
    many = b"".join(b"X-%d: a\r\n" % n for n in range(25))
    _assert_refused_431(*exchange(url, _get("/healthz", many, b"\r\n")))
    _assert_refused_431(*exchange(url, _get("/healthz", b"X-Big: " + b"a" * 9000 + b"\r\n\r\n")))
    assert (
        exchange(url, _get("/healthz", b"X-Ok: " + b"a" * 7000 + b"\r\nConnection: close\r\n\r\n"))[
            0
        ]
        == 200
    )


def test_the_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLINE_MAX_HEADER_BYTES", "32768")
    monkeypatch.setenv("THREADLINE_MAX_HEADER_COUNT", "100")
    settings = Settings()
    assert (settings.max_header_bytes, settings.max_header_count) == (32768, 100)


# --- response headers ------------------------------------------------------------------------


def test_no_answer_names_the_server_and_every_one_says_nosniff(
    server_url: str, api_key: str
) -> None:
    with httpx.Client(base_url=server_url, timeout=10) as client:
        answers = [
            client.get("/healthz"),
            client.get("/metrics"),
            client.get("/v1/models", headers={"Authorization": f"Bearer {api_key}"}),
            client.get("/v1/models"),  # 401
            client.get("/v1/nowhere", headers={"Authorization": f"Bearer {api_key}"}),  # 404
            client.get("/v1/files/x%00y"),  # refused before routing
            client.get("/admin/keys"),  # 401
        ]
    for response in answers:
        assert "server" not in response.headers, response.request.url
        assert response.headers["x-content-type-options"] == "nosniff", response.request.url


def test_admin_answers_are_never_stored(server_url: str, admin: httpx.Client) -> None:
    created = admin.post("/admin/keys", json={"project": f"edge-{secrets.token_hex(4)}"})
    rotated = admin.post(f"/admin/keys/{created.json()['id']}/rotate")
    listed = admin.get("/admin/keys")
    refused = httpx.get(f"{server_url}/admin/keys", timeout=10)
    for response in (created, rotated, listed, refused):
        assert response.headers["cache-control"] == "no-store", response.request.url
    assert created.status_code == rotated.status_code == 200
    assert created.json()["key"] != rotated.json()["key"]


def test_api_answers_have_no_cache_control_of_ours(server_url: str, admin: httpx.Client) -> None:
    key = new_project_key(admin)
    response = httpx.get(
        f"{server_url}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=10
    )
    assert response.status_code == 200
    assert "cache-control" not in response.headers


def test_an_idle_keep_alive_connection_outlives_the_clients_expiry(tmp_path: Path) -> None:
    """httpx (the OpenAI SDK's client) drops a connection idle for 5 s; the server must not close
    it first, or a request sent on it at that moment fails with a ReadError. (Of the server, not
    of a database: one backend.)"""
    expiry = httpx.Limits().keepalive_expiry
    assert expiry is not None
    limits = httpx.Limits(keepalive_expiry=expiry + 60)  # this client keeps it longer
    with (
        threaded_server(Settings(data_dir=tmp_path)) as url,
        httpx.Client(base_url=url, limits=limits, timeout=10) as client,
    ):
        first = client.get("/healthz")
        opened = _client_address(first)
        time.sleep(expiry + 0.5)
        second = client.get("/healthz")
        assert first.status_code == second.status_code == 200
        assert _client_address(second) == opened, "the same connection, still open"


def _client_address(response: httpx.Response) -> object:
    return response.extensions["network_stream"].get_extra_info("client_addr")
