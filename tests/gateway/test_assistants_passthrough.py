"""Assistants pass-through mode against a second Threadline as the upstream: the official SDK
talks to the gateway, the objects live upstream, streams come through, the gateway's keys,
limits, allowed models and logs apply, and each run is billed once from its usage."""

import os
import secrets
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import openai
import pytest

from tests.gateway.conftest import (
    MASTER_KEY,
    PRICED,
    admin_client,
    cost_of,
    gateway_server,
    make_key,
    raw,
    sdk,
)
from tests.raw_http import (
    MULTIPART_BOUNDARY,
    MULTIPART_START,
    cut_short_requests,
    errors_logged,
    requests_by_status,
    send_and_hang_up,
    server_log,
    wait_for,
)
from tests.servers import threaded_server
from tests.upstream import ScriptedUpstream, Text
from threadline.settings import Settings

UPSTREAM_KEY_ENV = "TL_TEST_SECOND_THREADLINE_KEY"


@pytest.fixture(scope="module")
def second_threadline(
    tmp_path_factory: pytest.TempPathFactory, upstream_server: ScriptedUpstream
) -> Iterator[tuple[str, str]]:
    """Threadline "B", answering runs from the scripted upstream; yields (url, a key of B)."""
    tmp = tmp_path_factory.mktemp("threadline-b")
    settings = Settings(
        data_dir=tmp,
        database_url=f"sqlite+aiosqlite:///{tmp / 'b.db'}",
        master_key=MASTER_KEY,
        upstream_base_url=upstream_server.base_url,
        upstream_api_key=upstream_server.api_key,
        upstream_max_retries=0,
    )
    with threaded_server(settings) as url, admin_client(url) as admin:
        yield url, make_key(admin)["key"]


@pytest.fixture(scope="module")
def front(
    tmp_path_factory: pytest.TempPathFactory,
    upstream_server: ScriptedUpstream,
    second_threadline: tuple[str, str],
) -> Iterator[str]:
    """The gateway "A", with provider "b" = Threadline B."""
    url_b, key_b = second_threadline
    os.environ[UPSTREAM_KEY_ENV] = key_b
    providers = f"\n  b:\n    base_url: {url_b}/v1\n    api_key_env: {UPSTREAM_KEY_ENV}"
    tmp: Path = tmp_path_factory.mktemp("threadline-a")
    with gateway_server(tmp, upstream_server, extra_providers=providers) as url:
        yield url


@pytest.fixture
def project(front: str) -> Iterator[tuple[httpx.Client, str]]:
    name = f"pt-{secrets.token_hex(5)}"
    with admin_client(front) as admin:
        response = admin.post(f"/admin/projects/{name}", json={"assistants_passthrough": "b"})
        assert response.status_code == 200, response.text
        yield admin, name


def usage_of(admin: httpx.Client, project: str) -> dict:
    return admin.get("/admin/usage", params={"project": project, "group_by": "meter"}).json()


def test_assistants_live_upstream_and_runs_are_billed_once(
    front, project, second_threadline, upstream
):
    admin, name = project
    url_b, key_b = second_threadline
    key = make_key(admin, project=name)["key"]
    upstream.default(Text(["from B"], usage=(10, 5)))
    with sdk(front, key) as client:
        assistant = client.beta.assistants.create(model=PRICED, name="upstairs")
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=50
        )
        assert run.status == "completed"
        messages = client.beta.threads.messages.list(thread_id=thread.id)
        assert messages.data[0].content[0].text.value == "from B"
        # Seen finished again and again: still one run's usage.
        for _ in range(3):
            client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
        client.beta.threads.runs.list(thread_id=thread.id)
    with raw(url_b, key_b) as b:  # the objects are B's
        assert b.get(f"/assistants/{assistant.id}").json()["name"] == "upstairs"
    usage = usage_of(admin, name)
    [runs] = [row for row in usage["data"] if row["meter"] == "runs"]
    assert (runs["input_tokens"], runs["output_tokens"]) == (10, 5)
    assert Decimal(runs["cost_usd"]) == Decimal(str(cost_of(10, 5)))


