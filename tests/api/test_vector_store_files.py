"""Vector-store files and file batches through the official SDK: the SDK helpers
(``upload_and_poll``, ``create_and_poll``, ``file_batches.upload_and_poll``), attributes and
attribute filters, failures that harm nothing else, removal, parsed content, batch cancel, and
counts that stay exact under concurrency.

Cancel and delete-during-ingestion cases run on a server of their own that ingests nothing
(``ingestion_concurrency=0``), so the files are reliably still queued when the test acts."""

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.conftest import sdk_client
from tests.databases import database
from tests.files_helpers import DOCS, counts, upload, wait_until_settled
from tests.servers import threaded_server
from threadline.settings import Settings

EMPTY = {"in_progress": 0, "completed": 0, "failed": 0, "cancelled": 0, "total": 0}


def wire(value: Any) -> dict[str, Any]:
    return value.to_dict()  # type: ignore[no-any-return]


@pytest.fixture
def store_id(client: OpenAI) -> str:
    return client.vector_stores.create(name="files").id


# --- store files ------------------------------------------------------------------------------


def test_upload_and_poll(client: OpenAI, store_id: str):
    done = client.vector_stores.files.upload_and_poll(
        vector_store_id=store_id, file=("capybara.md", DOCS["capybara.md"])
    )
    body = wire(done)
    assert done.status == "completed"
    assert done.id.startswith("file-")
    assert client.files.retrieve(done.id).filename == "capybara.md"  # its id is the file's id
    assert body["object"] == "vector_store.file"
    assert body["vector_store_id"] == store_id
    assert body["last_error"] is None
    assert body["usage_bytes"] == len(DOCS["capybara.md"])
    store = client.vector_stores.retrieve(store_id)
    assert counts(store) == {**EMPTY, "completed": 1, "total": 1}
    assert store.usage_bytes == len(DOCS["capybara.md"])


def test_create_and_poll_with_attributes(client: OpenAI, store_id: str):
    file_id = upload(client, "tea.json", DOCS["tea.json"])
    done = client.vector_stores.files.create_and_poll(
        file_id, vector_store_id=store_id, attributes={"topic": "tea", "year": 2024, "hot": True}
    )
    assert done.status == "completed"
    assert done.attributes == {"topic": "tea", "year": 2024, "hot": True}
    assert client.vector_stores.files.retrieve(file_id, vector_store_id=store_id) == done


def test_a_file_in_progress_is_polled_with_a_hint(http, client: OpenAI, store_id: str):
    file_id = upload(client, "a.txt", b"alpha")
    created = http.post(f"/vector_stores/{store_id}/files", json={"file_id": file_id}).json()
    assert created["status"] in ("in_progress", "completed")
    response = http.get(f"/vector_stores/{store_id}/files/{file_id}")
    if response.json()["status"] == "in_progress":
        assert int(response.headers["openai-poll-after-ms"]) > 0
    else:
        assert "openai-poll-after-ms" not in response.headers


def test_unparseable_files_fail_alone(client: OpenAI, store_id: str):
    good = upload(client, "volcano.txt", DOCS["volcano.txt"])
    unsupported = upload(client, "archive.zip", b"PK\x03\x04zip")
    invalid = upload(client, "broken.txt", b"\xff\xfe\xfa not utf-8")
    for file_id in (good, unsupported, invalid):
        client.vector_stores.files.create(vector_store_id=store_id, file_id=file_id)
    store = wait_until_settled(client, store_id)

    assert counts(store) == {**EMPTY, "completed": 1, "failed": 2, "total": 3}
    assert store.status == "completed"
    assert store.usage_bytes == len(DOCS["volcano.txt"])
    failed = {
        f.id: f for f in client.vector_stores.files.list(vector_store_id=store_id, filter="failed")
    }
    assert set(failed) == {unsupported, invalid}
    assert failed[unsupported].last_error.code == "unsupported_file"
    assert failed[invalid].last_error.code == "invalid_file"
    assert failed[invalid].last_error.message
    found = client.vector_stores.search(store_id, query="Etna stratovolcano")
    assert [item.file_id for item in found.data][:1] == [good]


