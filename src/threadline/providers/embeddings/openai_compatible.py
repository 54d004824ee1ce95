"""An ``Embedder`` over any OpenAI-compatible ``/v1/embeddings`` endpoint (OpenAI, vLLM, Ollama,
llama.cpp, TEI, LiteLLM, …), configured with a base URL, a key and a model name.

Texts go in batches of at most ``batch_size`` inputs. A text longer than ``max_input_tokens`` (the
endpoint's limit, counted in o200k tokens) is sent as several windows whose vectors are
averaged, never cut. The SDK retries 429s and 5xx a few times; a failure after that is raised as
``EmbeddingFailed`` with a message that names neither the URL nor the key."""

import logging
from collections.abc import Callable, Sequence

import numpy as np
import openai

from threadline.providers.embeddings.base import EmbeddingFailed, Vectors, normalized

log = logging.getLogger("threadline.providers.embeddings")

Splitter = Callable[[str, int], list[str]]  # (text, max tokens) -> windows of at most that many


class OpenAICompatibleEmbedder:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        model: str,
        split: Splitter,
        max_input_tokens: int = 8191,
        batch_size: int = 64,
        timeout: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        self._client = openai.AsyncOpenAI(
            base_url=base_url,
            api_key=api_key or "unused",
            timeout=timeout,
            max_retries=max_retries,
        )
        self._model = model
        self._split = split
        self._max_input_tokens = max_input_tokens
        self._batch_size = batch_size

    @property
    def model(self) -> str:
        return self._model

    @property
    def passage_tokens(self) -> int:
        return self._max_input_tokens

    async def embed(self, texts: Sequence[str], *, kind: str = "passage") -> Vectors:
        windows: list[str] = []
        owners: list[int] = []
        for index, text in enumerate(texts):
            for window in self._split(text, self._max_input_tokens) or [" "]:
                windows.append(window)
                owners.append(index)
        vectors: list[list[float]] = []
        for start in range(0, len(windows), self._batch_size):
            vectors.extend(await self._request(windows[start : start + self._batch_size]))
        if not vectors:
            return np.zeros((0, 0), dtype=np.float32)
        window_vectors = normalized(np.array(vectors, dtype=np.float32))
        pooled = np.zeros((len(texts), window_vectors.shape[1]), dtype=np.float32)
        np.add.at(pooled, np.array(owners), window_vectors)
        return normalized(pooled)

    async def _request(self, inputs: list[str]) -> list[list[float]]:
        try:
            response = await self._client.embeddings.create(
                model=self._model, input=inputs, encoding_format="float"
            )
        except openai.APIStatusError as error:
            log.warning("embeddings endpoint answered %s", error.status_code)
            raise EmbeddingFailed(
                f"The embeddings endpoint answered HTTP {error.status_code}."
            ) from error
        except openai.APIError as error:
            log.warning("embeddings endpoint unreachable: %s", type(error).__name__)
            raise EmbeddingFailed("The embeddings endpoint could not be reached.") from error
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != len(inputs) or any(not isinstance(d.embedding, list) for d in data):
            raise EmbeddingFailed("The embeddings endpoint returned a malformed answer.")
        return [d.embedding for d in data]

    async def aclose(self) -> None:
        await self._client.close()
