"""``Idempotency-Key``: a retried POST with the same key and body gets the first
response and creates nothing more — also when the SDK retries after the connection dropped once
the server had committed; another body with the key is a 400; keys are per project; without a
key a retry duplicates (OpenAI's behaviour); streams pass through untouched."""

import asyncio
import secrets
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.databases import database
from tests.runs_helpers import names, stream_run
from tests.upstream import ScriptedUpstream, Text
from threadline.services.idempotency import ABANDONED_SECONDS, KEEP_SECONDS
from threadline.storage import idempotency as units
from threadline.storage.database import Database
from threadline.storage.migrate import upgrade_to_head


def _key() -> dict[str, str]:
    return {"Idempotency-Key": secrets.token_hex(8)}


def test_a_repeated_request_gets_the_first_response(client: OpenAI):
    thread = client.beta.threads.create()
    key = _key()
    first = client.beta.threads.messages.with_raw_response.create(
        thread.id, role="user", content="hello", extra_headers=key
    )
    again = client.beta.threads.messages.with_raw_response.create(
        thread.id, role="user", content="hello", extra_headers=key
    )
    assert again.parse().id == first.parse().id
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert again.headers["x-threadline-request-id"] != first.headers["x-threadline-request-id"]
    assert len(client.beta.threads.messages.list(thread.id).data) == 1


def test_the_same_key_with_another_body_is_a_400(client: OpenAI):
    key = _key()
    client.beta.assistants.create(model="gpt-test", name="one", extra_headers=key)
    with pytest.raises(openai.BadRequestError) as refused:
        client.beta.assistants.create(model="gpt-test", name="two", extra_headers=key)
    body = refused.value.body
    assert isinstance(body, dict)
    assert body["code"] == "idempotency_key_reused" and body["param"] == "Idempotency-Key"
    assert [a.name for a in client.beta.assistants.list()] == ["one"]


def test_keys_belong_to_a_project(client: OpenAI, other_client: OpenAI):
    key = _key()
    mine = client.beta.threads.create(extra_headers=key)
    theirs = other_client.beta.threads.create(extra_headers=key)
    assert mine.id != theirs.id
    other_client.beta.threads.retrieve(theirs.id)


def test_errors_are_not_kept(http: httpx.Client, client: OpenAI):
    thread = client.beta.threads.create()
    key = _key()
    refused = http.post(
        f"/threads/{thread.id}/messages", json={"role": "robot", "content": "x"}, headers=key
    )
    assert refused.status_code == 400
    # Nothing was done, so nothing is kept: the key is free for the corrected request.
    client.beta.threads.messages.create(thread.id, role="user", content="x", extra_headers=key)


def test_a_bad_key_or_an_upload_with_a_key_is_a_400(http: httpx.Client):
    response = http.post("/threads", json={}, headers={"Idempotency-Key": "k" * 256})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "Idempotency-Key"
    upload = http.post(
        "/files",
        files={"file": ("a.txt", b"abc")},
        data={"purpose": "assistants"},
        headers={"Idempotency-Key": "upload-1"},
    )
    assert upload.status_code == 400 and "JSON requests only" in upload.text


class _DropFirstResponse(httpx.BaseTransport):
    """Sends every request; the first response is lost on the way back, as when a connection
    drops after the server committed."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.sent = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        self.sent += 1
        if self.sent == 1:
            response.close()
            raise httpx.ReadError("connection reset", request=request)
        return response


@pytest.mark.parametrize("with_key", [True, False])
def test_an_sdk_retry_after_a_dropped_response(
    server_url: str, api_key: str, client: OpenAI, with_key: bool
):
    thread = client.beta.threads.create()
    transport = _DropFirstResponse()
    with OpenAI(
        base_url=f"{server_url}/v1",
        api_key=api_key,
        max_retries=2,
        http_client=httpx.Client(transport=transport),
    ) as flaky:
        flaky.beta.threads.messages.create(
            thread.id, role="user", content="once", extra_headers=_key() if with_key else None
        )
    assert transport.sent == 2
    stored = client.beta.threads.messages.list(thread.id).data
    # With a key: one message. Without: the documented duplicate, as with OpenAI's own API.
    assert len(stored) == (1 if with_key else 2)


def test_a_stream_passes_through(http: httpx.Client, client: OpenAI, upstream: ScriptedUpstream):
    upstream.default(Text(["Hi ", "there."]))
    assistant = client.beta.assistants.create(model="gpt-test")
    thread = client.beta.threads.create()
    http.headers["Idempotency-Key"] = secrets.token_hex(8)
    events = stream_run(http, thread.id, {"assistant_id": assistant.id})
    assert names(events)[-2:] == ["thread.run.completed", "done"]
    assert "thread.message.delta" in names(events)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_claims_in_flight_stale_and_abandoned(backend: str):
    with database(backend) as url:
        upgrade_to_head(url)

        async def check() -> None:
            db = Database(url)

            async def claim(fingerprint: str, now: int) -> Any:
                return await db.write(
                    units.claim,
                    "p",
                    "k",
                    fingerprint,
                    now,
                    now - KEEP_SECONDS,
                    now - ABANDONED_SECONDS,
                )

            try:
                assert isinstance(await claim("a", 1_000_000), units.Claimed)
                assert isinstance(await claim("a", 1_000_001), units.InFlight)
                assert isinstance(await claim("b", 1_000_001), units.Mismatch)
                # Its server died mid-request: taken over once abandoned.
                later = 1_000_000 + ABANDONED_SECONDS + 1
                assert isinstance(await claim("a", later), units.Claimed)
                await db.write(units.record, "p", "k", 201, "application/json", b"{}")
                replay = await claim("a", later + 1)
                assert replay == units.Replay(201, "application/json", b"{}")
                # After 24 hours the key is free for any request.
                assert isinstance(await claim("c", later + KEEP_SECONDS + 1), units.Claimed)
                assert await db.write(units.expire, later + 2 * KEEP_SECONDS) == 1
            finally:
                await db.dispose()

        asyncio.run(check())