def test_list_filters_by_status_and_paginates(client: OpenAI, http, store_id: str):
    ids = [upload(client, f"n{i}.txt", f"note {i}".encode()) for i in range(3)]
    for file_id in ids:
        client.vector_stores.files.create(vector_store_id=store_id, file_id=file_id)
    wait_until_settled(client, store_id)

    listed = client.vector_stores.files.list(vector_store_id=store_id, order="asc", limit=2)
    assert [f.id for f in listed] == ids  # auto-pagination
    assert listed.has_more is True
    completed = client.vector_stores.files.list(vector_store_id=store_id, filter="completed")
    assert {f.id for f in completed} == set(ids)
    assert list(client.vector_stores.files.list(vector_store_id=store_id, filter="failed")) == []
    response = http.get(f"/vector_stores/{store_id}/files", params={"filter": "done"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "filter"


def test_a_file_not_in_the_store_is_a_404(client: OpenAI, store_id: str):
    file_id = upload(client, "elsewhere.txt", b"x")
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.files.retrieve(file_id, vector_store_id=store_id)
    with pytest.raises(openai.NotFoundError) as caught:
        client.vector_stores.files.create(vector_store_id=store_id, file_id="file-missing000000")
    assert caught.value.body["param"] == "file_id"


def test_update_attributes_and_filter_on_them(client: OpenAI, store_id: str):
    docs = {name: upload(client, name, content) for name, content in DOCS.items()}
    attributes = {
        "capybara.md": {"kind": "animal", "year": 2020},
        "volcano.txt": {"kind": "place", "year": 2022},
        "tea.json": {"kind": "drink", "year": 2024},
    }
    for file_id in docs.values():
        client.vector_stores.files.create(vector_store_id=store_id, file_id=file_id)
    wait_until_settled(client, store_id)
    for name, file_id in docs.items():
        updated = client.vector_stores.files.update(
            file_id, vector_store_id=store_id, attributes=attributes[name]
        )
        assert updated.attributes == attributes[name]

    query = "capybara rodent Etna volcano oolong tea"

    def found(filters: dict[str, Any]) -> set[str]:
        page = client.vector_stores.search(store_id, query=query, filters=filters)  # type: ignore[arg-type]
        return {item.file_id for item in page.data}

    assert found({"type": "eq", "key": "kind", "value": "place"}) == {docs["volcano.txt"]}
    assert found({"type": "ne", "key": "kind", "value": "place"}) == {
        docs["capybara.md"],
        docs["tea.json"],
    }
    assert found({"type": "gte", "key": "year", "value": 2022}) == {
        docs["volcano.txt"],
        docs["tea.json"],
    }
    assert found({"type": "lt", "key": "year", "value": 2022}) == {docs["capybara.md"]}
    assert found({"type": "in", "key": "kind", "value": ["drink", "animal"]}) == {
        docs["capybara.md"],
        docs["tea.json"],
    }
    compound = {
        "type": "or",
        "filters": [
            {"type": "eq", "key": "kind", "value": "animal"},
            {
                "type": "and",
                "filters": [
                    {"type": "gt", "key": "year", "value": 2021},
                    {"type": "nin", "key": "kind", "value": ["place"]},
                ],
            },
        ],
    }
    assert found(compound) == {docs["capybara.md"], docs["tea.json"]}
    hit = client.vector_stores.search(
        store_id, query="oolong", filters={"type": "eq", "key": "kind", "value": "drink"}
    ).data[0]
    assert hit.attributes == {"kind": "drink", "year": 2024}

    cleared = client.vector_stores.files.update(
        docs["tea.json"], vector_store_id=store_id, attributes=None
    )
    assert cleared.attributes is None


@pytest.mark.parametrize(
    ("attributes", "param"),
    [
        ({f"k{i}": "v" for i in range(17)}, "attributes"),
        ({"k" * 65: "v"}, "attributes"),
        ({"k": "v" * 513}, "attributes.k"),
        ({"k": {"nested": 1}}, "attributes.k"),
        ({"k": [1]}, "attributes.k"),
    ],
    ids=["17-pairs", "key-65", "value-513", "object", "list"],
)
def test_invalid_attributes_are_400(http, client: OpenAI, store_id: str, attributes, param):
    file_id = upload(client, "a.txt", b"a")
    response = http.post(
        f"/vector_stores/{store_id}/files", json={"file_id": file_id, "attributes": attributes}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"].startswith(param)


def test_attributes_at_the_limit_are_accepted(http, client: OpenAI, store_id: str):
    file_id = upload(client, "a.txt", b"a")
    attributes = {f"k{i}": "v" * 512 for i in range(15)} | {"k" * 64: 1.5}
    response = http.post(
        f"/vector_stores/{store_id}/files", json={"file_id": file_id, "attributes": attributes}
    )
    assert response.status_code == 200, response.text
    assert response.json()["attributes"] == attributes


def test_removing_a_file_from_the_store_keeps_the_file(client: OpenAI, store_id: str):
    done = client.vector_stores.files.upload_and_poll(
        vector_store_id=store_id, file=("capybara.md", DOCS["capybara.md"])
    )

    deleted = client.vector_stores.files.delete(done.id, vector_store_id=store_id)

    assert wire(deleted) == {"id": done.id, "object": "vector_store.file.deleted", "deleted": True}
    assert client.files.retrieve(done.id).id == done.id
    store = client.vector_stores.retrieve(store_id)
    assert counts(store) == EMPTY and store.usage_bytes == 0
    assert client.vector_stores.search(store_id, query="capybara rodent").data == []
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.files.content(done.id, vector_store_id=store_id).data  # noqa: B018
    # It can be added again.
    again = client.vector_stores.files.create_and_poll(done.id, vector_store_id=store_id)
    assert again.status == "completed"


def test_content_is_the_parsed_text(client: OpenAI, http, store_id: str):
    done = client.vector_stores.files.upload_and_poll(
        vector_store_id=store_id, file=("volcano.txt", DOCS["volcano.txt"])
    )
    page = http.get(f"/vector_stores/{store_id}/files/{done.id}/content").json()
    assert page["object"] == "vector_store.file_content.page"
    assert page["has_more"] is False and page["next_page"] is None
    assert "".join(part["text"] for part in page["data"]) == DOCS["volcano.txt"].decode()
    assert {part["type"] for part in page["data"]} == {"text"}
    parts = list(client.vector_stores.files.content(done.id, vector_store_id=store_id))
    assert parts[0].type == "text"


def test_twenty_concurrent_adds_count_exactly(client: OpenAI, store_id: str):
    file_ids = [upload(client, f"c{i}.txt", f"concurrent note {i}".encode()) for i in range(20)]

    def add(file_id: str) -> str:
        return client.vector_stores.files.create(vector_store_id=store_id, file_id=file_id).id

    with ThreadPoolExecutor(20) as pool:
        assert sorted(pool.map(add, file_ids)) == sorted(file_ids)
    store = client.vector_stores.retrieve(store_id)
    assert store.file_counts.total == 20
    assert store.file_counts.in_progress + store.file_counts.completed == 20
    done = wait_until_settled(client, store_id)
    assert counts(done) == {**EMPTY, "completed": 20, "total": 20}


# --- batches ----------------------------------------------------------------------------------


def test_file_batches_upload_and_poll(client: OpenAI, store_id: str):
    already = upload(client, "tea.json", DOCS["tea.json"])
    batch = client.vector_stores.file_batches.upload_and_poll(
        store_id,
        files=[("capybara.md", DOCS["capybara.md"]), ("volcano.txt", DOCS["volcano.txt"])],
        file_ids=[already],
    )
    body = wire(batch)
    assert batch.id.startswith("vsfb_")
    assert body["object"] == "vector_store.files_batch"
    assert batch.status == "completed"
    assert counts(batch) == {**EMPTY, "completed": 3, "total": 3}
    listed = client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store_id)
    assert len(list(listed)) == 3
    assert client.vector_stores.file_batches.retrieve(batch.id, vector_store_id=store_id) == batch


def test_batch_with_per_file_attributes(client: OpenAI, store_id: str):
    a, b = upload(client, "a.txt", b"alpha"), upload(client, "b.txt", b"beta")
    batch = client.vector_stores.file_batches.create_and_poll(
        vector_store_id=store_id,
        files=[{"file_id": a, "attributes": {"n": 1}}, {"file_id": b}],
        attributes={"n": 0},
    )
    assert batch.file_counts.completed == 2
    assert client.vector_stores.files.retrieve(a, vector_store_id=store_id).attributes == {"n": 1}
    assert client.vector_stores.files.retrieve(b, vector_store_id=store_id).attributes == {"n": 0}


def test_batch_counts_include_failures(client: OpenAI, store_id: str):
    batch = client.vector_stores.file_batches.upload_and_poll(
        store_id, files=[("ok.txt", b"fine"), ("image.png", b"\x89PNG")]
    )
    assert batch.status == "completed"
    assert counts(batch) == {**EMPTY, "completed": 1, "failed": 1, "total": 2}
    failed = client.vector_stores.file_batches.list_files(
        batch.id, vector_store_id=store_id, filter="failed"
    )
    assert [f.last_error.code for f in failed] == ["unsupported_file"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, None),
        ({"file_ids": ["file-a"], "files": [{"file_id": "file-a"}]}, None),
        ({"file_ids": []}, "file_ids"),
        ({"file_ids": [f"file-{i}" for i in range(2001)]}, "file_ids"),
        ({"files": [{"attributes": {}}]}, "files[0].file_id"),
        ({"file_ids": ["file-missing0000000000"]}, "file_ids[0]"),
    ],
    ids=["neither", "both", "empty", "2001", "no-file-id", "unknown-file"],
)
def test_invalid_batches(http, store_id: str, body: dict[str, Any], param: str | None):
    response = http.post(f"/vector_stores/{store_id}/file_batches", json=body)
    assert response.status_code in (400, 404), response.text
    assert response.json()["error"]["param"] == param


