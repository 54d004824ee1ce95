"""Native Responses pass-through against a second Threadline as the upstream: a project whose
pass-through provider is marked ``responses: native`` has its Responses and Conversations
requests forwarded there as they are (JSON and SSE), under this gateway's keys and models, and
each response is billed once from the usage it reports (meter ``responses``). A provider not
so marked leaves them to this server's engine."""

import os
import secrets
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import openai
import pytest

from tests.gateway.conftest import (
    PRICED,
    admin_client,
    cost_of,
    gateway_server,
    make_key,
    raw,
    sdk,
)
from tests.upstream import ScriptedUpstream, Text

UPSTREAM_KEY_ENV = "TL_TEST_NATIVE_RESPONSES_KEY"


@pytest.fixture(scope="module")
def native(
    tmp_path_factory: pytest.TempPathFactory, upstream_server: ScriptedUpstream
) -> Iterator[tuple[str, str]]:
    """Threadline "B", serving the Responses API from the scripted upstream: (url, a key)."""
    # B knows the gateway's models (the same configuration), as a native upstream would.
    tmp = tmp_path_factory.mktemp("native-b")
    with gateway_server(tmp, upstream_server) as url, admin_client(url) as admin:
        yield url, make_key(admin)["key"]


@pytest.fixture(scope="module")
def front(
    tmp_path_factory: pytest.TempPathFactory,
    upstream_server: ScriptedUpstream,
    native: tuple[str, str],
) -> Iterator[str]:
    """The gateway "A": provider "b" serves Responses natively, "classic" (the same B) not."""
    url_b, key_b = native
    os.environ[UPSTREAM_KEY_ENV] = key_b
    providers = (
        f"\n  b:\n    base_url: {url_b}/v1\n    api_key_env: {UPSTREAM_KEY_ENV}"
        "\n    responses: native"
        f"\n  classic:\n    base_url: {url_b}/v1\n    api_key_env: {UPSTREAM_KEY_ENV}"
    )
    tmp: Path = tmp_path_factory.mktemp("native-a")
    with gateway_server(tmp, upstream_server, extra_providers=providers) as url:
        yield url


def _project(front: str, provider: str) -> tuple[httpx.Client, str]:
    admin = admin_client(front)
    name = f"rp-{secrets.token_hex(5)}"
    response = admin.post(f"/admin/projects/{name}", json={"assistants_passthrough": provider})
    assert response.status_code == 200, response.text
    return admin, name


def _responses_usage(admin: httpx.Client, project: str) -> dict:
    report = admin.get("/admin/usage", params={"project": project, "group_by": "meter"}).json()
    [row] = [row for row in report["data"] if row["meter"] == "responses"]
    return row  # type: ignore[no-any-return]


def test_responses_are_forwarded_and_billed_once(front, native, upstream):
    admin, name = _project(front, "b")
    url_b, key_b = native
    created = make_key(admin, project=name)
    upstream.default(Text(["from B"], usage=(10, 5)))
    with sdk(front, created["key"]) as client:
        response = client.responses.with_raw_response.create(model=PRICED, input="hi")
        parsed = response.parse()
        assert parsed.output_text == "from B"
        # Seen finished again: still one response's usage.
        for _ in range(2):
            assert client.responses.retrieve(parsed.id).status == "completed"
    with raw(url_b, key_b) as b:  # the response is B's
        assert b.get(f"/responses/{parsed.id}").json()["output"][0]["type"] == "message"
    row = _responses_usage(admin, name)
    assert (row["input_tokens"], row["output_tokens"]) == (10, 5)
    assert Decimal(row["cost_usd"]) == Decimal(str(cost_of(10, 5)))
    logs = admin.get("/admin/logs", params={"project": name}).json()["data"]
    [line] = [e for e in logs if e["id"] == response.headers["x-threadline-request-id"]]
    assert (line["model"], line["input_tokens"], line["output_tokens"]) == (PRICED, 10, 5)


def test_streams_and_conversations_come_through(front, native, upstream):
    admin, name = _project(front, "b")
    url_b, key_b = native
    key = make_key(admin, project=name)["key"]
    upstream.default(Text(["stre", "amed"], usage=(7, 2)))
    with sdk(front, key) as client:
        with client.responses.stream(model=PRICED, input="hi") as stream:
            deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
            final = stream.get_final_response()
        assert (deltas, final.output_text) == (["stre", "amed"], "streamed")
        conversation = client.conversations.create(metadata={"topic": "native"})
        items = client.conversations.items.list(conversation.id)
        assert items.data == []
    with raw(url_b, key_b) as b:
        assert b.get(f"/conversations/{conversation.id}").json()["metadata"] == {"topic": "native"}
    row = _responses_usage(admin, name)
    assert (row["input_tokens"], row["output_tokens"]) == (7, 2)


def test_the_keys_models_apply_before_forwarding(front, upstream):
    admin, name = _project(front, "b")
    key = make_key(admin, project=name, models=[PRICED])["key"]
    before = len(upstream.requests)
    with sdk(front, key) as client, pytest.raises(openai.PermissionDeniedError):
        client.responses.create(model="gpt-test", input="hi")
    assert len(upstream.requests) == before


def test_a_provider_not_native_leaves_responses_to_the_engine(front, native, upstream):
    admin, name = _project(front, "classic")
    url_b, key_b = native
    key = make_key(admin, project=name)["key"]
    with sdk(front, key) as client:
        response = client.responses.create(model=PRICED, input="hi")
        assert response.status == "completed"
    with raw(url_b, key_b) as b:
        assert b.get(f"/responses/{response.id}").status_code == 404
    assert _responses_usage(admin, name)["requests"] == 1  # billed by this server's engine
