"""The ingestion queue survives a restart: files one server accepted, and that a server which then
died had claimed, are indexed by the next server on the same database and data directory.

The first server ingests nothing (``ingestion_concurrency=0``), so the files are reliably still
queued when it stops; the test then marks them claimed by a server that died. On SQLite (one
server per database) the next server releases such claims when it starts; on PostgreSQL, where
other replicas may be alive, it waits for the dead server's lease to run out."""

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from tests.databases import database
from tests.files_helpers import DOCS, sql, upload
from tests.servers import threaded_server
from threadline.settings import Settings

MASTER = "sk-master-ingestion-restart-" + secrets.token_hex(8)


@pytest.fixture
def fresh_database(backend: str) -> Iterator[str]:
    with database(backend) as url:
        yield url


def _settings(data_dir: Path, database_url: str, concurrency: int) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        master_key=MASTER,
        ingestion_concurrency=concurrency,
        ingestion_lease_seconds=2.0,
    )


def test_queued_and_claimed_files_are_indexed_by_the_next_server(
    fresh_database: str, tmp_path: Path
):
    with threaded_server(_settings(tmp_path, fresh_database, concurrency=0)) as url:
        key = httpx.post(
            f"{url}/admin/keys",
            headers={"Authorization": f"Bearer {MASTER}"},
            json={"project": "restart"},
        ).json()["key"]
        with OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0) as client:
            file_ids = [upload(client, name, content) for name, content in DOCS.items()]
            store = client.vector_stores.create(file_ids=file_ids)
            assert store.file_counts.in_progress == 3
    # A server that claimed them and died: a long claim on SQLite, a short one on PostgreSQL.
    lease = time.time() + (3600 if fresh_database.startswith("sqlite") else 1)
    sql(
        fresh_database,
        "UPDATE vector_store_files SET lease_owner = 'dead-server', lease_expires_at = :lease",
        lease=lease,
    )

    settings = _settings(tmp_path, fresh_database, concurrency=2)
    with threaded_server(settings) as url, OpenAI(base_url=f"{url}/v1", api_key=key) as client:
        deadline = time.monotonic() + 30
        while (found := client.vector_stores.retrieve(store.id)).status == "in_progress":
            assert time.monotonic() < deadline, found
            time.sleep(0.05)
        assert found.file_counts.completed == 3
        hits = client.vector_stores.search(store.id, query="largest rodent").data
        assert hits[0].filename == "capybara.md"