# --- while files wait: a server that ingests nothing -----------------------------------------


@pytest.fixture(scope="module")
def paused(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[OpenAI, httpx.Client]]:
    master = "sk-master-paused-" + secrets.token_hex(8)
    with database(backend) as url:
        settings = Settings(
            data_dir=tmp_path_factory.mktemp("paused"),
            database_url=url,
            master_key=master,
            ingestion_concurrency=0,
        )
        with threaded_server(settings) as base:
            key = httpx.post(
                f"{base}/admin/keys",
                headers={"Authorization": f"Bearer {master}"},
                json={"project": "paused"},
            ).json()["key"]
            with (
                sdk_client(base, key) as sdk,
                httpx.Client(
                    base_url=f"{base}/v1", headers={"Authorization": f"Bearer {key}"}
                ) as raw,
            ):
                yield sdk, raw


def test_cancelling_a_batch_cancels_its_waiting_files(paused):
    client, _ = paused
    store = client.vector_stores.create()
    ids = [upload(client, f"w{i}.txt", b"waiting") for i in range(3)]
    created = client.vector_stores.file_batches.create(vector_store_id=store.id, file_ids=ids)
    assert created.status == "in_progress"
    assert counts(created) == {**EMPTY, "in_progress": 3, "total": 3}

    cancelled = client.vector_stores.file_batches.cancel(created.id, vector_store_id=store.id)

    assert cancelled.status == "cancelled"
    assert counts(cancelled) == {**EMPTY, "cancelled": 3, "total": 3}
    after = client.vector_stores.retrieve(store.id)
    assert after.status == "completed"
    assert counts(after) == {**EMPTY, "cancelled": 3, "total": 3}
    files = client.vector_stores.files.list(vector_store_id=store.id, filter="cancelled")
    assert {f.id for f in files} == set(ids)
    again = client.vector_stores.file_batches.cancel(created.id, vector_store_id=store.id)
    assert again.status == "cancelled"


