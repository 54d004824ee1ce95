"""Model names → ``ModelRoute``s: which upstream serves a name, as which upstream model id, with
which fallbacks and context window.

Names mapped in ``THREADLINE_CONFIG`` use their provider; every other name goes unchanged to the
default upstream (``THREADLINE_UPSTREAM_BASE_URL``). One ``OpenAICompatibleProvider`` (one
connection pool) exists per upstream, built once (an ``AnthropicProvider`` for providers of kind
``anthropic``); ``aclose`` closes them."""

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Protocol

import httpx

from threadline.providers.llm.anthropic_provider import AnthropicProvider
from threadline.providers.llm.base import (
    ChatDelta,
    ChatProvider,
    ChatRequest,
    ModelRoute,
    UpstreamFailure,
)
from threadline.providers.llm.config import (
    DEFAULT_CONTEXT_WINDOW,
    DEFAULT_PROVIDER,
    ConfigError,
    ModelConfig,
    Prices,
    ProviderConfig,
    ThreadlineConfig,
    load_config,
    validate_base_url,
)
from threadline.providers.llm.openai_compatible import (
    OpenAICompatibleProvider,
    Redactor,
    Sleep,
    UpstreamOptions,
)
from threadline.providers.llm.passthrough import RawUpstream, Target
from threadline.records.anthropic import ANTHROPIC_VERSION
from threadline.telemetry import NO_TRACER, Tracer

log = logging.getLogger("threadline.providers.llm")

OPENAI_BASE_URL = "https://api.openai.com/v1"


class _SecretLike(Protocol):
    def get_secret_value(self) -> str: ...


class _UpstreamSettings(Protocol):
    upstream_base_url: str | None
    upstream_api_key: _SecretLike | None
    config: Path | None


@dataclass(frozen=True, slots=True)
class BoundModel:
    """A provider serving one upstream model id, whatever name the request used."""

    provider: OpenAICompatibleProvider
    upstream_model: str

    @property
    def name(self) -> str:
        return f"{self.provider.name}:{self.upstream_model}"

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        return self.provider.stream(replace(request, model=self.upstream_model))


class FallbackProvider:
    """Tries each provider in order; moves on only if one failed before yielding anything."""

    def __init__(self, providers: Sequence[ChatProvider], *, name: str = "fallback") -> None:
        if not providers:
            raise ValueError("FallbackProvider needs at least one provider")
        self.providers = tuple(providers)
        self.name = name

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        failure: UpstreamFailure | None = None
        for position, provider in enumerate(self.providers):
            if failure is not None:
                log.warning(
                    "model %s: %s failed (%s); falling back to %s",
                    self.name,
                    getattr(self.providers[position - 1], "name", "provider"),
                    failure.code,
                    getattr(provider, "name", "provider"),
                )
            emitted = False
            deltas = provider.stream(request)
            try:
                async for delta in deltas:
                    emitted = True
                    yield delta
                return
            except UpstreamFailure as exc:
                if emitted:
                    raise
                failure = exc
            finally:  # if our consumer stops, the provider's stream (and request) closes now
                close = getattr(deltas, "aclose", None)
                if close is not None:
                    await close()
        assert failure is not None
        raise failure


