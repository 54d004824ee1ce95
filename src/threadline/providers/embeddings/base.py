"""What retrieval needs from an embedding model.

An embedder turns texts into unit-length ``float32`` vectors (cosine similarity is then a dot
product). It never truncates silently: a text longer than the model reads is embedded as several
windows whose vectors are pooled. ``passage_tokens`` tells retrieval how long a passage (counted
in o200k tokens, the chunker's unit) the model embeds well in one window, so chunks can be cut
into passages the model reads whole."""

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]  # shape (n, dimensions), each row of length 1


class EmbeddingFailed(Exception):
    """The embedding model could not embed (endpoint down, refused, malformed answer)."""


class Embedder(Protocol):
    @property
    def model(self) -> str:
        """The name recorded with every vector (and on each vector store)."""
        ...

    @property
    def passage_tokens(self) -> int:
        """The longest passage, in o200k tokens, the model reads in one window."""
        ...

    async def embed(self, texts: Sequence[str], *, kind: str = "passage") -> Vectors:
        """One unit vector per text. ``kind`` is ``"query"`` or ``"passage"`` (models that embed
        them differently use it)."""
        ...

    async def aclose(self) -> None: ...


def normalized(vectors: npt.NDArray[np.floating]) -> Vectors:
    """Rows scaled to unit length (a zero row stays zero)."""
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return np.divide(array, norms, out=np.zeros_like(array), where=norms > 0)
