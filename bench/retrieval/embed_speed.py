"""The embedding stage alone: the passages of speed.py's ingestion files through one embedder.

Parses and chunks the same 9 files as ``speed.py ingest`` (default 800/400 chunking, the
embedder's passage length), then embeds every passage in ingestion's batches of 64, timed in wall
and CPU seconds. Prints passages/s, chunks/s (the chunks those passages cover) and word pieces/s.

    .venv/bin/python bench/retrieval/embed_speed.py [numpy|onnx|onnx-int8] [--threads N]
"""

import argparse
import resource
import time

from common import corpus_files
from speed import INGEST_FILES

from threadline.engine.retrieval.base import ChunkingStrategy
from threadline.engine.retrieval.chunking import chunk_text
from threadline.providers.documents.parsers import parse_document
from threadline.providers.embeddings.local import LocalEmbedder

BATCH = 64  # as HybridRetrieval's _EMBED_BATCH


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runtime", nargs="?", default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    kwargs = {"runtime": args.runtime} if args.runtime else {}
    embedder = LocalEmbedder(threads=args.threads, **kwargs)
    passages: list[str] = []
    chunks = 0
    for path in corpus_files():
        if path.name in INGEST_FILES.split():
            text = parse_document(path, path.name)
            chunked = chunk_text(text, ChunkingStrategy(), embedder.passage_tokens)
            passages.extend(p.text for p in chunked.passages)
            chunks += len(chunked.chunks)
    embedder.embed_now(["warm up"])  # the weights load outside the timing
    started, cpu = time.perf_counter(), cpu_seconds()
    for start in range(0, len(passages), BATCH):
        embedder.embed_now(passages[start : start + BATCH])
    wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    pieces = sum(len(e.ids) for e in embedder._tokenizer.encode_batch(passages))
    print(
        f"{embedder.model} ({args.runtime or 'default'}, {args.threads} thread(s)): "
        f"{len(passages)} passages ({chunks} chunks, {pieces} word pieces) in {wall:.2f} s wall, "
        f"{cpu:.2f} s CPU: {len(passages) / wall:.1f} passages/s, {chunks / wall:.1f} chunks/s, "
        f"{pieces / wall:.0f} pieces/s wall; {chunks / cpu:.1f} chunks per CPU-second"
    )


if __name__ == "__main__":
    main()
