"""What the retrieval engine needs from an index: store a file's chunks (their text, for keyword
search) and passage vectors (for similarity search), and answer each kind of search on its own.
Fusing the two rankings is the engine's job, so every index ranks the same way."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from threadline.records.files import AttributeFilter, Attributes

Vectors = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class FileEntry:
    """Everything indexed for one file of one store; replaces what the file had there."""

    store_id: str
    file_id: str
    embedding_model: str
    chunks: Sequence[str]  # chunk texts, by chunk index
    vectors: Vectors  # (passages, dimensions), unit rows
    # For each passage (row of ``vectors``), the chunks it lies in: first..last chunk index.
    passage_chunks: Sequence[tuple[int, int]]
    attributes: Attributes = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FileVectors:
    """A file's passage vectors by another model, replacing its old ones (re-embedding): its
    chunks, their text and attributes stay as they are."""

    store_id: str
    file_id: str
    embedding_model: str
    vectors: Vectors  # (passages, dimensions), unit rows
    passage_chunks: Sequence[tuple[int, int]]


@dataclass(frozen=True, slots=True)
class StoredFile:
    """What the index holds of one file, for re-embedding it: its chunk texts in order, the
    model its vectors are from, and its version (raised whenever the file is written again)."""

    chunks: list[str]
    embedding_model: str
    version: int


@dataclass(frozen=True, slots=True)
class Candidate:
    """One chunk found by one kind of search; ``score``: higher is better (cosine similarity for
    vector search, a positive BM25-like relevance for keyword search)."""

    store_id: str
    file_id: str
    chunk_index: int
    score: float


@dataclass(frozen=True, slots=True)
class ChunkText:
    text: str
    attributes: Attributes


ChunkKey = tuple[str, str, int]  # (store_id, file_id, chunk_index)


class SearchIndex(Protocol):
    async def replace_file(self, entry: FileEntry) -> None: ...

    async def replace_vectors(self, entry: FileVectors, version: int) -> bool:
        """Swap the file's passage vectors for ``entry``'s in one transaction (searches see the
        old ones or the new, never a mix), if the file is still at ``version`` and not yet on
        ``entry``'s model; False (nothing written) otherwise."""
        ...

    async def set_attributes(self, store_id: str, file_id: str, attributes: Attributes) -> None: ...

    async def remove_file(self, store_id: str, file_id: str) -> None: ...

    async def remove_store(self, store_id: str) -> None: ...

    async def vector_search(
        self,
        store_ids: Sequence[str],
        vector: Vectors,
        *,
        model: str,
        limit: int,
        filters: AttributeFilter | None = None,
    ) -> list[Candidate]:
        """Chunks by their best passage's cosine similarity to ``vector`` (a unit vector of
        ``model``; passages embedded by another model are not compared), best first."""
        ...

    async def keyword_search(
        self,
        store_ids: Sequence[str],
        terms: Sequence[str],
        *,
        limit: int,
        filters: AttributeFilter | None = None,
    ) -> list[Candidate]:
        """Chunks matching any of ``terms`` (plain words), by BM25-style relevance, best first."""
        ...

    async def chunk_texts(self, keys: Sequence[ChunkKey]) -> dict[ChunkKey, ChunkText]: ...

    async def file_chunks(self, store_id: str, file_id: str) -> list[str]:
        """A file's chunk texts in order; ``[]`` if it is not indexed in the store."""
        ...

    async def stored_file(self, store_id: str, file_id: str) -> StoredFile | None:
        """The file's chunks, model and version, read together; None if it is not indexed."""
        ...

    async def close(self) -> None: ...