class ModelRegistry:
    def __init__(
        self,
        *,
        default_base_url: str | None = None,
        default_api_key: str | None = None,
        config: ThreadlineConfig | None = None,
        options: UpstreamOptions | None = None,
        http_client: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
        environ: Mapping[str, str] | None = None,
        default_context_window: int = DEFAULT_CONTEXT_WINDOW,
        tracer: Tracer = NO_TRACER,
    ) -> None:
        """``http_client`` (tests) is shared by every upstream and not closed by ``aclose``.
        A default API key without a base URL means OpenAI's own endpoint, as in the SDK.
        ``tracer``: the providers' spans of their model calls."""
        self.config = config or ThreadlineConfig()
        self.options = options or UpstreamOptions()
        self.default_context_window = default_context_window
        environ = os.environ if environ is None else environ
        self._providers: dict[str, OpenAICompatibleProvider] = {}
        # The same upstreams for the gateway's raw pass-through (see passthrough.py).
        self._raw: dict[str, RawUpstream] = {}

        if default_base_url is None and default_api_key:
            default_base_url = OPENAI_BASE_URL
        if default_base_url is not None:
            try:
                base_url = validate_base_url(default_base_url)
            except ValueError as exc:
                raise ConfigError(f"THREADLINE_UPSTREAM_BASE_URL: {exc}") from None
            self._providers[DEFAULT_PROVIDER] = OpenAICompatibleProvider(
                base_url=base_url,
                api_key=default_api_key,
                name=DEFAULT_PROVIDER,
                options=self.options,
                http_client=http_client,
                sleep=sleep,
                tracer=tracer,
            )
            self._raw[DEFAULT_PROVIDER] = _raw(
                DEFAULT_PROVIDER, base_url, default_api_key, self.options
            )
        keys = {  # resolved first: a missing variable fails before any client exists
            name: provider.resolve_api_key(name, environ)
            for name, provider in self.config.providers.items()
        }
        for name, provider in self.config.providers.items():
            own = replace(
                self.options,
                **{
                    key: value
                    for key in ("connect_timeout", "read_timeout", "max_retries")
                    if (value := getattr(provider, key)) is not None
                },
            )
            self._providers[name] = _provider(
                provider, name, keys[name], own, http_client, sleep, tracer
            )
            self._raw[name] = _raw(
                name, provider.base_url, keys[name], own, provider.kind, provider.anthropic_version
            )
        self._routes = {name: self._configured_route(name) for name in self.config.models}
        # Models whose pass-through chain reaches an Anthropic upstream: their chat completions
        # are translated (api/anthropic_chat_passthrough.py); other models' bytes go as they are.
        self._translated = frozenset(
            name
            for name in self.config.models
            if any(t.upstream.kind == "anthropic" for t in self.passthrough_chain(name) or ())
        )
        self._native_responses = frozenset(
            name
            for name, provider in self.config.providers.items()
            if provider.responses == "native"
        )

    @classmethod
    def from_settings(
        cls,
        settings: _UpstreamSettings,
        *,
        options: UpstreamOptions | None = None,
        http_client: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
        tracer: Tracer = NO_TRACER,
    ) -> "ModelRegistry":
        """Reads ``upstream_base_url``, ``upstream_api_key`` and ``config`` (the YAML path)."""
        key = settings.upstream_api_key
        return cls(
            default_base_url=settings.upstream_base_url,
            default_api_key=key.get_secret_value() if key is not None else None,
            config=load_config(settings.config) if settings.config is not None else None,
            options=options,
            http_client=http_client,
            sleep=sleep,
            tracer=tracer,
        )

    @property
    def has_default(self) -> bool:
        return DEFAULT_PROVIDER in self._providers

    def configured_models(self) -> list[str]:
        return list(self.config.models)

    def prices(self, model_name: str) -> Prices | None:
        model = self.config.models.get(model_name)
        return model.prices if model is not None else None

    def route(self, model_name: str) -> ModelRoute:
        route = self._routes.get(model_name)
        if route is not None:
            return route
        if not self.has_default:
            raise UpstreamFailure(
                "server_error",
                f"No upstream is configured for model '{model_name}'. Set "
                "THREADLINE_UPSTREAM_BASE_URL (and THREADLINE_UPSTREAM_API_KEY), or map the "
                "model in THREADLINE_CONFIG.",
            )
        provider = BoundModel(self._providers[DEFAULT_PROVIDER], model_name)
        return ModelRoute(provider=provider, context_window=self.default_context_window)

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()

    # -- the gateway's raw pass-through ------------------------------------------------------

    def provider_names(self) -> set[str]:
        """Configured OpenAI-compatible providers (not the default): what Assistants
        pass-through may name (an Anthropic upstream serves no Assistants API)."""
        return {name for name, p in self.config.providers.items() if p.kind == "openai"}

    def api_keys(self) -> list[str]:
        """Every provider key in use (for redaction)."""
        return [upstream.api_key for upstream in self._raw.values() if upstream.api_key]

    def raw_upstream(self, provider: str) -> RawUpstream | None:
        return self._raw.get(provider)

    def serves_responses(self, provider: str) -> bool:
        """Whether ``provider`` serves the Responses and Conversations APIs itself
        (``responses: native``): a pass-through project's requests to them go there."""
        return provider in self._native_responses

    def translates_chat(self, model_name: str) -> bool:
        """Whether an Anthropic upstream serves ``model_name`` (or one of its fallbacks): its
        chat completions are translated, not forwarded as they are."""
        return model_name in self._translated

    def upstream_id(self, model_name: str) -> str | None:
        model = self.config.models.get(model_name)
        return model.upstream_model if model is not None else None

    def passthrough_chain(self, model_name: str) -> list[Target] | None:
        """Where a pass-through request for ``model_name`` goes, fallbacks in order; None when
        no upstream serves it."""
        model = self.config.models.get(model_name)
        if model is None:
            default = self._raw.get(DEFAULT_PROVIDER)
            return [Target(default, model_name)] if default is not None else None
        chain = []
        for name in (model_name, *model.fallbacks):
            config = self.config.models.get(name) or ModelConfig()
            upstream = self._raw.get(config.provider)
            if upstream is not None:
                chain.append(Target(upstream, config.upstream_model or name))
        return chain or None

    def _bound(self, model_name: str, where: str) -> BoundModel:
        model = self.config.models.get(model_name) or ModelConfig()
        provider = self._providers.get(model.provider)
        if provider is None:  # only the default can be missing: the config checked the rest
            raise ConfigError(
                f"{where}: model '{model_name}' needs the default upstream, but "
                "THREADLINE_UPSTREAM_BASE_URL is not set"
            )
        return BoundModel(provider, model.upstream_model or model_name)

    def _configured_route(self, name: str) -> ModelRoute:
        model = self.config.models[name]
        chain = [self._bound(name, f"models.{name}")]
        chain += [self._bound(fb, f"models.{name}.fallbacks") for fb in model.fallbacks]
        provider: ChatProvider = chain[0] if len(chain) == 1 else FallbackProvider(chain, name=name)
        return ModelRoute(provider=provider, context_window=model.context_window)


def _provider(
    config: ProviderConfig,
    name: str,
    api_key: str | None,
    options: UpstreamOptions,
    http_client: httpx.AsyncClient | None,
    sleep: Sleep,
    tracer: Tracer,
) -> OpenAICompatibleProvider:
    """The run engine's provider for a configured upstream, by its kind."""
    if config.kind == "anthropic":
        return AnthropicProvider(
            base_url=config.base_url,
            api_key=api_key,
            anthropic_version=config.anthropic_version,
            name=name,
            options=options,
            http_client=http_client,
            sleep=sleep,
            tracer=tracer,
        )
    return OpenAICompatibleProvider(
        base_url=config.base_url,
        api_key=api_key,
        name=name,
        options=options,
        http_client=http_client,
        sleep=sleep,
        tracer=tracer,
    )


def _raw(
    name: str,
    base_url: str,
    api_key: str | None,
    options: UpstreamOptions,
    kind: Literal["openai", "anthropic"] = "openai",
    anthropic_version: str = ANTHROPIC_VERSION,
) -> RawUpstream:
    host = httpx.URL(base_url).host
    redact = Redactor([s for s in (api_key, base_url, host) if s])
    return RawUpstream(name, base_url, api_key, options, redact, kind, anthropic_version)
