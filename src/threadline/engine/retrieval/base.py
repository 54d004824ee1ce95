"""The retrieval seam: what the vector-store service and the file_search tool ask of it.

Implementations parse a file, chunk it by tokens, embed the chunks and index them for hybrid
search (vector similarity fused with BM25 keyword search). They are built once per process
(``AppState``) and are safe to call concurrently; CPU-heavy work (parsing, embedding) runs off
the event loop."""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from threadline.records.files import AttributeFilter, Attributes

RejectionCode = Literal["unsupported_file", "invalid_file"]
SearchMode = Literal["hybrid", "vector", "keyword"]
# Told as indexing goes: (chunks embedded so far, chunks in the file). Called once the file is
# chunked (0 done) and after each batch of embeddings; the callee decides what to keep.
IndexProgress = Callable[[int, int], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ChunkingStrategy:
    """OpenAI's ``static`` chunking; ``auto`` is 800 tokens with 400 of overlap."""

    max_chunk_size_tokens: int = 800
    chunk_overlap_tokens: int = 400


class FileRejected(Exception):
    """The file cannot be indexed; the vector-store file ends ``failed`` with this error."""

    def __init__(self, code: RejectionCode, message: str) -> None:
        super().__init__(message)
        self.code: RejectionCode = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Indexed:
    chunks: int
    embedding_model: str


@dataclass(frozen=True, slots=True)
class SearchHit:
    file_id: str
    score: float  # 0..1, higher is better
    text: str  # the chunk's text
    chunk_index: int  # position of the chunk in its file
    attributes: Attributes = field(default_factory=dict)


class Retrieval(Protocol):
    @property
    def embedding_model(self) -> str:
        """The model new chunks are embedded with (each store records it)."""
        ...

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
        """Parse, chunk, embed and index one file of a store (replacing what it had there),
        telling ``progress`` how far it got. Raises ``FileRejected``."""
        ...

    async def reembed_file(
        self,
        *,
        store_id: str,
        file_id: str,
        chunking: ChunkingStrategy,
        progress: IndexProgress | None = None,
    ) -> Indexed | None:
        """Embed an indexed file again with ``embedding_model`` from the chunks it has (no
        parsing), swapping its vectors at once when all are embedded; searches meanwhile use
        what it had. None if it is not indexed (removed, or written again meanwhile)."""
        ...

    async def set_attributes(
        self, *, store_id: str, file_id: str, attributes: Attributes | None
    ) -> None: ...

    async def remove_file(self, *, store_id: str, file_id: str) -> None: ...

    async def remove_store(self, *, store_id: str) -> None: ...

    async def file_content(self, *, store_id: str, file_id: str) -> list[str]:
        """The parsed text of an indexed file, in reading order (one string per page or
        section), for ``GET /vector_stores/{id}/files/{file_id}/content``; ``[]`` if the file
        is not indexed in the store. Only the parser knows the text of a pdf or docx, so this
        side answers."""
        ...

    async def search(
        self,
        *,
        store_ids: Sequence[str],
        queries: Sequence[str],
        max_results: int,
        score_threshold: float = 0.0,
        filters: AttributeFilter | None = None,
        mode: SearchMode = "hybrid",
    ) -> list[SearchHit]:
        """The best chunks for ``queries`` across ``store_ids``, best first. ``filters`` is the
        API's attribute filter (``ComparisonFilter`` / ``CompoundFilter`` as a dict)."""
        ...
