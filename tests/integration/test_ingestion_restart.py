"""The ingestion queue survives a crash: files a ``threadline serve`` process accepted but did not
index before it was killed (kill -9) are indexed by the next process, on each backend.

The first process ingests nothing (``THREADLINE_INGESTION_CONCURRENCY=0``), so the files are
reliably still queued when it dies."""

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from tests.databases import database
from tests.files_helpers import DOCS, upload
from tests.servers import ServeProcess

MASTER = "sk-master-ingestion-restart-0123456789"


@pytest.fixture
def fresh_database(backend: str) -> Iterator[str]:
    with database(backend) as url:
        yield url


def _serve(data_dir: Path, database_url: str, log: Path, concurrency: int) -> ServeProcess:
    env = {
        "THREADLINE_DATA_DIR": str(data_dir),
        "THREADLINE_DATABASE_URL": database_url,
        "THREADLINE_MASTER_KEY": MASTER,
        "THREADLINE_INGESTION_CONCURRENCY": str(concurrency),
        "THREADLINE_INGESTION_LEASE_SECONDS": "2",
    }
    return ServeProcess(env, log).start()


def test_queued_files_are_indexed_after_a_crash(fresh_database: str, tmp_path: Path):
    log = tmp_path / "serve.log"
    first = _serve(tmp_path / "data", fresh_database, log, concurrency=0)
    try:
        key = httpx.post(
            f"{first.base_url}/admin/keys",
            headers={"Authorization": f"Bearer {MASTER}"},
            json={"project": "restart"},
        ).json()["key"]
        with OpenAI(base_url=f"{first.base_url}/v1", api_key=key, max_retries=0) as client:
            file_ids = [upload(client, name, content) for name, content in DOCS.items()]
            store = client.vector_stores.create(file_ids=file_ids)
            assert store.file_counts.in_progress == 3
    finally:
        first.stop(9)

    second = _serve(tmp_path / "data", fresh_database, log, concurrency=2)
    try:
        with OpenAI(base_url=f"{second.base_url}/v1", api_key=key, max_retries=0) as client:
            deadline = time.monotonic() + 30
            while (found := client.vector_stores.retrieve(store.id)).status == "in_progress":
                assert time.monotonic() < deadline, found
                time.sleep(0.1)
            assert found.file_counts.completed == 3
            hits = client.vector_stores.search(store.id, query="largest rodent").data
            assert hits[0].filename == "capybara.md"
    finally:
        second.stop()
