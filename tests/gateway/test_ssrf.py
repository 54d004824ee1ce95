"""SSRF: nothing a client sends can point the server at another address. Fields
that name an endpoint or a key (``api_base``, ``base_url``, ``api_key``, ``extra_headers``,
``extra_body``), at top level or nested, go nowhere but into the forwarded body; an upstream's
redirect is not followed. A loopback "attacker" listener sees no connection and no credential."""

import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.gateway.conftest import PRICED, make_key, raw, sdk
from tests.upstream import Fail, Text


class Listener:
    """A TCP listener on loopback that counts connections and keeps what they sent."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(1)
                try:
                    self.received.append(connection.recv(65536))
                except OSError:
                    self.received.append(b"")

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._socket.close()


@pytest.fixture
def attacker() -> Iterator[Listener]:
    listener = Listener()
    yield listener
    listener.close()


@pytest.fixture
def key(gw_admin: httpx.Client) -> str:
    return str(make_key(gw_admin)["key"])


def _overrides(url: str) -> dict[str, Any]:
    return {
        "api_base": url,
        "base_url": url,
        "api_key": "sk-attacker",
        "extra_headers": {"Host": url, "Authorization": "Bearer sk-attacker"},
        "extra_body": {"base_url": url},
    }


def test_override_fields_in_a_chat_completion_reach_no_one(
    gateway_url: str, key: str, upstream: Any, attacker: Listener
):
    upstream.script(Text(["fine"]))
    with raw(gateway_url, key) as http:
        response = http.post(
            "/chat/completions",
            json={
                "model": PRICED,
                "messages": [{"role": "user", "content": "hi"}],
                "metadata": {"base_url": attacker.url},
                **_overrides(attacker.url),
            },
        )
    assert response.status_code == 200, response.text
    [sent] = upstream.requests
    assert sent["api_base"] == attacker.url  # forwarded as data, used for nothing
    assert attacker.received == []


def test_override_fields_in_assistants_and_runs_reach_no_one(
    gateway_url: str, key: str, upstream: Any, attacker: Listener
):
    upstream.default(Text(["fine"]))
    with raw(gateway_url, key) as http:
        http.headers["OpenAI-Beta"] = "assistants=v2"
        # Unknown fields in Assistants requests are refused, at any depth the spec closes.
        refused = http.post("/assistants", json={"model": PRICED, **_overrides(attacker.url)})
        assert refused.status_code == 400
        tool = {
            "type": "function",
            "function": {"name": "f", "parameters": {"base_url": attacker.url}},
        }
        assistant = http.post(
            "/assistants",
            json={"model": PRICED, "tools": [tool], "metadata": {"api_base": attacker.url}},
        )
        assert assistant.status_code == 200, assistant.text
    with sdk(gateway_url, key) as client:
        run = client.beta.threads.create_and_run_poll(
            assistant_id=assistant.json()["id"],
            thread={"messages": [{"role": "user", "content": attacker.url}]},
        )
    assert run.status == "completed"
    assert attacker.received == []


def test_an_upstream_redirect_is_not_followed(
    gateway_url: str, key: str, upstream: Any, attacker: Listener
):
    redirect = Fail(307, body={}, headers={"location": f"{attacker.url}/v1/chat/completions"})
    upstream.script(redirect)
    with raw(gateway_url, key) as http:
        response = http.post(
            "/chat/completions",
            json={"model": PRICED, "messages": [{"role": "user", "content": "hi"}]},
        )
    assert response.status_code >= 400
    assert attacker.received == []
    upstream.script(redirect)
    with sdk(gateway_url, key) as client:
        assistant = client.beta.assistants.create(model=PRICED)
        run = client.beta.threads.create_and_run_poll(assistant_id=assistant.id)
    assert run.status == "failed" and run.last_error is not None
    assert attacker.received == []
