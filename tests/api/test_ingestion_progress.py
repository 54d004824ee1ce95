"""Ingestion progress a person can see: a store file's ``progress`` (chunks embedded of its
chunks) while it is indexed, its final counts once completed, and a batch's sum over its files,
read through the official SDK (an extra field, kept in ``model_extra``) and raw HTTP.

The server here embeds with the scripted upstream, which holds every embeddings request that
contains ``HELD_WORD``: the large file's first batch of passages is embedded, its second waits,
so the test reads the API at a known point of the ingestion, never against a clock."""

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from openai import OpenAI

from tests.conftest import sdk_client
from tests.files_helpers import (
    HELD_WORD,
    SMALL_CHUNKS,
    embedding_server,
    long_text,
    midway_progress,
    project_key,
    upload,
    wait_until_settled,
)
from tests.upstream import EmbeddingsHold, ScriptedUpstream

HELD_WORD_TEXT = long_text()
SHORT_TEXT = "A short note about lanterns and harbors, embedded in one batch."


@pytest.fixture(scope="module")
def server(
    backend: str, tmp_path_factory: pytest.TempPathFactory, upstream_server: ScriptedUpstream
) -> Iterator[tuple[str, str]]:
    with embedding_server(backend, tmp_path_factory.mktemp("progress"), upstream_server) as found:
        yield found


@pytest.fixture
def clients(
    server: tuple[str, str], upstream: ScriptedUpstream
) -> Iterator[tuple[OpenAI, httpx.Client]]:
    base, master = server
    key = project_key(base, master)
    with (
        sdk_client(base, key) as sdk,
        httpx.Client(
            base_url=f"{base}/v1", headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as raw,
    ):
        yield sdk, raw


@pytest.fixture
def hold(upstream: ScriptedUpstream) -> Iterator[EmbeddingsHold]:
    held = upstream.hold_embeddings(HELD_WORD)
    try:
        yield held
    finally:
        held.gate.set()


def poll(read: Callable[[], dict[str, Any]], until: Callable[[dict[str, Any]], bool]) -> Any:
    """``read()`` again until ``until`` holds of it (the progress is written every ~0.5 s);
    fails after 15 s. The last value read."""
    deadline = time.monotonic() + 15
    while True:
        value = read()
        if until(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_a_file_reports_its_chunks_while_it_is_embedded(
    clients: tuple[OpenAI, httpx.Client], upstream: ScriptedUpstream, hold: EmbeddingsHold
) -> None:
    client, raw = clients
    store = client.vector_stores.create(name="progress")
    file_id = upload(client, "long.txt", HELD_WORD_TEXT.encode())
    created = raw.post(
        f"/vector_stores/{store.id}/files",
        json={"file_id": file_id, "chunking_strategy": SMALL_CHUNKS},
    ).json()
    assert created["progress"] is None  # queued: not chunked yet

    upstream.wait_for_held_embeddings()  # the first batch is embedded, the second waits
    expected = midway_progress(HELD_WORD_TEXT)
    path = f"/vector_stores/{store.id}/files/{file_id}"
    midway = poll(lambda: raw.get(path).json(), lambda body: body["progress"] == expected)

    assert midway["status"] == "in_progress"
    assert midway["progress"] == expected
    assert 0 < expected["chunks_done"] < expected["chunks_total"]
    # The official SDK parses the object and keeps the extra field.
    found = client.vector_stores.files.retrieve(file_id, vector_store_id=store.id)
    assert found.status == "in_progress"
    assert found.model_extra == {"progress": expected}
    listed = client.vector_stores.files.list(vector_store_id=store.id).data
    assert [f.model_extra for f in listed] == [{"progress": expected}]

    hold.gate.set()
    wait_until_settled(client, store.id)
    done = raw.get(path).json()
    assert done["status"] == "completed"
    total = expected["chunks_total"]
    assert done["progress"] == {"chunks_done": total, "chunks_total": total}  # final counts kept


def test_a_batch_reports_the_sum_over_its_files(
    clients: tuple[OpenAI, httpx.Client], upstream: ScriptedUpstream, hold: EmbeddingsHold
) -> None:
    client, raw = clients
    store = client.vector_stores.create(name="batch progress")
    long_id = upload(client, "long.txt", HELD_WORD_TEXT.encode())
    short_id = upload(client, "short.txt", SHORT_TEXT.encode())
    unsupported_id = upload(client, "archive.zip", b"PK\x03\x04zip")
    file_ids = [long_id, short_id, unsupported_id]
    batch = raw.post(
        f"/vector_stores/{store.id}/file_batches",
        json={"file_ids": file_ids, "chunking_strategy": SMALL_CHUNKS},
    ).json()
    assert batch["progress"] == {"chunks_done": 0, "chunks_total": 0, "files_chunked": 0}

    upstream.wait_for_held_embeddings()
    path = f"/vector_stores/{store.id}/files"

    def files() -> dict[str, Any]:
        return {f["id"]: f for f in raw.get(path, params={"limit": 10}).json()["data"]}

    midway = midway_progress(HELD_WORD_TEXT)
    seen = poll(
        files,
        lambda found: (
            found[long_id]["progress"] == midway
            and found[short_id]["status"] == "completed"
            and found[unsupported_id]["status"] == "failed"
        ),
    )
    short = seen[short_id]["progress"]
    assert short["chunks_done"] == short["chunks_total"] > 0

    batch_path = f"/vector_stores/{store.id}/file_batches/{batch['id']}"
    body = raw.get(batch_path).json()
    assert body["status"] == "in_progress"
    # The failed file counts for nothing; the others are summed.
    assert body["progress"] == {
        "chunks_done": midway["chunks_done"] + short["chunks_done"],
        "chunks_total": midway["chunks_total"] + short["chunks_total"],
        "files_chunked": 2,
    }
    sdk_batch = client.vector_stores.file_batches.retrieve(batch["id"], vector_store_id=store.id)
    assert sdk_batch.model_extra == {"progress": body["progress"]}

    hold.gate.set()
    wait_until_settled(client, store.id)
    final = raw.get(batch_path).json()
    assert final["status"] == "completed"
    total = midway["chunks_total"] + short["chunks_total"]
    assert final["progress"] == {"chunks_done": total, "chunks_total": total, "files_chunked": 2}
