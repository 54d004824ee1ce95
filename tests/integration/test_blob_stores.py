"""Both blob stores keep the same contract (a blob is all there or not at all, aborted and
crashed uploads leave nothing, reads stream), and with ``blob_store=database`` two replicas on
one PostgreSQL share files with no shared directory: uploaded on one, read, indexed, searched and
deleted through the other."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import openai
import pytest

from tests.conftest import MASTER_KEY, new_project_key, sdk_client
from tests.databases import database
from tests.files_helpers import upload, wait_until_settled
from tests.servers import threaded_server
from tests.upstream import ScriptedUpstream
from threadline.providers.blobs.local import LocalBlobStore
from threadline.settings import Settings
from threadline.storage.blob_parts import PART_BYTES, DatabaseBlobStore
from threadline.storage.database import Database
from threadline.storage.migrate import upgrade_to_head

KINDS = ["local", "database-sqlite", "database-postgres"]


@contextmanager
def database_url(kind: str) -> Iterator[str | None]:
    if kind == "local":
        yield None
        return
    with database(kind.removeprefix("database-")) as url:
        upgrade_to_head(url)
        yield url


@asynccontextmanager
async def blob_store(url: str | None, tmp_path: Path) -> AsyncIterator[Any]:
    if url is None:
        yield LocalBlobStore(tmp_path / "files")
        return
    db = Database(url)
    try:
        yield DatabaseBlobStore(db, tmp_path / "scratch")
    finally:
        await db.dispose()


async def _read(store: Any, blob_id: str) -> bytes:
    return b"".join([chunk async for chunk in store.read(blob_id)])


async def _missing(store: Any, blob_id: str) -> bool:
    try:
        await _read(store, blob_id)
    except FileNotFoundError:
        return True
    return False


@pytest.mark.parametrize("kind", KINDS)
def test_blob_store_contract(kind: str, tmp_path: Path) -> None:
    # Not a multiple of the part size, so the last part is short.
    payload = bytes(range(256)) * ((2 * PART_BYTES + 12_345) // 256)

    async def scenario(url: str | None) -> None:
        async with blob_store(url, tmp_path) as store:
            writer = store.writer("file-abc123")
            for offset in range(0, len(payload), 64 * 1024):  # as an upload arrives
                await writer.write(memoryview(payload)[offset : offset + 64 * 1024])
            assert writer.size == len(payload)
            assert await _missing(store, "file-abc123"), "visible before its commit"
            await writer.commit()
            assert await _read(store, "file-abc123") == payload
            async with store.local_path("file-abc123") as path:
                assert path.read_bytes() == payload

            empty = store.writer("file-empty1")
            await empty.commit()
            assert await _read(store, "file-empty1") == b""

            aborted = store.writer("file-def456")
            await aborted.write(b"y" * (PART_BYTES + 1))
            await aborted.abort()
            assert await _missing(store, "file-def456")

            # A crash mid-upload: the sweeper removes what is left once it is old enough.
            crashed = store.writer("file-ghi789")
            await crashed.write(b"z" * (PART_BYTES + 1))
            assert await store.discard_partial(older_than_seconds=3600) == 0
            await asyncio.sleep(1.1)
            if kind == "local":  # its clock is the file's mtime
                assert await store.discard_partial(older_than_seconds=1) == 1
            else:
                assert await store.discard_partial(older_than_seconds=0) == 1
            assert await _missing(store, "file-ghi789")

            await store.delete("file-abc123")
            await store.delete("file-abc123")  # not there: fine
            assert await _missing(store, "file-abc123")
            with pytest.raises(FileNotFoundError):
                async with store.local_path("file-abc123"):
                    pass

    with database_url(kind) as url:
        asyncio.run(scenario(url))


@pytest.fixture(scope="module")
def replicas(
    upstream_server: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, str]]:
    with database("postgres") as url, ExitStack() as stack:
        urls = []
        for name in ("a", "b"):
            settings = Settings(
                data_dir=tmp_path_factory.mktemp(f"blobs-replica-{name}"),  # nothing shared
                database_url=url,
                master_key=MASTER_KEY,
                upstream_base_url=upstream_server.base_url,
                upstream_api_key=upstream_server.api_key,
                blob_store="database",
                # Only b ingests, so indexing reads bytes that a uploaded.
                ingestion_concurrency=1 if name == "b" else 0,
            )
            urls.append(stack.enter_context(threaded_server(settings)))
        yield urls[0], urls[1], url


def test_replicas_share_files_through_the_database(replicas: tuple[str, str, str]) -> None:
    a, b, database_url = replicas
    with httpx.Client(base_url=a, headers={"Authorization": f"Bearer {MASTER_KEY}"}) as admin:
        key = new_project_key(admin)
    data = bytes(range(256)) * 10_000  # 2.5 MB: several parts
    with sdk_client(a, key) as on_a, sdk_client(b, key) as on_b:
        file_id = upload(on_a, "data.bin", data)
        assert on_b.files.content(file_id).content == data

        # Indexed by b (the only one ingesting) from the bytes a received.
        text_id = upload(on_a, "capybara.txt", b"Capybaras are the largest living rodents.")
        store = on_a.vector_stores.create(name="shared", file_ids=[text_id])
        settled = wait_until_settled(on_a, store.id, timeout=60)
        assert settled.file_counts.completed == 1
        found = on_b.vector_stores.search(store.id, query="largest rodent")
        assert found.data and found.data[0].file_id == text_id

        on_b.files.delete(file_id)
        with pytest.raises(openai.NotFoundError):
            on_a.files.content(file_id)
    assert asyncio.run(_parts_of(database_url, file_id)) == 0, "its bytes outlived it"


async def _parts_of(url: str, blob_id: str) -> int:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql", 1))
    try:
        return int(
            await connection.fetchval("SELECT count(*) FROM blob_parts WHERE blob_id = $1", blob_id)
        )
    finally:
        await connection.close()
