"""The Vector stores page shows how far each file being ingested got: a labelled progress bar
and "63 of 297 chunks", updated while the page polls, gone once the file is completed.

The server of this module embeds with the scripted upstream, which holds the embeddings of the
file's later part: the page is looked at while the ingestion is stopped at a known chunk (and
passes axe-core's checks then, in light and dark mode)."""

import secrets
from collections.abc import Iterator

import httpx
import openai
import pytest
from playwright.sync_api import expect

from tests.console.conftest import Watched
from tests.console.test_accessibility import AXE, axe_violations
from tests.files_helpers import (
    HELD_WORD,
    SMALL_CHUNKS,
    embedding_server,
    long_text,
    midway_progress,
)
from tests.upstream import ScriptedUpstream

TEXT = long_text()

_master: dict[str, str] = {}


@pytest.fixture(scope="module")
def console_url(
    tmp_path_factory: pytest.TempPathFactory, upstream_server: ScriptedUpstream
) -> Iterator[str]:
    """This module's own server (the ``console`` and ``phone`` pages open it)."""
    data = tmp_path_factory.mktemp("console-progress")
    with embedding_server("sqlite", data, upstream_server) as (base, master):
        _master[base] = master
        yield base


@pytest.fixture
def project_key(console_url: str) -> str:
    response = httpx.post(
        f"{console_url}/admin/keys",
        headers={"Authorization": f"Bearer {_master[console_url]}"},
        json={"project": f"p-{secrets.token_hex(5)}"},
    )
    response.raise_for_status()
    return str(response.json()["key"])


def test_a_file_being_ingested_shows_its_progress(
    console: Watched,
    phone: Watched,
    dark: Watched,
    project_key: str,
    console_url: str,
    upstream: ScriptedUpstream,
) -> None:
    hold = upstream.hold_embeddings(HELD_WORD)
    try:
        client = openai.OpenAI(base_url=f"{console_url}/v1", api_key=project_key, max_retries=0)
        store = client.vector_stores.create(name="Long reads")
        uploaded = client.files.create(file=("long.txt", TEXT.encode()), purpose="assistants")
        client.vector_stores.files.create(
            vector_store_id=store.id,
            file_id=uploaded.id,
            chunking_strategy=SMALL_CHUNKS,  # type: ignore[arg-type]
        )
        upstream.wait_for_held_embeddings()
        midway = midway_progress(TEXT)
        label = f"{midway['chunks_done']:,} of {midway['chunks_total']:,} chunks"

        for watched, size in ((console, "desktop"), (phone, "phone"), (dark, "dark")):
            watched.sign_in(project_key, f"/console/vector-stores?store={store.id}")
            row = watched.page.get_by_role("row").filter(has_text="long.txt")
            bar = row.get_by_role("progressbar", name="Ingesting long.txt")
            expect(bar).to_have_attribute("value", str(midway["chunks_done"]))
            expect(bar).to_have_attribute("max", str(midway["chunks_total"]))
            expect(row).to_contain_text(label)
            expect(row.get_by_text("in progress", exact=True)).to_be_visible()
            watched.snap(f"vector-store-progress-{size}")
            assert axe_violations(watched, AXE.read_text(), size) == []

        hold.gate.set()
        row = console.page.get_by_role("row").filter(has_text="long.txt")
        expect(row.get_by_text("completed", exact=True)).to_be_visible(timeout=20_000)
        expect(row.get_by_role("progressbar")).to_have_count(0)
    finally:
        hold.gate.set()
