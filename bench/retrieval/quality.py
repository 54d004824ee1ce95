"""Retrieval quality: recall@5 and MRR@10 of vector-only, keyword-only and hybrid search over the
Python documentation corpus (bench/retrieval/corpus, 28 files in html/md/txt/pdf/docx) with 212
hand-written, paraphrased questions (bench/retrieval/questions.tsv).

Each embedding variant ingests the corpus (real parsers, o200k chunking at OpenAI's default 800/400
tokens, passages as configured); fusion settings are chosen on the dev split (every 4th question)
and all figures are reported on the test split (the other 159) unless stated.

    .venv/bin/python bench/retrieval/quality.py          # all variants
    .venv/bin/python bench/retrieval/quality.py minilm   # one
"""

import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass

from common import CachedEmbedder, Question, WordLlamaEmbedder, corpus_files, is_hit, questions

from threadline.engine.retrieval.base import ChunkingStrategy
from threadline.engine.retrieval.chunking import chunk_text
from threadline.engine.retrieval.fusion import FusionOptions
from threadline.engine.retrieval.hybrid import HybridRetrieval
from threadline.engine.retrieval.rewrite import rewrite_query
from threadline.providers.documents.parsers import parse_document
from threadline.providers.embeddings.local import LocalEmbedder
from threadline.providers.vector_index.base import FileEntry
from threadline.storage.database import Database
from threadline.storage.migrate import upgrade_to_head
from threadline.storage.search_index_sqlite import SqliteSearchIndex

CHUNKING = ChunkingStrategy(800, 400)
FUSIONS = [FusionOptions("rrf", k, w) for k in (10, 60) for w in (0.3, 0.4, 0.5, 0.6, 0.7)] + [
    FusionOptions("convex", 60, w) for w in (0.3, 0.4, 0.5, 0.6, 0.7)
]


@dataclass(frozen=True)
class Variant:
    name: str
    passage_tokens: int | None  # None: one vector per chunk (its windows pooled by the model)
    embedder: str


VARIANTS = [
    Variant("minilm-passages-200", 200, "minilm"),
    Variant("minilm-passages-100", 100, "minilm"),
    Variant("minilm-chunk-pooled", None, "minilm"),
    Variant("wordllama-chunk", None, "wordllama"),
]


@dataclass
class Score:
    recall5: float
    mrr10: float

    def __str__(self) -> str:
        return f"recall@5 {self.recall5:.3f}  MRR@10 {self.mrr10:.3f}"


async def ingest(retrieval: HybridRetrieval, store: str, passage_tokens: int | None) -> int:
    chunks_total = 0
    for path in corpus_files():
        text = parse_document(path, path.name)
        tokens = passage_tokens or CHUNKING.max_chunk_size_tokens
        chunked = chunk_text(text, CHUNKING, tokens)
        if passage_tokens is None:
            passages = [c.text for c in chunked.chunks]
            spans = [(c.index, c.index) for c in chunked.chunks]
        else:
            passages = [p.text for p in chunked.passages]
            spans = [(p.first_chunk, p.last_chunk) for p in chunked.passages]
        vectors = await retrieval.embedder.embed(passages)
        await retrieval.index.replace_file(
            FileEntry(
                store,
                path.name,
                retrieval.embedder.model,
                [c.text for c in chunked.chunks],
                vectors,
                spans,
            )
        )
        chunks_total += len(chunked.chunks)
    return chunks_total


async def evaluate(
    retrieval: HybridRetrieval, store: str, items: list[Question], mode: str, rewrite: bool = False
) -> Score:
    recall = mrr = 0.0
    for question in items:
        query = rewrite_query(question.text) if rewrite else question.text
        hits = await retrieval.search(store_ids=[store], queries=[query], max_results=10, mode=mode)
        ranks = [i for i, h in enumerate(hits, 1) if is_hit(question, h.file_id, h.text)]
        if ranks and ranks[0] <= 5:
            recall += 1
        if ranks:
            mrr += 1 / ranks[0]
    return Score(recall / len(items), mrr / len(items))


async def run_variant(variant: Variant, database: Database, index: SqliteSearchIndex) -> None:
    inner = LocalEmbedder() if variant.embedder == "minilm" else WordLlamaEmbedder()
    embedder = CachedEmbedder(inner, variant.embedder)
    retrieval = HybridRetrieval(embedder=embedder, index=index)
    started = time.perf_counter()
    chunks = await ingest(retrieval, variant.name, variant.passage_tokens)
    embedder.save()
    print(
        f"\n## {variant.name}: {chunks} chunks, ingested in {time.perf_counter() - started:.1f} s "
        f"({embedder.computed} passages embedded, the rest cached)"
    )
    everything = questions()
    dev = [q for q in everything if q.split == "dev"]
    test = [q for q in everything if q.split == "test"]
    best: tuple[float, float, FusionOptions] | None = None
    grid = []
    for fusion in FUSIONS:
        retrieval._fusion = fusion
        score = await evaluate(retrieval, variant.name, dev, "hybrid")
        grid.append(f"{fusion.method}(k={fusion.rrf_k}, w={fusion.vector_weight}) {score}")
        if best is None or (score.recall5, score.mrr10) > best[:2]:
            best = (score.recall5, score.mrr10, fusion)
    print("dev hybrid by fusion:\n  " + "\n  ".join(grid))
    assert best is not None
    retrieval._fusion = best[2]
    print(f"fusion chosen on dev ({len(dev)} questions): {best[2]}")
    for split, items in (("dev", dev), ("test", test), ("all", everything)):
        for mode in ("vector", "keyword", "hybrid"):
            score = await evaluate(retrieval, variant.name, items, mode)
            print(f"{split:>4} ({len(items)}) {mode:<8} {score}")
    # ``rewrite_query: true`` on the search endpoint: the same questions, rewritten.
    for mode in ("vector", "keyword", "hybrid"):
        score = await evaluate(retrieval, variant.name, test, mode, rewrite=True)
        print(f"test ({len(test)}) {mode:<8} {score}  (rewrite_query)")


async def main(selected: list[str], url: str) -> None:
    if True:
        database = Database(url)
        index = SqliteSearchIndex(database)
        for variant in VARIANTS:
            if not selected or any(s in variant.name for s in selected):
                await run_variant(variant, database, index)
        await database.dispose()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as directory:
        database_url = f"sqlite+aiosqlite:///{directory}/bench.db"
        upgrade_to_head(database_url)
        asyncio.run(main(sys.argv[1:], database_url))