def test_batch_in_progress_agrees_with_its_counts(paused):
    client, raw = paused
    store = client.vector_stores.create()
    file_id = upload(client, "w.txt", b"waiting")
    created = client.vector_stores.file_batches.create(vector_store_id=store.id, file_ids=[file_id])
    response = raw.get(f"/vector_stores/{store.id}/file_batches/{created.id}")
    body = response.json()
    assert body["status"] == "in_progress" and body["file_counts"]["in_progress"] == 1
    assert int(response.headers["openai-poll-after-ms"]) > 0
    assert client.vector_stores.retrieve(store.id).status == "in_progress"


def test_deleting_a_store_with_queued_files_leaves_nothing(paused):
    client, _ = paused
    store = client.vector_stores.create()
    ids = [upload(client, f"q{i}.txt", b"queued") for i in range(3)]
    client.vector_stores.file_batches.create(vector_store_id=store.id, file_ids=ids)

    client.vector_stores.delete(store.id)

    with pytest.raises(openai.NotFoundError):
        client.vector_stores.files.list(vector_store_id=store.id)
    for file_id in ids:  # the files themselves stay, and can go into another store
        assert client.files.retrieve(file_id).id == file_id
    other = client.vector_stores.create(file_ids=ids)
    assert other.file_counts.in_progress == 3


def test_deleting_a_queued_file_fixes_the_counts(paused):
    client, _ = paused
    store = client.vector_stores.create()
    kept, gone = upload(client, "k.txt", b"k"), upload(client, "g.txt", b"g")
    batch = client.vector_stores.file_batches.create(
        vector_store_id=store.id, file_ids=[kept, gone]
    )

    client.files.delete(gone)

    assert counts(client.vector_stores.retrieve(store.id)) == {
        **EMPTY,
        "in_progress": 1,
        "total": 1,
    }
    after = client.vector_stores.file_batches.retrieve(batch.id, vector_store_id=store.id)
    assert counts(after) == {**EMPTY, "in_progress": 1, "total": 1}
    client.vector_stores.files.delete(kept, vector_store_id=store.id)
    after = client.vector_stores.file_batches.retrieve(batch.id, vector_store_id=store.id)
    assert after.status == "completed" and counts(after) == EMPTY
