"""Retrieval quality: recall@5 and MRR@10 of vector-only, keyword-only and hybrid search over the
Python documentation corpus (bench/retrieval/corpus, 28 files in html/md/txt/pdf/docx) with 212
hand-written, paraphrased questions (bench/retrieval/questions.tsv).

Each embedding variant ingests the corpus (real parsers, o200k chunking at OpenAI's default 800/400
tokens, passages as configured); fusion settings are chosen on the dev split (every 4th question)
and all figures are reported on the test split (the other 159) unless stated.

    .venv/bin/python bench/retrieval/quality.py          # all variants
    .venv/bin/python bench/retrieval/quality.py minilm   # those whose name contains "minilm"
    .venv/bin/python bench/retrieval/quality.py --questions heldout passages-200
    .venv/bin/python bench/retrieval/quality.py --questions both static   # the static preset

The ``static`` variants embed with the product's ``static`` preset (providers/embeddings/static.py);
``static`` itself uses the preset's own passage length, the others the ones it was chosen among.

``--questions heldout`` (or ``both``) also reports the held-out set (heldout_questions.tsv, 80
questions written without seeing the tuned set): graded by HELDOUT.md's snippet rule, split by
difficulty, with the file-level hit rate beside it, and the fusion chosen on the tuned dev split.
It is for measuring only: never choose a setting by its held-out score (HELDOUT.md).
"""

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from common import (
    CachedEmbedder,
    HeldoutQuestion,
    Question,
    corpus_files,
    heldout_questions,
    is_heldout_hit,
    is_hit,
    questions,
)

from threadline.engine.retrieval.base import ChunkingStrategy
from threadline.engine.retrieval.chunking import chunk_text
from threadline.engine.retrieval.fusion import FusionOptions
from threadline.engine.retrieval.hybrid import HybridRetrieval
from threadline.engine.retrieval.rewrite import rewrite_query
from threadline.providers.documents.parsers import parse_document
from threadline.providers.embeddings.base import Embedder
from threadline.providers.embeddings.local import LocalEmbedder
from threadline.providers.embeddings.static import StaticEmbedder
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
    # Passage length in o200k tokens; "model": the embedder's own (the product's setting for it);
    # None: one vector per chunk (its windows pooled by the model).
    passage_tokens: int | Literal["model"] | None
    embedder: str  # a key of EMBEDDERS


class MixedEmbedder:
    """Passages by the float32 reference (numpy), queries by int8: a store embedded before the
    int8 default, searched by a server running it."""

    def __init__(self) -> None:
        self._passages = CachedEmbedder(LocalEmbedder(runtime="numpy"), "minilm")
        self._queries = CachedEmbedder(LocalEmbedder(runtime="onnx-int8"), "minilm-int8")
        self.model = self._passages.model
        self.passage_tokens = self._passages.passage_tokens

    async def embed(self, texts: Sequence[str], *, kind: str = "passage") -> np.ndarray:
        embedder = self._queries if kind == "query" else self._passages
        vectors = await embedder.embed(texts, kind=kind)
        embedder.save()
        return vectors

    async def aclose(self) -> None:
        pass


EMBEDDERS: dict[str, Callable[[], Embedder]] = {
    "minilm": lambda: LocalEmbedder(runtime="numpy"),  # the reference
    "minilm-onnx": lambda: LocalEmbedder(runtime="onnx"),
    "minilm-int8": lambda: LocalEmbedder(runtime="onnx-int8"),
    "minilm-mixed": MixedEmbedder,
    "static": StaticEmbedder,  # THREADLINE_EMBEDDING_PRESET=static
}

VARIANTS = [
    Variant("minilm-passages-200", 200, "minilm"),
    Variant("minilm-passages-100", 100, "minilm"),
    Variant("minilm-chunk-pooled", None, "minilm"),
    Variant("minilm-int8-passages-200", 200, "minilm-int8"),
    Variant("minilm-mixed-passages-200", 200, "minilm-mixed"),
    Variant("static", "model", "static"),
    # What the static preset's passage length was chosen among, on the dev split.
    Variant("static-passages-100", 100, "static"),
    Variant("static-passages-200", 200, "static"),
    Variant("static-passages-400", 400, "static"),
    Variant("static-chunk", None, "static"),
]


