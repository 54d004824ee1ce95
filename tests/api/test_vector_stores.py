"""Vector stores through the official SDK: the stores themselves (create with files, chunking,
expiry and metadata; list, retrieve, modify, delete), ``status``/``file_counts``/``usage_bytes``
as files come and go, search, and the wire shape. Store files and batches have their own
module (``test_vector_store_files.py``).

The retrieval implementation behind the seam may change: searches assert which file a distinctive
query finds, never scores."""

from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.files_helpers import DOCS, counts, sql, upload, wait_until_settled

EMPTY = {"in_progress": 0, "completed": 0, "failed": 0, "cancelled": 0, "total": 0}


def wire(value: Any) -> dict[str, Any]:
    return value.to_dict()  # type: ignore[no-any-return]


@pytest.fixture
def docs(client: OpenAI) -> dict[str, str]:
    """name -> file id of three small documents on distinct topics."""
    return {name: upload(client, name, content) for name, content in DOCS.items()}


@pytest.fixture
def store(client: OpenAI, docs: dict[str, str]) -> Any:
    created = client.vector_stores.create(name="docs", file_ids=list(docs.values()))
    return wait_until_settled(client, created.id)


# --- stores -----------------------------------------------------------------------------------


def test_create_empty_store(client: OpenAI):
    created = client.vector_stores.create(name="empty", metadata={"team": "a"})
    body = wire(created)

    assert created.id.startswith("vs_")
    assert body["object"] == "vector_store"
    assert body["status"] == "completed"
    assert body["file_counts"] == EMPTY
    assert body["usage_bytes"] == 0
    assert body["metadata"] == {"team": "a"}
    assert body["last_active_at"] == body["created_at"]
    assert body["expires_at"] is None
    assert "expires_after" not in body
    assert client.vector_stores.retrieve(created.id) == created


def test_create_with_files_indexes_them_in_the_background(client: OpenAI, docs):
    created = client.vector_stores.create(file_ids=list(docs.values()))
    assert created.file_counts.total == 3
    assert created.file_counts.in_progress + created.file_counts.completed == 3

    done = wait_until_settled(client, created.id)

    assert done.status == "completed"
    assert counts(done) == {**EMPTY, "completed": 3, "total": 3}
    assert done.usage_bytes == sum(len(content) for content in DOCS.values())
    assert wire(done)["name"] == ""


def test_create_with_static_chunking(client: OpenAI, docs):
    chunking = {
        "type": "static",
        "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 50},
    }
    created = client.vector_stores.create(file_ids=[docs["tea.json"]], chunking_strategy=chunking)
    wait_until_settled(client, created.id)
    stored = client.vector_stores.files.retrieve(docs["tea.json"], vector_store_id=created.id)
    assert wire(stored)["chunking_strategy"] == chunking


def test_auto_chunking_is_reported_as_its_static_sizes(client: OpenAI, store, docs):
    stored = client.vector_stores.files.retrieve(docs["tea.json"], vector_store_id=store.id)
    assert wire(stored)["chunking_strategy"] == {
        "type": "static",
        "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400},
    }


def test_create_with_expiry(client: OpenAI):
    created = client.vector_stores.create(expires_after={"anchor": "last_active_at", "days": 7})
    body = wire(created)
    assert body["expires_after"] == {"anchor": "last_active_at", "days": 7}
    assert body["expires_at"] == body["last_active_at"] + 7 * 86400


