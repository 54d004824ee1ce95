"""``/v1/messages`` for models of a provider of kind ``anthropic``: passed through untouched.

A tiny recording Anthropic-shaped upstream (local to this file) answers what each test queues
and keeps the bytes and headers it was sent; a gateway maps two models to it. The request's
bytes arrive unchanged with the provider's key as ``x-api-key`` and an ``anthropic-version``;
streams come back byte for byte; usage (cached input included) is metered; errors keep
Anthropic's status and type."""

import json
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.gateway.conftest import MASTER_KEY, admin_client, make_key
from tests.servers import free_port, threaded_server
from threadline.settings import Settings

PROVIDER_KEY = "sk-ant-provider-" + "9" * 24
MESSAGE = {
    "id": "msg_01XFDUDYJgAACzvn",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-6",
    "content": [{"type": "text", "text": "Bonjour."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 400,
        "output_tokens": 38,
        "cache_creation_input_tokens": 10,
        "cache_read_input_tokens": 2,
    },
}
STREAM = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message",'
    b'"role":"assistant","model":"claude-sonnet-4-6","content":[],"stop_reason":null,'
    b'"stop_sequence":null,"usage":{"input_tokens":30,"cache_read_input_tokens":5,'
    b'"output_tokens":1}}}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
    b'"content_block":{"type":"text","text":""}}\n\n'
    b'event: ping\ndata: {"type": "ping"}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"Hi there"}}\n\n'
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn",'
    b'"stop_sequence":null},"usage":{"output_tokens":7}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)


class RecordingAnthropic:
    """Answers each request with the next queued (status, content type, body); records them."""

    def __init__(self) -> None:
        self.replies: deque[tuple[int, str, bytes]] = deque()
        self.requests: list[tuple[str, bytes, dict[str, str]]] = []
        app = Starlette(
            routes=[
                Route("/v1/messages", self._answer, methods=["POST"]),
                Route("/v1/messages/count_tokens", self._answer, methods=["POST"]),
            ]
        )
        self.port = free_port()
        config = uvicorn.Config(app, port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        threading.Thread(target=self._server.run, daemon=True).start()
        while not self._server.started:
            time.sleep(0.01)

    async def _answer(self, request: Request) -> Response:
        self.requests.append((request.url.path, await request.body(), dict(request.headers)))
        status, content_type, body = self.replies.popleft()
        return Response(body, status_code=status, media_type=content_type)

    def close(self) -> None:
        self._server.should_exit = True


@pytest.fixture(scope="module")
def anthropic_upstream() -> Iterator[RecordingAnthropic]:
    upstream = RecordingAnthropic()
    yield upstream
    upstream.close()


@pytest.fixture(scope="module")
def forward_url(
    anthropic_upstream: RecordingAnthropic, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp("messages-forward")
    config = tmp / "threadline.yaml"
    config.write_text(f"""
providers:
  claude:
    kind: anthropic
    base_url: http://127.0.0.1:{anthropic_upstream.port}/v1
    api_key_env: TL_TEST_ANTHROPIC_KEY
    anthropic_version: "2024-02-02"
    max_retries: 0
models:
  claude-sonnet-4-6:
    provider: claude
  sonnet:
    provider: claude
    upstream_model: claude-sonnet-4-6
    prices: {{input_per_million: 1000, output_per_million: 2000}}
""")
    os.environ["TL_TEST_ANTHROPIC_KEY"] = PROVIDER_KEY
    settings = Settings(
        data_dir=tmp,
        database_url=f"sqlite+aiosqlite:///{tmp / 'threadline.db'}",
        master_key=MASTER_KEY,
        config=config,
        request_log_flush_seconds=0.2,
    )
    with threaded_server(settings) as url:
        yield url


@pytest.fixture
def project(forward_url: str) -> Iterator[tuple[dict[str, Any], httpx.Client]]:
    with admin_client(forward_url) as admin:
        yield make_key(admin), admin


def queue(upstream: RecordingAnthropic, status: int, body: Any, stream: bool = False) -> None:
    upstream.replies.clear()
    upstream.requests.clear()
    if stream:
        upstream.replies.append((status, "text/event-stream", body))
    else:
        upstream.replies.append((status, "application/json", json.dumps(body).encode()))


def test_the_request_and_answer_pass_through_untouched(forward_url, project, anthropic_upstream):
    created, admin = project
    queue(anthropic_upstream, 200, MESSAGE)
    body = (
        b'{"model": "claude-sonnet-4-6",  "max_tokens": 64, "messages": [{"role": "user", '
        b'"content": [{"type": "text", "text": "Hi", "cache_control": {"type": "ephemeral"}}]}],'
        b' "thinking": {"type": "enabled", "budget_tokens": 1024}, "x_unknown": 1}'
    )
    response = httpx.post(
        f"{forward_url}/v1/messages?beta=true",
        content=body,
        headers={
            "x-api-key": created["key"],
            "anthropic-version": "2023-06-01",
            "anthropic-beta": "interleaved-thinking-2025-05-14",
            "content-type": "application/json",
        },
    )
    assert response.status_code == 200, response.text
    assert response.content == json.dumps(MESSAGE).encode()
    [(path, received, headers)] = anthropic_upstream.requests
    assert (path, received) == ("/v1/messages", body)
    assert headers["x-api-key"] == PROVIDER_KEY and "authorization" not in headers
    assert headers["anthropic-version"] == "2023-06-01"
    assert headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert created["key"] not in json.dumps(headers)
    [row] = admin.get(
        "/admin/usage", params={"project": created["project"], "group_by": "meter"}
    ).json()["data"]
    assert (row["meter"], row["input_tokens"], row["output_tokens"]) == ("messages", 412, 38)


def test_streams_come_back_byte_for_byte_and_are_metered(forward_url, project, anthropic_upstream):
    created, admin = project
    queue(anthropic_upstream, 200, STREAM, stream=True)
    messages = [{"role": "user", "content": "Hi"}]
    with (
        anthropic.Anthropic(base_url=forward_url, api_key=created["key"], max_retries=0) as client,
        client.messages.stream(model="sonnet", max_tokens=64, messages=messages) as stream,
    ):
        raw = b"".join(stream.response.iter_bytes())
    assert raw == STREAM
    [(_, received, headers)] = anthropic_upstream.requests
    assert json.loads(received)["model"] == "claude-sonnet-4-6"  # the configured upstream id
    assert headers["anthropic-version"] not in ("", "2024-02-02")  # the SDK's own
    logs = admin.get("/admin/logs", params={"project": created["project"]}).json()["data"]
    [line] = [entry for entry in logs if entry["path"] == "/v1/messages"]
    assert (line["model"], line["input_tokens"], line["output_tokens"]) == ("sonnet", 35, 7)
    assert Decimal(line["cost_usd"]) == Decimal("0.049")  # 35 in at $0.001, 7 out at $0.002


def test_count_tokens_is_forwarded(forward_url, project, anthropic_upstream):
    created, _ = project
    queue(anthropic_upstream, 200, {"input_tokens": 42})
    with anthropic.Anthropic(base_url=forward_url, api_key=created["key"], max_retries=0) as client:
        counted = client.messages.count_tokens(
            model="sonnet", messages=[{"role": "user", "content": "Hi"}]
        )
    assert counted.input_tokens == 42
    assert anthropic_upstream.requests[0][0] == "/v1/messages/count_tokens"
    queue(anthropic_upstream, 200, {"input_tokens": 7})
    response = httpx.post(  # no anthropic-version: the provider's is sent
        f"{forward_url}/v1/messages/count_tokens",
        json={"model": "sonnet", "messages": [{"role": "user", "content": "Hi"}]},
        headers={"authorization": f"Bearer {created['key']}"},
    )
    assert response.json() == {"input_tokens": 7}
    assert anthropic_upstream.requests[0][2]["anthropic-version"] == "2024-02-02"


def test_upstream_errors_keep_their_status_and_type(forward_url, project, anthropic_upstream):
    created, _ = project
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    messages = [{"role": "user", "content": "Hi"}]
    with anthropic.Anthropic(base_url=forward_url, api_key=created["key"], max_retries=0) as client:
        queue(anthropic_upstream, 529, overloaded)
        with pytest.raises(anthropic.APIStatusError) as failed:
            client.messages.create(model="sonnet", max_tokens=5, messages=messages)
        assert failed.value.status_code == 529
        assert failed.value.body["error"] == {"type": "overloaded_error", "message": "Overloaded"}
        echo = f"invalid x-api-key {PROVIDER_KEY}"
        rejected = {"type": "error", "error": {"type": "authentication_error", "message": echo}}
        queue(anthropic_upstream, 401, rejected)
        with pytest.raises(anthropic.InternalServerError) as failed:
            client.messages.create(model="sonnet", max_tokens=5, messages=messages)
        assert failed.value.status_code == 502 and PROVIDER_KEY not in failed.value.response.text