def test_streams_come_through(front, project, upstream):
    admin, name = project
    key = make_key(admin, project=name)["key"]
    upstream.default(Text(["stre", "amed"], usage=(7, 2)))
    with sdk(front, key) as client:
        assistant = client.beta.assistants.create(model=PRICED)
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
        with client.beta.threads.runs.stream(
            thread_id=thread.id, assistant_id=assistant.id
        ) as stream:
            events = [event.event for event in stream]
            text = stream.get_final_messages()[0].content[0].text.value
    assert text == "streamed"
    assert events[0] == "thread.run.created" and events[-1] == "thread.run.completed"
    [runs] = [row for row in usage_of(admin, name)["data"] if row["meter"] == "runs"]
    assert (runs["input_tokens"], runs["output_tokens"]) == (7, 2)


def test_gateway_keys_limits_and_models_apply(front, project):
    admin, name = project
    narrow = make_key(admin, project=name, models=[PRICED], rpm=3)["key"]
    with sdk(front, narrow) as client:
        with pytest.raises(openai.PermissionDeniedError):
            client.beta.assistants.create(model="gpt-test")
        assistant = client.beta.assistants.create(model=PRICED)
        with pytest.raises(openai.RateLimitError):
            for _ in range(3):
                client.beta.assistants.retrieve(assistant.id)
    logs = admin.get("/admin/logs", params={"project": name}).json()["data"]
    assert {log["status"] for log in logs} >= {200, 403, 429}
    with raw(front, "sk-tl-" + "x" * 32) as stranger:
        assert stranger.get("/assistants").status_code == 401


def test_pass_through_is_off_by_default(front, project):
    admin, name = project
    passthrough_key = make_key(admin, project=name)["key"]
    local_key = make_key(admin)["key"]  # another project, no pass-through
    with sdk(front, passthrough_key) as remote, sdk(front, local_key) as local:
        upstairs = remote.beta.assistants.create(model=PRICED)
        here = local.beta.assistants.create(model=PRICED)
        with pytest.raises(openai.NotFoundError):
            local.beta.assistants.retrieve(upstairs.id)
        with pytest.raises(openai.NotFoundError):
            remote.beta.assistants.retrieve(here.id)


def test_files_and_vector_stores_go_through(front, project, second_threadline):
    admin, name = project
    url_b, key_b = second_threadline
    key = make_key(admin, project=name)["key"]
    content = b"# Lighthouses\n\nThe Fastnet lighthouse stands on a rock off Cork.\n"
    with sdk(front, key) as client:
        uploaded = client.files.create(file=("lights.md", content), purpose="assistants")
        assert client.files.content(uploaded.id).read() == content  # bytes back, unchanged
        store = client.vector_stores.create(name="lights", file_ids=[uploaded.id])
        deadline = time.monotonic() + 60
        while client.vector_stores.retrieve(store.id).file_counts.in_progress:
            assert time.monotonic() < deadline, "the upstream never indexed the file"
            time.sleep(0.1)
        found = client.vector_stores.search(store.id, query="Fastnet lighthouse")
        assert found.data[0].file_id == uploaded.id
    with raw(url_b, key_b) as b:  # the file lives upstream
        assert b.get(f"/files/{uploaded.id}").json()["filename"] == "lights.md"


def test_an_upload_cut_short_is_not_forwarded_as_complete(front, project, caplog):
    """The client hangs up mid-upload: the upstream connection is dropped too (not ended as if
    the body were whole), and the gateway counts a 499, not the upstream's answer or a 5xx."""
    admin, name = project
    key = make_key(admin, project=name)["key"]
    head = (
        f"POST /v1/files HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: multipart/form-data; boundary={MULTIPART_BOUNDARY}\r\n"
    ).encode()
    before = requests_by_status(front)
    with server_log(caplog) as log:
        for request in cut_short_requests(head, MULTIPART_START):
            send_and_hang_up(front, request)
        wait_for(
            lambda: sum(requests_by_status(front).values()) >= sum(before.values()) + 2,
            "both requests counted",
        )
        after = requests_by_status(front)
        assert {status: after[status] - before.get(status, 0) for status in after} == {
            **{status: 0 for status in before},
            499: 2,
        }
        assert errors_logged(log) == []
