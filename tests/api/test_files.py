"""The Files API through the official SDK: upload (every purpose, ``expires_after``), retrieve,
list (``purpose``, ``order``, ``limit``, ``after``), download (streamed bytes, content type,
safely quoted ``Content-Disposition``), delete, expiry, and the wire shape."""

import time
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.files_helpers import sql, upload


def wire(value: Any) -> dict[str, Any]:
    return value.to_dict()  # type: ignore[no-any-return]


@pytest.mark.parametrize("purpose", ["assistants", "batch", "fine-tune", "vision", "user_data"])
def test_upload_with_each_purpose(client: OpenAI, purpose: str):
    created = client.files.create(file=("data.jsonl", b'{"a": 1}\n'), purpose=purpose)  # type: ignore[arg-type]

    assert created.id.startswith("file-")
    assert created.object == "file"
    assert created.purpose == purpose
    assert created.bytes == 9
    assert created.filename == "data.jsonl"
    assert created.status == "processed"
    assert abs(created.created_at - time.time()) < 60
    assert "expires_at" not in wire(created)  # an integer in the spec, never null
    assert client.files.retrieve(created.id) == created


def test_evals_purpose_is_accepted(http):
    response = http.post("/files", files={"file": ("e.jsonl", b"{}")}, data={"purpose": "evals"})
    assert response.status_code == 200, response.text
    assert response.json()["purpose"] == "evals"


def test_wait_for_processing_returns_at_once(client: OpenAI):
    created = client.files.create(file=("a.txt", b"abc"), purpose="assistants")
    assert client.files.wait_for_processing(created.id, max_wait_seconds=5).status == "processed"


def test_expires_after_sets_expires_at(client: OpenAI):
    created = client.files.create(
        file=("a.txt", b"abc"),
        purpose="assistants",
        expires_after={"anchor": "created_at", "seconds": 3600},
    )
    assert created.expires_at == created.created_at + 3600
    assert client.files.retrieve(created.id).expires_at == created.expires_at


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"expires_after[anchor]": "created_at", "expires_after[seconds]": "3599"}, "seconds"),
        ({"expires_after[anchor]": "created_at", "expires_after[seconds]": "2592001"}, "seconds"),
        ({"expires_after[anchor]": "last_active_at", "expires_after[seconds]": "3600"}, "anchor"),
        ({"expires_after[anchor]": "created_at", "expires_after[seconds]": "soon"}, "seconds"),
        # Not ASCII digits (``str.isdigit`` accepts ``²``; ``int`` does not), or past 64 bits.
        ({"expires_after[anchor]": "created_at", "expires_after[seconds]": "²"}, "seconds"),
        ({"expires_after[anchor]": "created_at", "expires_after[seconds]": "3६00"}, "seconds"),
        ({"expires_after[anchor]": "created_at", "expires_after[seconds]": "9" * 20}, "seconds"),
        ({"expires_after[anchor]": "created_at"}, "seconds"),
    ],
)
def test_invalid_expires_after_is_400(http, fields: dict[str, str], param: str):
    response = http.post(
        "/files", files={"file": ("a.txt", b"x")}, data={"purpose": "assistants", **fields}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == f"expires_after.{param}"


def test_expires_after_bounds_are_accepted(http):
    for seconds in (3600, 2_592_000):
        data = {
            "purpose": "assistants",
            "expires_after[anchor]": "created_at",
            "expires_after[seconds]": str(seconds),
        }
        response = http.post("/files", files={"file": ("a.txt", b"x")}, data=data)
        assert response.status_code == 200, response.text


def test_expired_file_disappears(client: OpenAI, database_url: str):
    created = client.files.create(
        file=("old.txt", b"old"),
        purpose="assistants",
        expires_after={"anchor": "created_at", "seconds": 3600},
    )
    kept = upload(client, "kept.txt", b"kept")
    sql(database_url, "UPDATE files SET expires_at = :past WHERE id = :id", past=1, id=created.id)

    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        client.files.content(created.id)
    assert [f.id for f in client.files.list()] == [kept]


def test_download_returns_the_exact_bytes(client: OpenAI):
    content = bytes(range(256)) * 1000
    created = upload(client, "blob.bin", content)

    downloaded = client.files.content(created)

    assert downloaded.read() == content
    assert downloaded.response.headers["content-type"] == "application/octet-stream"
    assert downloaded.response.headers["content-length"] == str(len(content))
    assert downloaded.response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("notes.txt", "text/plain"),
        ("doc.pdf", "application/pdf"),
        ("data.json", "application/json"),
    ],
)
def test_download_has_a_content_type_from_the_name(client: OpenAI, name: str, media_type: str):
    response = client.files.content(upload(client, name, b"x")).response
    assert response.headers["content-type"].split(";")[0] == media_type
    assert response.headers["content-disposition"].startswith("attachment;")


def test_list_filters_by_purpose_and_orders(client: OpenAI):
    assistants = [upload(client, f"a{i}.txt", b"a") for i in range(3)]
    batch = upload(client, "b.jsonl", b"{}", purpose="batch")

    assert [f.id for f in client.files.list()] == [batch, *reversed(assistants)]
    assert [f.id for f in client.files.list(purpose="assistants", order="asc")] == assistants
    assert [f.id for f in client.files.list(purpose="batch")] == [batch]
    assert list(client.files.list(purpose="vision")) == []


def test_list_pages_with_limit_and_after(client: OpenAI, http):
    created = [upload(client, f"p{i}.txt", b"p") for i in range(5)]

    first = http.get("/files", params={"limit": 2, "order": "asc"}).json()
    assert [f["id"] for f in first["data"]] == created[:2]
    assert first["has_more"] is True
    assert first["object"] == "list"
    assert first["first_id"] == created[0] and first["last_id"] == created[1]
    rest = http.get("/files", params={"after": created[1], "order": "asc"}).json()
    assert [f["id"] for f in rest["data"]] == created[2:]
    assert rest["has_more"] is False
    # The SDK's auto-pagination walks every page.
    assert [f.id for f in client.files.list(limit=2, order="asc")] == created


@pytest.mark.parametrize("limit", ["0", "10001", "-1", "many"])
def test_list_limit_out_of_range_is_400(http, limit: str):
    response = http.get("/files", params={"limit": limit})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "limit"


def test_list_limit_up_to_10000_is_accepted(http):
    assert http.get("/files", params={"limit": 10000}).status_code == 200


def test_delete_removes_the_file_and_its_bytes(client: OpenAI):
    created = upload(client, "gone.txt", b"gone")

    deleted = client.files.delete(created)

    assert wire(deleted) == {"id": created, "object": "file", "deleted": True}
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(created)
    with pytest.raises(openai.NotFoundError):
        client.files.content(created)
    with pytest.raises(openai.NotFoundError):
        client.files.delete(created)


def test_missing_file_is_a_404_in_openai_shape(http):
    response = http.get("/files/file-doesnotexist000000000000")
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "message": "No file found with id 'file-doesnotexist000000000000'.",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


def test_files_are_invisible_to_other_projects(client: OpenAI, other_client: OpenAI):
    mine = upload(client, "mine.txt", b"secret")
    for call in (
        lambda: other_client.files.retrieve(mine),
        lambda: other_client.files.content(mine),
        lambda: other_client.files.delete(mine),
    ):
        with pytest.raises(openai.NotFoundError):
            call()
    assert mine not in [f.id for f in other_client.files.list()]
    assert client.files.content(mine).read() == b"secret"
