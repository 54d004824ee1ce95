"""Small parts of files and vector stores: the local blob store, the download header, the
simple retrieval stand-in (chunks, filters, rejections), and the counter arithmetic."""

import asyncio
from pathlib import Path

import pytest

from threadline.api.files import content_disposition
from threadline.engine.retrieval.base import ChunkingStrategy, FileRejected
from threadline.engine.retrieval.simple import SimpleRetrieval, _chunks, matches
from threadline.providers.blobs.local import LocalBlobStore
from threadline.storage.store_files import _deltas


async def _collect(store: LocalBlobStore, blob_id: str) -> bytes:
    return b"".join([chunk async for chunk in store.read(blob_id)])


def test_a_blob_is_invisible_until_committed_and_gone_when_aborted(tmp_path: Path):
    async def scenario() -> None:
        store = LocalBlobStore(tmp_path)
        writer = store.writer("file-abc123")
        await writer.write(b"x" * (3 * 1024 * 1024))  # crosses the flush size
        assert not store.path("file-abc123").exists()
        await writer.commit()
        assert await _collect(store, "file-abc123") == b"x" * (3 * 1024 * 1024)

        aborted = store.writer("file-def456")
        await aborted.write(b"y" * (2 * 1024 * 1024))
        await aborted.abort()
        assert not store.path("file-def456").exists()
        assert list((tmp_path / ".incoming").iterdir()) == []

        await store.delete("file-abc123")
        await store.delete("file-abc123")  # not there: fine
        with pytest.raises(FileNotFoundError):
            await _collect(store, "file-abc123")

    asyncio.run(scenario())


@pytest.mark.parametrize("blob_id", ["../x", "a/b", "", "x" * 65, "file-.\x00"])
def test_only_plain_ids_name_blobs(tmp_path: Path, blob_id: str):
    with pytest.raises(ValueError):
        LocalBlobStore(tmp_path).path(blob_id)


def test_half_written_uploads_are_discarded(tmp_path: Path):
    async def scenario() -> None:
        store = LocalBlobStore(tmp_path)
        writer = store.writer("file-abc")
        await writer.write(b"z" * (2 * 1024 * 1024))  # flushed to its partial file
        assert await store.discard_partial(older_than_seconds=3600) == 0
        assert await store.discard_partial(older_than_seconds=-1) == 1

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("name", "fallback", "encoded"),
    [
        ("report.pdf", "report.pdf", "report.pdf"),
        ('a"b\\c.txt', "a_b_c.txt", "a%22b%5Cc.txt"),
        ("ünï.txt", "_n_.txt", "%C3%BCn%C3%AF.txt"),
        ("a; filename=x.sh", "a; filename=x.sh", "a%3B%20filename%3Dx.sh"),
    ],
)
def test_content_disposition_quotes_every_name(name: str, fallback: str, encoded: str):
    assert content_disposition(name) == (
        f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
    )


def test_chunks_cover_the_text_with_the_overlap():
    text = "".join(chr(ord("a") + i % 26) for i in range(10_000))
    chunks = _chunks(text, ChunkingStrategy(max_chunk_size_tokens=100, chunk_overlap_tokens=50))
    assert all(len(chunk) <= 400 for chunk in chunks)
    assert chunks[0] == text[:400] and chunks[1] == text[200:600]
    assert text.endswith(chunks[-1])
    assert _chunks("short", ChunkingStrategy()) == ["short"]


ATTRIBUTES = {"kind": "drink", "year": 2024, "hot": True}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"type": "eq", "key": "kind", "value": "drink"}, True),
        ({"type": "ne", "key": "kind", "value": "drink"}, False),
        ({"type": "gt", "key": "year", "value": 2023}, True),
        ({"type": "lte", "key": "year", "value": 2023}, False),
        ({"type": "in", "key": "kind", "value": ["food", "drink"]}, True),
        ({"type": "nin", "key": "kind", "value": ["drink"]}, False),
        ({"type": "eq", "key": "hot", "value": True}, True),
        ({"type": "eq", "key": "missing", "value": 1}, False),
        ({"type": "ne", "key": "missing", "value": 1}, True),
        ({"type": "gt", "key": "kind", "value": 3}, False),  # a string against a number
        (
            {
                "type": "and",
                "filters": [
                    {"type": "eq", "key": "kind", "value": "drink"},
                    {"type": "or", "filters": [{"type": "lt", "key": "year", "value": 2000}]},
                ],
            },
            False,
        ),
    ],
)
def test_attribute_filters(condition: dict, expected: bool):
    assert matches(condition, ATTRIBUTES) is expected


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("a.pdf", b"%PDF", "unsupported_file"),
        ("a.txt", b"\xff\xfe", "invalid_file"),
        ("a.txt", b"  \n", "invalid_file"),
    ],
)
def test_the_stand_in_rejects_what_it_cannot_read(tmp_path: Path, name, content, code):
    path = tmp_path / "blob"
    path.write_bytes(content)
    retrieval = SimpleRetrieval(tmp_path / "index")
    with pytest.raises(FileRejected) as caught:
        asyncio.run(
            retrieval.index_file(
                project_id="p",
                store_id="vs_1",
                file_id="file-1",
                path=path,
                filename=name,
                chunking=ChunkingStrategy(),
            )
        )
    assert caught.value.code == code


def _row(status: str, batch: str | None = None, usage: int = 0) -> dict:
    return {"status": status, "batch_id": batch, "usage_bytes": usage}


def test_counter_deltas_follow_the_rows():
    assert _deltas(None, _row("in_progress", "b1"), None) == {
        "files_in_progress": 1,
        "files_total": 1,
    }
    done = _deltas(_row("in_progress", "b1"), _row("completed", "b1", 10), None)
    assert done == {"files_in_progress": -1, "files_completed": 1, "usage_bytes": 10}
    assert _deltas(_row("completed", "b1", 10), None, "b1") == {
        "files_completed": -1,
        "files_total": -1,
    }
    moved = _deltas(_row("failed", "b1"), _row("in_progress", "b2"), "b1")
    assert moved == {"files_failed": -1, "files_total": -1}