def test_create_with_an_unknown_file_is_404_and_creates_nothing(client: OpenAI, docs):
    before = [s.id for s in client.vector_stores.list()]
    with pytest.raises(openai.NotFoundError) as caught:
        client.vector_stores.create(file_ids=[docs["tea.json"], "file-nope00000000000000000"])
    assert caught.value.body["param"] == "file_ids[1]"
    assert [s.id for s in client.vector_stores.list()] == before


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"file_ids": [f"file-{i}" for i in range(501)]}, "file_ids"),
        ({"expires_after": {"anchor": "last_active_at", "days": 0}}, "expires_after.days"),
        ({"expires_after": {"anchor": "last_active_at", "days": 366}}, "expires_after.days"),
        ({"expires_after": {"anchor": "created_at", "days": 1}}, "expires_after.anchor"),
        ({"chunking_strategy": {"type": "static"}}, "chunking_strategy"),
        (
            {
                "chunking_strategy": {
                    "type": "static",
                    "static": {"max_chunk_size_tokens": 99, "chunk_overlap_tokens": 0},
                }
            },
            "chunking_strategy.static.max_chunk_size_tokens",
        ),
        (
            {
                "chunking_strategy": {
                    "type": "static",
                    "static": {"max_chunk_size_tokens": 4097, "chunk_overlap_tokens": 0},
                }
            },
            "chunking_strategy.static.max_chunk_size_tokens",
        ),
        (
            {
                "chunking_strategy": {
                    "type": "static",
                    "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 401},
                }
            },
            "chunking_strategy",
        ),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
        ({"name": "n" * 257}, "name"),
        ({"unknown": 1}, "unknown"),
    ],
    ids=[
        "file-ids-501",
        "days-0",
        "days-366",
        "anchor",
        "static-missing",
        "chunk-99",
        "chunk-4097",
        "overlap-over-half",
        "metadata-17",
        "name-257",
        "unknown-field",
    ],
)
def test_invalid_create_is_400_naming_the_param(http, body: dict[str, Any], param: str):
    response = http.post("/vector_stores", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_limits_at_the_boundary_are_accepted(http, client: OpenAI):
    file_id = upload(client, "one.txt", b"one")
    response = http.post(
        "/vector_stores",
        json={
            "file_ids": [file_id] * 500,
            "expires_after": {"anchor": "last_active_at", "days": 365},
            "chunking_strategy": {
                "type": "static",
                "static": {"max_chunk_size_tokens": 4096, "chunk_overlap_tokens": 2048},
            },
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["file_counts"]["total"] == 1  # one file, named 500 times


def test_list_paginates(client: OpenAI):
    created = [client.vector_stores.create(name=f"s{i}").id for i in range(4)]
    assert [s.id for s in client.vector_stores.list()] == list(reversed(created))
    assert [s.id for s in client.vector_stores.list(order="asc", limit=2)] == created
    page = client.vector_stores.list(order="asc", limit=2, after=created[1])
    assert [s.id for s in page.data] == created[2:]
    assert page.has_more is False


def test_modify_changes_only_what_is_sent(client: OpenAI):
    created = client.vector_stores.create(name="before", metadata={"a": "1"})

    renamed = client.vector_stores.update(created.id, name="after")
    assert renamed.name == "after" and renamed.metadata == {"a": "1"}

    expiring = client.vector_stores.update(
        created.id, expires_after={"anchor": "last_active_at", "days": 2}
    )
    assert expiring.expires_at == expiring.last_active_at + 2 * 86400
    assert expiring.name == "after"

    cleared = client.vector_stores.update(created.id, expires_after=None, metadata={})
    assert cleared.expires_at is None and cleared.expires_after is None
    assert cleared.metadata == {}


def test_delete_store(client: OpenAI, store, docs):
    deleted = client.vector_stores.delete(store.id)
    assert wire(deleted) == {"id": store.id, "object": "vector_store.deleted", "deleted": True}
    for call in (
        lambda: client.vector_stores.retrieve(store.id),
        lambda: client.vector_stores.delete(store.id),
        lambda: client.vector_stores.search(store.id, query="rodent"),
        lambda: client.vector_stores.files.list(vector_store_id=store.id),
    ):
        with pytest.raises(openai.NotFoundError):
            call()
    # The files themselves stay.
    assert client.files.retrieve(docs["tea.json"]).id == docs["tea.json"]


def test_expired_store_reports_expired_and_refuses_use(client: OpenAI, database_url: str, docs):
    created = client.vector_stores.create(expires_after={"anchor": "last_active_at", "days": 1})
    sql(database_url, "UPDATE vector_stores SET expires_at = 1 WHERE id = :id", id=created.id)

    assert client.vector_stores.retrieve(created.id).status == "expired"
    with pytest.raises(openai.BadRequestError):
        client.vector_stores.search(created.id, query="anything")
    with pytest.raises(openai.BadRequestError):
        client.vector_stores.files.create(vector_store_id=created.id, file_id=docs["tea.json"])
    # Changing its expiry does not bring it back.
    renewed = client.vector_stores.update(
        created.id, expires_after={"anchor": "last_active_at", "days": 30}
    )
    assert renewed.status == "expired"


# --- search -----------------------------------------------------------------------------------


def test_search_finds_the_file_about_the_query(client: OpenAI, store, docs):
    results = client.vector_stores.search(store.id, query="largest rodent")
    assert results.data, "nothing found"
    top = results.data[0]
    assert top.file_id == docs["capybara.md"]
    assert top.filename == "capybara.md"
    assert 0 <= top.score <= 1
    assert top.content[0].type == "text" and "capybara" in top.content[0].text
    assert wire(top)["attributes"] is None


def test_search_page_shape(http, store):
    body = http.post(f"/vector_stores/{store.id}/search", json={"query": "volcano"}).json()
    assert body["object"] == "vector_store.search_results.page"
    assert body["search_query"] == ["volcano"]
    assert body["has_more"] is False and body["next_page"] is None


def test_search_with_several_queries_and_rewrite_query(http, store, docs):
    body = http.post(
        f"/vector_stores/{store.id}/search",
        json={
            "query": ["Can you tell me about the Sicily volcano?", "oolong tea"],
            "rewrite_query": True,
        },
    ).json()
    # The rewritten queries are what was searched, and what the page reports.
    assert body["search_query"] == ["the Sicily volcano", "oolong tea"]
    found = {item["file_id"] for item in body["data"]}
    assert {docs["volcano.txt"], docs["tea.json"]} <= found


def test_search_without_rewrite_query_searches_the_query_as_given(http, store):
    query = "Can you tell me about the Sicily volcano?"
    body = http.post(f"/vector_stores/{store.id}/search", json={"query": query}).json()
    assert body["search_query"] == [query]


def test_search_max_num_results_and_score_threshold(client: OpenAI, store):
    assert len(client.vector_stores.search(store.id, query="the", max_num_results=1).data) <= 1
    strict = client.vector_stores.search(
        store.id, query="capybara etna oolong", ranking_options={"score_threshold": 1.0}
    )
    assert all(item.score >= 1.0 for item in strict.data)
    for ranker in ("none", "auto", "default-2024-11-15"):
        client.vector_stores.search(store.id, query="x", ranking_options={"ranker": ranker})


def test_search_updates_last_active_at(client: OpenAI, store, database_url: str):
    sql(database_url, "UPDATE vector_stores SET last_active_at = 5 WHERE id = :id", id=store.id)
    client.vector_stores.search(store.id, query="rodent")
    assert client.vector_stores.retrieve(store.id).last_active_at > 5


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "query"),
        ({"query": []}, "query"),
        ({"query": "x", "max_num_results": 0}, "max_num_results"),
        ({"query": "x", "max_num_results": 51}, "max_num_results"),
        (
            {"query": "x", "ranking_options": {"score_threshold": 1.5}},
            "ranking_options.score_threshold",
        ),
        ({"query": "x", "ranking_options": {"ranker": "best"}}, "ranking_options.ranker"),
        ({"query": "x", "filters": {"type": "eq", "key": "k"}}, "filters.value"),
        ({"query": "x", "filters": {"type": "in", "key": "k", "value": "a"}}, "filters"),
        ({"query": "x", "filters": {"type": "xor", "filters": []}}, "filters"),
    ],
)
def test_invalid_search_is_400(http, store, body: dict[str, Any], param: str):
    response = http.post(f"/vector_stores/{store.id}/search", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"].startswith(param)


def test_deleting_a_file_takes_it_out_of_search_and_counts(client: OpenAI, store, docs):
    client.files.delete(docs["capybara.md"])

    found = client.vector_stores.search(store.id, query="largest rodent capybara")
    assert docs["capybara.md"] not in {item.file_id for item in found.data}
    after = client.vector_stores.retrieve(store.id)
    assert counts(after) == {**EMPTY, "completed": 2, "total": 2}
    assert after.usage_bytes == len(DOCS["volcano.txt"]) + len(DOCS["tea.json"])
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.files.retrieve(docs["capybara.md"], vector_store_id=store.id)
