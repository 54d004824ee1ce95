"""The model names a key may use, for ``GET /v1/models``.

A key limited to some models lists exactly those. Any other key lists the models configured in
``THREADLINE_CONFIG`` and those the default upstream serves (its own ``GET /models``, asked at
most every five minutes; an upstream that cannot answer just adds nothing)."""

import contextlib
import time

import orjson

from threadline.gateway.principal import Principal
from threadline.providers.llm.config import DEFAULT_PROVIDER
from threadline.providers.llm.passthrough import PassthroughClient
from threadline.providers.llm.registry import ModelRegistry

_REFRESH_SECONDS = 300.0


class ModelCatalog:
    def __init__(self, registry: ModelRegistry, client: PassthroughClient) -> None:
        self._registry = registry
        self._client = client
        self._upstream: list[str] = []
        self._fetched = float("-inf")

    async def names(self, principal: Principal) -> list[str]:
        if principal.models is not None:
            return list(principal.models)
        names = dict.fromkeys(self._registry.configured_models())
        names.update(dict.fromkeys(await self._default_upstream_models()))
        return list(names)

    async def exists(self, model: str) -> bool:
        """Whether any upstream serves ``model``: it is configured, or the default upstream
        lists it. A default upstream that lists nothing (it cannot answer ``/models``) is
        trusted with any name: it decides when called."""
        if model in self._registry.config.models:
            return True
        if self._registry.raw_upstream(DEFAULT_PROVIDER) is None:
            return False
        listed = await self._default_upstream_models()
        return not listed or model in listed

    async def _default_upstream_models(self) -> list[str]:
        upstream = self._registry.raw_upstream(DEFAULT_PROVIDER)
        if upstream is None or time.monotonic() - self._fetched < _REFRESH_SECONDS:
            return self._upstream
        self._fetched = time.monotonic()
        with contextlib.suppress(Exception):
            response = await self._client.send("GET", upstream, "/models")
            try:
                if response.status == 200:
                    data = orjson.loads(await response.read()).get("data") or []
                    self._upstream = [
                        str(m["id"]) for m in data if isinstance(m, dict) and m.get("id")
                    ][:1000]
            finally:
                response.close()
        return self._upstream
