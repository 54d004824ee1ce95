"""A deliberately simple ``Retrieval``: plain UTF-8 text files only, fixed-size character chunks,
keyword-overlap scores. It stands in until the real parsers, embeddings and hybrid index arrive;
the vector-store API and its tests only rely on the Protocol.

Each indexed file is one JSON document under ``root/<store>/<file>.json`` (so an index survives
a restart), cached in memory once read."""

import asyncio
import json
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TypedDict

from threadline.engine.retrieval.base import (
    ChunkingStrategy,
    FileRejected,
    Indexed,
    IndexProgress,
    SearchHit,
)
from threadline.records.files import AttributeFilter, Attributes

# fmt: off
TEXT_SUFFIXES = frozenset({
    ".txt", ".md", ".markdown", ".json", ".jsonl", ".csv", ".tsv", ".log", ".py", ".js", ".ts",
    ".java", ".c", ".h", ".cpp", ".hpp", ".cs", ".go", ".rs", ".rb", ".php", ".sh", ".sql",
    ".yaml", ".yml", ".toml", ".xml", ".css", ".tex", ".kt", ".swift",
})
# fmt: on
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_WORD = re.compile(r"\w+")
_CHARS_PER_TOKEN = 4


class _Entry(TypedDict):
    """One indexed file, as its JSON document holds it."""

    text: str
    chunks: list[str]
    attributes: Attributes


class SimpleRetrieval:
    def __init__(self, root: Path) -> None:
        self._root = root
        self._stores: dict[str, dict[str, _Entry]] = {}

    @property
    def embedding_model(self) -> str:
        return "keyword-overlap"

    async def index_file(
        self,
        *,
        project_id: str,
        store_id: str,
        file_id: str,
        path: Path,
        filename: str,
        chunking: ChunkingStrategy,
        attributes: Attributes | None = None,
        progress: IndexProgress | None = None,
    ) -> Indexed:
        if Path(filename).suffix.lower() not in TEXT_SUFFIXES:
            raise FileRejected("unsupported_file", f"Files of type '{filename}' are not supported.")
        try:
            text = (await asyncio.to_thread(path.read_bytes)).decode("utf-8")
        except UnicodeDecodeError:
            raise FileRejected("invalid_file", "The file is not valid UTF-8 text.") from None
        if not text.strip():
            raise FileRejected("invalid_file", "The file contains no text.")
        entry: _Entry = {
            "text": text,
            "chunks": _chunks(text, chunking),
            "attributes": attributes or {},
        }
        if progress is not None:  # nothing to embed: chunked is done
            await progress(len(entry["chunks"]), len(entry["chunks"]))
        await asyncio.to_thread(self._save, store_id, file_id, entry)
        (await self._store(store_id))[file_id] = entry
        return Indexed(chunks=len(entry["chunks"]), embedding_model=self.embedding_model)

    async def reembed_file(
        self,
        *,
        store_id: str,
        file_id: str,
        chunking: ChunkingStrategy,
        progress: IndexProgress | None = None,
    ) -> Indexed | None:
        # Keyword scores only: there are no vectors to embed again.
        entry = (await self._store(store_id)).get(file_id)
        if entry is None:
            return None
        return Indexed(chunks=len(entry["chunks"]), embedding_model=self.embedding_model)

    async def set_attributes(
        self, *, store_id: str, file_id: str, attributes: Attributes | None
    ) -> None:
        entry = (await self._store(store_id)).get(file_id)
        if entry is not None:
            entry["attributes"] = attributes or {}
            await asyncio.to_thread(self._save, store_id, file_id, entry)

    async def remove_file(self, *, store_id: str, file_id: str) -> None:
        (await self._store(store_id)).pop(file_id, None)
        await asyncio.to_thread(self._file_path(store_id, file_id).unlink, missing_ok=True)

    async def remove_store(self, *, store_id: str) -> None:
        self._stores.pop(store_id, None)
        await asyncio.to_thread(shutil.rmtree, self._store_path(store_id), ignore_errors=True)

    async def file_content(self, *, store_id: str, file_id: str) -> list[str]:
        entry = (await self._store(store_id)).get(file_id)
        return [entry["text"]] if entry else []

    async def search(
        self,
        *,
        store_ids: Sequence[str],
        queries: Sequence[str],
        max_results: int,
        score_threshold: float = 0.0,
        filters: AttributeFilter | None = None,
        mode: str = "hybrid",
    ) -> list[SearchHit]:
        wanted = {word for query in queries for word in _words(query)}
        hits: list[SearchHit] = []
        for store_id in store_ids:
            for file_id, entry in (await self._store(store_id)).items():
                if filters and not matches(filters, entry["attributes"]):
                    continue
                for index, chunk in enumerate(entry["chunks"]):
                    score = len(wanted & _words(chunk)) / len(wanted) if wanted else 0.0
                    if score > 0 and score >= score_threshold:
                        hits.append(SearchHit(file_id, score, chunk, index, entry["attributes"]))
        hits.sort(key=lambda hit: -hit.score)
        return hits[:max_results]

    async def _store(self, store_id: str) -> dict[str, _Entry]:
        if store_id not in self._stores:
            loaded = await asyncio.to_thread(self._load, store_id)
            self._stores.setdefault(store_id, loaded)
        return self._stores[store_id]

    def _store_path(self, store_id: str) -> Path:
        if not _ID.match(store_id):
            raise ValueError("not a store id")
        return self._root / store_id

    def _file_path(self, store_id: str, file_id: str) -> Path:
        if not _ID.match(file_id):
            raise ValueError("not a file id")
        return self._store_path(store_id) / f"{file_id}.json"

    def _load(self, store_id: str) -> dict[str, _Entry]:
        directory = self._store_path(store_id)
        if not directory.is_dir():
            return {}
        return {path.stem: json.loads(path.read_text()) for path in directory.glob("*.json")}

    def _save(self, store_id: str, file_id: str, entry: _Entry) -> None:
        path = self._file_path(store_id, file_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(entry))
        partial.replace(path)


def _words(text: str) -> set[str]:
    return {word.lower() for word in _WORD.findall(text)}


def _chunks(text: str, chunking: ChunkingStrategy) -> list[str]:
    size = chunking.max_chunk_size_tokens * _CHARS_PER_TOKEN
    step = max(1, size - chunking.chunk_overlap_tokens * _CHARS_PER_TOKEN)
    return [text[start : start + size] for start in range(0, max(1, len(text) - size + step), step)]


_COMPARE = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "in": lambda a, b: a in b,
    "nin": lambda a, b: a not in b,
}


def matches(condition: AttributeFilter, attributes: Attributes) -> bool:
    """The API's attribute filter (comparison or compound) applied to one file's attributes."""
    kind = condition["type"]
    if kind in ("and", "or"):
        results = (matches(inner, attributes) for inner in condition["filters"])
        return all(results) if kind == "and" else any(results)
    if condition["key"] not in attributes:
        return kind in ("ne", "nin")
    try:
        return bool(_COMPARE[kind](attributes[condition["key"]], condition["value"]))
    except TypeError:  # e.g. a string attribute compared with a number
        return False
