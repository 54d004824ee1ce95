"""What the embedded models share: they run in this process, on one worker thread.

One thread at a time, because two concurrent batches would only fight over the same cores; off
the event loop, because a batch takes milliseconds to seconds. Each model loads itself at first
use (``embed_now``), so a server that never embeds never reads its weights."""

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from threadpoolctl import threadpool_limits

from threadline.providers.embeddings.base import Vectors


class InProcessEmbedder(ABC):
    def __init__(self, *, passage_tokens: int, threads: int) -> None:
        self._passage_tokens = passage_tokens
        # BLAS threads for the whole process (OpenBLAS has no per-call setting: numpy's
        # runtime, vector search): one unless a number is configured, as OpenBLAS's spinning
        # threads made numpy slower on a busy machine (docs/benchmarks.md#design-choices).
        threadpool_limits(limits=threads or 1, user_api="blas")
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="threadline-embed")

    @property
    @abstractmethod
    def model(self) -> str: ...

    @property
    def passage_tokens(self) -> int:
        return self._passage_tokens

    async def embed(self, texts: Sequence[str], *, kind: str = "passage") -> Vectors:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self.embed_now, list(texts))

    @abstractmethod
    def embed_now(self, texts: list[str]) -> Vectors:
        """``embed`` on the calling thread (for benchmarks and worker processes)."""

    async def aclose(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)
