"""``threadline ingest`` end to end: the real command (a child process, its output a pipe, so
plain progress lines) against a threaded server whose embeddings come from the scripted
upstream. Files and a directory go into a new store, then more into the same store by name;
unsupported, hidden and unreadable files are reported, and the exit code tells."""

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI

from tests.conftest import sdk_client
from tests.files_helpers import DOCS, embedding_server, project_key
from tests.servers import free_port
from tests.upstream import ScriptedUpstream

PROGRESS_LINE = re.compile(r"^[\d,]+/[\d,]+ chunks( \(\d+%\))? · \d+/\d+ files")


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, upstream_server: ScriptedUpstream
) -> Iterator[tuple[str, str]]:
    with embedding_server("sqlite", tmp_path_factory.mktemp("cli"), upstream_server) as found:
        yield found


def ingest(base: str, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "threadline.cli", "ingest", *args, "--base-url", f"{base}/v1"],
        env={**os.environ, "THREADLINE_API_KEY": key, "OPENAI_API_KEY": ""},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_ingest_files_and_a_directory_then_more_into_the_same_store(
    server: tuple[str, str], tmp_path: Path
) -> None:
    base, master = server
    key = project_key(base, master)
    (tmp_path / "capybara.md").write_bytes(DOCS["capybara.md"])
    (tmp_path / "volcano.txt").write_bytes(DOCS["volcano.txt"])
    docs = tmp_path / "docs"
    (docs / "drinks").mkdir(parents=True)
    (docs / "drinks" / "tea.json").write_bytes(DOCS["tea.json"])
    (docs / "guide.md").write_text("# Guide\nThe quokka mascot greets every new hire.\n")
    (docs / "archive.zip").write_bytes(b"PK\x03\x04zip")
    (docs / ".notes.md").write_text("hidden, never uploaded")

    first = ingest(
        base, key, str(tmp_path / "capybara.md"), str(tmp_path / "volcano.txt"), str(docs),
        "--store", "Handbook", "--interval", "0.1",
    )  # fmt: skip

    assert first.returncode == 0, first.stderr
    assert "skipping docs/archive.zip: unsupported file type .zip" in first.stderr
    assert ".notes.md" not in first.stdout + first.stderr
    lines = first.stdout.splitlines()
    assert "\r" not in first.stdout and "\x1b" not in first.stdout  # plain lines, no redraws
    assert re.fullmatch(r"Created vector store 'Handbook' \(vs_\w+\)", lines[0])
    assert [line for line in lines if line.startswith("Uploaded ")][-1].startswith("Uploaded 4/4")
    progress = [line for line in lines if PROGRESS_LINE.match(line)]
    assert progress, first.stdout
    assert re.match(r"^([\d,]+)/\1 chunks \(100%\) · 4/4 files", progress[-1])
    assert re.fullmatch(
        r"Indexed 4 of 4 files \([\d,]+ chunks\) into vector store 'Handbook' \(vs_\w+\) in \S+",
        lines[-1],
    )

    with sdk_client(base, key) as client:
        (store,) = client.vector_stores.list().data
        assert store.name == "Handbook"
        assert store.file_counts.completed == 4
        names = _filenames(client, store.id)
        assert names == {"capybara.md", "volcano.txt", "docs/guide.md", "docs/drinks/tea.json"}
        hit = client.vector_stores.search(store.id, query="quokka mascot").data[0]
        assert hit.filename == "docs/guide.md"

    (tmp_path / "more.md").write_text("More notes on Etna's eruptions.")
    (tmp_path / "broken.txt").write_bytes(b"\xff\xfe\xfa not utf-8")
    second = ingest(
        base, key, str(tmp_path / "more.md"), str(tmp_path / "broken.txt"), "--store", "Handbook"
    )

    assert second.returncode == 1  # a file failed
    assert second.stdout.splitlines()[0] == f"Using vector store 'Handbook' ({store.id})"
    assert re.search(r"^Indexed 1 of 2 files", second.stdout, re.MULTILINE)
    assert re.search(r"^  failed: broken\.txt: \S", second.stdout, re.MULTILINE)
    with sdk_client(base, key) as client:
        assert [s.id for s in client.vector_stores.list()] == [store.id]
        assert client.vector_stores.retrieve(store.id).file_counts.completed == 5
        assert "more.md" in _filenames(client, store.id)


def test_ingest_says_what_is_wrong(server: tuple[str, str], tmp_path: Path) -> None:
    base, _ = server
    (tmp_path / "a.md").write_text("a")
    unauthorized = ingest(base, "sk-wrong", str(tmp_path / "a.md"), "--store", "S")
    assert unauthorized.returncode == 1
    assert "the server answered 401" in unauthorized.stderr
    nothing = ingest(base, "sk-any", str(tmp_path / "missing"), "--store", "S")
    assert nothing.returncode == 1
    assert "skipping" in nothing.stderr and "nothing to ingest" in nothing.stderr
    nobody = f"http://127.0.0.1:{free_port()}"
    unreachable = ingest(nobody, "sk-any", str(tmp_path / "a.md"), "--store", "S")
    assert unreachable.returncode == 1
    assert f"cannot reach the server at {nobody}/v1" in unreachable.stderr


def _filenames(client: OpenAI, store_id: str) -> set[str]:
    return {
        client.files.retrieve(f.id).filename
        for f in client.vector_stores.files.list(vector_store_id=store_id)
    }