@dataclass
class Score:
    recall5: float
    mrr10: float
    file_hit5: float  # the answering file among the top 5, whichever passage

    def __str__(self) -> str:
        return f"recall@5 {self.recall5:.3f}  MRR@10 {self.mrr10:.3f}  file@5 {self.file_hit5:.3f}"


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
    retrieval: HybridRetrieval,
    store: str,
    items: list[Question] | list[HeldoutQuestion],
    mode: str,
    rewrite: bool = False,
) -> Score:
    recall = mrr = files = 0.0
    for question in items:
        query = rewrite_query(question.text) if rewrite else question.text
        hits = await retrieval.search(store_ids=[store], queries=[query], max_results=10, mode=mode)
        if isinstance(question, HeldoutQuestion):
            ranks = [
                i for i, h in enumerate(hits, 1) if is_heldout_hit(question, h.file_id, h.text)
            ]
        else:
            ranks = [i for i, h in enumerate(hits, 1) if is_hit(question, h.file_id, h.text)]
        if ranks and ranks[0] <= 5:
            recall += 1
        if ranks:
            mrr += 1 / ranks[0]
        if any(h.file_id == question.file for h in hits[:5]):
            files += 1
    return Score(recall / len(items), mrr / len(items), files / len(items))


async def run_variant(
    variant: Variant, database: Database, index: SqliteSearchIndex, question_sets: str
) -> None:
    inner = EMBEDDERS[variant.embedder]()
    embedder = CachedEmbedder(inner, variant.embedder)
    retrieval = HybridRetrieval(embedder=embedder, index=index)
    started = time.perf_counter()
    tokens = inner.passage_tokens if variant.passage_tokens == "model" else variant.passage_tokens
    chunks = await ingest(retrieval, variant.name, tokens)
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
    if question_sets in ("heldout", "both"):
        await report_heldout(retrieval, variant.name)
    if question_sets == "heldout":
        return
    for split, items in (("dev", dev), ("test", test), ("all", everything)):
        for mode in ("vector", "keyword", "hybrid"):
            score = await evaluate(retrieval, variant.name, items, mode)
            print(f"{split:>4} ({len(items)}) {mode:<8} {score}")
    # ``rewrite_query: true`` on the search endpoint: the same questions, rewritten.
    for mode in ("vector", "keyword", "hybrid"):
        score = await evaluate(retrieval, variant.name, test, mode, rewrite=True)
        print(f"test ({len(test)}) {mode:<8} {score}  (rewrite_query)")


async def report_heldout(retrieval: HybridRetrieval, store: str) -> None:
    """Held-out figures with the settings already chosen on the tuned set: measuring only."""
    items = heldout_questions()
    groups = [("all", items)] + [
        (level, [q for q in items if q.difficulty == level]) for level in ("easy", "medium", "hard")
    ]
    for name, group in groups:
        for mode in ("vector", "keyword", "hybrid"):
            score = await evaluate(retrieval, store, group, mode)
            print(f"held-out {name:>6} ({len(group)}) {mode:<8} {score}")


async def main(selected: list[str], question_sets: str, url: str) -> None:
    database = Database(url)
    index = SqliteSearchIndex(database)
    for variant in VARIANTS:
        if not selected or any(s in variant.name for s in selected):
            await run_variant(variant, database, index, question_sets)
    await database.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("variants", nargs="*", help="names (or parts of names) of variants")
    parser.add_argument("--questions", choices=("tuned", "heldout", "both"), default="tuned")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        database_url = f"sqlite+aiosqlite:///{directory}/bench.db"
        upgrade_to_head(database_url)
        asyncio.run(main(args.variants, args.questions, database_url))
