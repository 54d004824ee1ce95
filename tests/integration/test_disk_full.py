"""A full disk is a retryable 503 with ``retry-after``, never a 500: an upload answers it on the
same keep-alive connection (which stays usable), keeps nothing partial (no blob, no file row), a
database write answers it too, and once space returns uploads work again and the SQLite WAL that
could not be checkpointed meanwhile is emptied.

The disk is a real one: a small tmpfs mounted for the test (as root). Where mounting is not
permitted, the tmpfs test is skipped and ``test_upload_out_of_quota_injected`` still covers the
upload path, with the error raised by the blob writer itself."""

import contextlib
import errno
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import MASTER_KEY, new_project_key
from tests.servers import threaded_server
from threadline.providers.blobs.local import LocalBlobWriter
from threadline.settings import Settings
from threadline.storage import sqlite as sqlite_units

_WAL_LIMIT_PAGES = 64  # 256 KiB: the test's disk is small


@contextlib.contextmanager
def small_disk(path: Path, size: str = "4m") -> Iterator[Path]:
    path.mkdir()
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mount.returncode != 0:
        pytest.skip(
            f"mounting a tmpfs is not permitted here ({mount.stderr.strip()}); "
            "test_upload_out_of_quota_injected covers the upload path by injection"
        )
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], check=False)


def fill(directory: Path, name: str, leave: int = 0) -> Path:
    """A file taking the disk's free space, but ``leave`` bytes."""
    filler = directory / name
    free = os.statvfs(directory).f_bavail * os.statvfs(directory).f_frsize
    with filler.open("wb") as handle, contextlib.suppress(OSError):
        remaining = max(free - leave, 0)
        while remaining > 0:
            remaining -= handle.write(b"\0" * min(remaining, 1 << 16))
            handle.flush()
    return filler


def connection_of(response: httpx.Response) -> object:
    """The client side's address of the connection the response came on."""
    return response.extensions["network_stream"].get_extra_info("client_addr")


def stored_blobs(data_dir: Path) -> list[Path]:
    return [path for path in (data_dir / "files").rglob("*") if path.is_file()]


def assert_retryable_503(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "service_unavailable_error"


def eventually(condition: Callable[[], bool], timeout: float = 90.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_a_full_disk_answers_503_keeps_nothing_and_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_units, "_WAL_FRAMES_LIMIT", _WAL_LIMIT_PAGES)
    with (
        small_disk(tmp_path / "data") as data,
        threaded_server(Settings(data_dir=data, master_key=MASTER_KEY)) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {MASTER_KEY}"}) as admin,
    ):
        headers = {"Authorization": f"Bearer {new_project_key(admin)}"}
        with httpx.Client(base_url=f"{url}/v1", headers=headers, timeout=60) as client:
            thread = client.post("/threads", json={}).json()["id"]
            # The WAL grows past its limit (fewer writes than trigger a checkpoint).
            for n in range(60):
                message = {"role": "user", "content": f"{n} " + "words " * 1500}
                client.post(f"/threads/{thread}/messages", json=message).raise_for_status()
            wal = data / "threadline.db-wal"
            assert wal.stat().st_size > _WAL_LIMIT_PAGES * 4096

            # Half a megabyte left: the upload's first megabyte does not fit.
            nearly = fill(data, "filler-1", leave=512 * 1024)
            upload = client.post(
                "/files",
                files={"file": ("big.bin", os.urandom(2 * 1024 * 1024))},
                data={"purpose": "assistants"},
            )
            assert_retryable_503(upload)
            listed = client.get("/files")
            assert listed.status_code == 200
            assert connection_of(listed) == connection_of(upload), "keep-alive connection reused"
            assert listed.json()["data"] == []
            assert stored_blobs(data) == [], "no partial blob left behind"

            # No room at all: a database write answers 503 too.
            full = fill(data, "filler-2")
            message = {"role": "user", "content": "words " * 1500}
            assert_retryable_503(client.post(f"/threads/{thread}/messages", json=message))

            # Space returns: the WAL is emptied without waiting for more writes, and uploads work.
            full.unlink()
            nearly.unlink()
            assert eventually(lambda: wal.stat().st_size <= _WAL_LIMIT_PAGES * 4096), (
                f"WAL still {wal.stat().st_size} bytes"
            )
            content = os.urandom(1024 * 1024)
            created = client.post(
                "/files", files={"file": ("ok.bin", content)}, data={"purpose": "assistants"}
            )
            assert created.status_code == 200, created.text
            file_id = created.json()["id"]
            assert [f["id"] for f in client.get("/files").json()["data"]] == [file_id]
            assert client.get(f"/files/{file_id}/content").content == content
            assert client.post(f"/threads/{thread}/messages", json=message).status_code == 200


def test_upload_out_of_quota_injected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The blob store's disk quota runs out half way through an upload (``EDQUOT``, raised after
    part of the file reached the disk): the same answers, on any machine."""
    flush = LocalBlobWriter._flush

    async def flush_then_run_out(self: LocalBlobWriter) -> None:
        await flush(self)
        raise OSError(errno.EDQUOT, "Disk quota exceeded")

    monkeypatch.setattr(LocalBlobWriter, "_flush", flush_then_run_out)
    data = tmp_path / "data"
    with (
        threaded_server(Settings(data_dir=data, master_key=MASTER_KEY)) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {MASTER_KEY}"}) as admin,
    ):
        headers = {"Authorization": f"Bearer {new_project_key(admin)}"}
        with httpx.Client(base_url=f"{url}/v1", headers=headers, timeout=60) as client:
            upload = client.post(
                "/files",
                files={"file": ("big.bin", os.urandom(3 * 1024 * 1024))},
                data={"purpose": "assistants"},
            )
            assert_retryable_503(upload)
            listed = client.get("/files")
            assert connection_of(listed) == connection_of(upload), "keep-alive connection reused"
            assert listed.status_code == 200
            assert listed.json()["data"] == []
            assert stored_blobs(data) == [], "no partial blob left behind"
