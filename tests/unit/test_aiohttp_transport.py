"""The run transport over aiohttp and the environment: proxy variables are honoured (read once
per upstream), NO_PROXY too, and a ``~/.netrc`` entry for the upstream's host never collides
with the Authorization header the provider sends."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from threadline.providers.llm.transport import AiohttpTransport

_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


@asynccontextmanager
async def recording_server(heads: list[bytes]) -> AsyncIterator[int]:
    """A local HTTP server (or proxy: it answers whatever it is asked) that keeps each
    request's head."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        heads.append(head)
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def _post(url: str) -> bytes:
    transport = AiohttpTransport(connect_timeout=5, read_timeout=5, max_connections=4)
    try:
        response = await transport.post(url, b"{}", {"Authorization": "Bearer sk-test"})
        body = await response.read()
        await response.close()
        return body
    finally:
        await transport.aclose()


def test_a_proxy_variable_sends_the_request_through_the_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario() -> None:
        heads: list[bytes] = []
        async with recording_server(heads) as port:
            monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
            assert await _post("http://upstream.invalid:8911/v1/chat/completions") == b"ok"
        request_line = heads[0].split(b"\r\n")[0]
        assert request_line == b"POST http://upstream.invalid:8911/v1/chat/completions HTTP/1.1"

    asyncio.run(scenario())


def test_no_proxy_names_hosts_reached_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        direct: list[bytes] = []
        proxied: list[bytes] = []
        async with recording_server(direct) as port, recording_server(proxied) as proxy_port:
            monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy_port}")
            monkeypatch.setenv("NO_PROXY", "127.0.0.1")
            assert await _post(f"http://127.0.0.1:{port}/v1/chat/completions") == b"ok"
        assert proxied == []
        assert direct[0].split(b"\r\n")[0] == b"POST /v1/chat/completions HTTP/1.1"

    asyncio.run(scenario())


def test_a_netrc_entry_for_the_upstream_does_not_replace_the_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """aiohttp's ``trust_env`` would read it and refuse the request (an Authorization header
    and netrc credentials at once)."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))

    async def scenario() -> None:
        heads: list[bytes] = []
        async with recording_server(heads) as port:
            assert await _post(f"http://127.0.0.1:{port}/v1/chat/completions") == b"ok"
        assert b"authorization: bearer sk-test" in heads[0].lower()

    asyncio.run(scenario())
