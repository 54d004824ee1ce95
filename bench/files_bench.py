"""Files and vector stores against a real ``threadline serve`` process, on SQLite and PostgreSQL.

What it measures:

  upload        POST /v1/files of N files of S MiB each, one after the other, streamed from a
                generator: MB/s end to end, the server's CPU seconds per GB, and its peak RSS
                (VmHWM) against its RSS before. For comparison, the same bytes written to a file
                on the same disk by this process (write + fsync): the disk's own speed here.
  attach        K small files attached to one store by K concurrent requests (POST …/files,
                C at a time): requests/s and latency p50/p99, then the seconds until ingestion
                has completed them all; the store's counts are checked to be exact.
  batch         the same K files in one file batch: the request's latency and the seconds until
                the batch is completed.

Ingestion figures here are of the orchestration (queue, leases, counts) around the retrieval the
server is built with, not of parsing or embedding.

Run:  .venv/bin/python bench/files_bench.py --backend both [--upload-files 3] [--upload-mib 128]
          [--files 200] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from server_under_test import (
    CpuCounters,
    Server,
    database_url,
    project_key,
    running_server,
    wait_healthy,
)

CHUNK = b"threadline-bench-" * 4096  # 68 KiB, like a network read


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def disk_mb_per_s(directory: Path, size: int) -> float:
    """This disk's own speed: ``size`` bytes written and fsynced by this process."""
    path = directory / "disk-speed.tmp"
    started = time.perf_counter()
    with path.open("wb") as handle:
        for _ in range(size // len(CHUNK)):
            handle.write(CHUNK)
        handle.flush()
        os.fsync(handle.fileno())
    elapsed = time.perf_counter() - started
    path.unlink()
    return size / elapsed / 1e6


async def multipart(size: int, boundary: str) -> AsyncIterator[bytes]:
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nassistants\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n'
    ).encode()
    for _ in range(size // len(CHUNK)):
        yield CHUNK
    yield f"\r\n--{boundary}--\r\n".encode()


async def bench_upload(api: httpx.AsyncClient, server: Server, files: int, mib: int) -> None:
    size = (mib * 1024 * 1024 // len(CHUNK)) * len(CHUNK)
    boundary = secrets.token_hex(16)
    before_rss = rss_kib(server.pid, "VmRSS")
    before = CpuCounters.take(server.pid)
    for _ in range(files):
        response = await api.post(
            "/files",
            content=multipart(size, boundary),
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )
        response.raise_for_status()
        assert response.json()["bytes"] == size
        await api.delete(f"/files/{response.json()['id']}")
    use = CpuCounters.take(server.pid).since(before)
    total = size * files
    print(
        f"  upload   {files} x {mib} MiB: {total / use.wall / 1e6:7.1f} MB/s end to end, "
        f"server {use.server / (total / 1e9):.2f} CPU s/GB, peak RSS "
        f"{rss_kib(server.pid, 'VmHWM') / 1024:.0f} MiB (before {before_rss / 1024:.0f} MiB), "
        f"other load {use.percent(use.noise):.0f}% of a core"
    )


async def wait_store(api: httpx.AsyncClient, store_id: str) -> dict:
    while True:
        store = (await api.get(f"/vector_stores/{store_id}")).json()
        if store["file_counts"]["in_progress"] == 0:
            return store
        await asyncio.sleep(0.02)


async def bench_attach(api: httpx.AsyncClient, count: int, concurrency: int) -> None:
    file_ids = []
    for i in range(count):
        data = {"purpose": "assistants"}
        files = {"file": (f"note{i}.txt", f"note {i} about topic {i % 7}".encode())}
        file_ids.append((await api.post("/files", data=data, files=files)).json()["id"])

    store_id = (await api.post("/vector_stores", json={})).json()["id"]
    slots, latencies = asyncio.Semaphore(concurrency), []

    async def attach(file_id: str) -> None:
        async with slots:
            started = time.perf_counter()
            response = await api.post(f"/vector_stores/{store_id}/files", json={"file_id": file_id})
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(attach(file_id) for file_id in file_ids))
    requests_done = time.perf_counter() - started
    store = await wait_store(api, store_id)
    all_done = time.perf_counter() - started
    counts = store["file_counts"]
    assert counts == {
        "in_progress": 0,
        "completed": count,
        "failed": 0,
        "cancelled": 0,
        "total": count,
    }, counts
    quantiles = statistics.quantiles(latencies, n=100)
    print(
        f"  attach   {count} files, {concurrency} at a time: {count / requests_done:6.0f} req/s, "
        f"p50 {quantiles[49] * 1e3:.1f} ms, p99 {quantiles[98] * 1e3:.1f} ms; all completed "
        f"after {all_done:.2f} s ({count / all_done:.0f} files/s); counts exact"
    )

    batch_store = (await api.post("/vector_stores", json={})).json()["id"]
    started = time.perf_counter()
    batch = (
        await api.post(f"/vector_stores/{batch_store}/file_batches", json={"file_ids": file_ids})
    ).json()
    created = time.perf_counter() - started
    while batch["status"] == "in_progress":
        await asyncio.sleep(0.02)
        batch = (await api.get(f"/vector_stores/{batch_store}/file_batches/{batch['id']}")).json()
    completed = time.perf_counter() - started
    assert batch["file_counts"]["completed"] == count, batch
    print(
        f"  batch    {count} files: created in {created * 1e3:.0f} ms, completed after "
        f"{completed:.2f} s ({count / completed:.0f} files/s)"
    )


def bench_backend(backend: str, args: argparse.Namespace) -> None:
    master = "sk-master-bench-" + secrets.token_hex(8)
    with tempfile.TemporaryDirectory(prefix="threadline-files-bench-") as directory:
        data_dir = Path(directory)
        size = args.upload_mib * 1024 * 1024
        print(f"{backend}: this disk writes {disk_mb_per_s(data_dir, size):.1f} MB/s (fsynced)")
        with database_url(backend) as url, running_server(data_dir, master, url) as server:
            asyncio.run(measure(server, master, args))


async def measure(server: Server, master: str, args: argparse.Namespace) -> None:
    await wait_healthy(server)
    key = await project_key(server, master)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{server.port}/v1",
        headers={"Authorization": f"Bearer {key}"},
        timeout=600,
    ) as api:
        await bench_upload(api, server, args.upload_files, args.upload_mib)
        await bench_attach(api, args.files, args.concurrency)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--upload-files", type=int, default=3)
    parser.add_argument("--upload-mib", type=int, default=128)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    print(f"files benchmark (load average now {os.getloadavg()[0]:.1f})")
    for backend in backends:
        bench_backend(backend, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
