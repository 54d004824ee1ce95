"""ModelRegistry: routing names to upstreams, fallbacks before output only, and validation of the
THREADLINE_CONFIG file (URLs, unknown keys, unsafe YAML, keys from the environment)."""

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.unit.test_llm_provider import TEXT, Reply, chunk, status, stream
from threadline.providers.llm.base import ChatDelta, ChatRequest, ModelRoute, UpstreamFailure
from threadline.providers.llm.config import ConfigError, load_config, parse_config
from threadline.providers.llm.openai_compatible import UpstreamOptions
from threadline.providers.llm.registry import FallbackProvider, ModelRegistry
from threadline.settings import Settings

CONFIG = """
providers:
  local:
    base_url: http://local.test:11434/v1
    api_key_env: LOCAL_KEY
models:
  gpt-4o:
    provider: local
    upstream_model: llama3.1:8b
    context_window: 131072
    fallbacks: [gpt-4o-mini]
    prices: {input_per_million: 2.5, output_per_million: 10.0}
  solo:
    provider: local
"""


class Hosts:
    """One MockTransport for every upstream: replies are scripted per host."""

    def __init__(self, **replies: list[Reply]) -> None:
        self.replies = replies
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.replies[request.url.host.split(".")[0]].pop(0)(request)

    def seen(self) -> list[tuple[str, str]]:
        return [(r.url.host, json.loads(r.content)["model"]) for r in self.requests]

    def registry(self, config: str | None = CONFIG, **kwargs: Any) -> ModelRegistry:
        async def no_sleep(seconds: float) -> None:
            pass

        return ModelRegistry(
            config=parse_config(config) if config else None,
            options=UpstreamOptions(max_retries=0),
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(self.handle)),
            sleep=no_sleep,
            environ={"LOCAL_KEY": "sk-local-secret"},
            **kwargs,
        )


def run(route: ModelRoute, model: str = "x") -> list[ChatDelta]:
    async def go() -> list[ChatDelta]:
        request = ChatRequest(model=model, messages=[{"role": "user", "content": "hi"}])
        return [delta async for delta in route.provider.stream(request)]

    return asyncio.run(go())


DEFAULT = {"default_base_url": "http://default.test/v1", "default_api_key": "sk-default"}


# --- routing ---------------------------------------------------------------------------------


def test_a_configured_name_uses_its_provider_upstream_model_and_key() -> None:
    hosts = Hosts(local=[TEXT])
    route = hosts.registry(**DEFAULT).route("solo")
    assert route.context_window == 128_000
    assert run(route, "solo")[-1].finish_reason == "stop"
    assert hosts.seen() == [("local.test", "solo")]
    assert hosts.requests[0].headers["authorization"] == "Bearer sk-local-secret"
    registry = hosts.registry(**DEFAULT)
    assert registry.route("gpt-4o").context_window == 131_072
    assert registry.prices("gpt-4o").output_per_million == 10.0  # type: ignore[union-attr]
    assert registry.prices("unknown") is None


def test_any_other_name_goes_unchanged_to_the_default_upstream() -> None:
    hosts = Hosts(default=[TEXT])
    route = hosts.registry(**DEFAULT).route("my-fine-tune:v2")
    run(route, "my-fine-tune:v2")
    assert hosts.seen() == [("default.test", "my-fine-tune:v2")]
    assert hosts.requests[0].headers["authorization"] == "Bearer sk-default"


def test_without_a_default_unknown_names_get_the_configure_message() -> None:
    with pytest.raises(UpstreamFailure) as caught:
        Hosts().registry(config=None).route("gpt-4o")
    assert caught.value.code == "server_error"
    assert caught.value.message == (
        "No upstream is configured for model 'gpt-4o'. Set THREADLINE_UPSTREAM_BASE_URL (and "
        "THREADLINE_UPSTREAM_API_KEY), or map the model in THREADLINE_CONFIG."
    )
    assert Hosts().registry(config=CONFIG.replace("[gpt-4o-mini]", "[solo]")).route("solo")


def test_a_key_without_a_base_url_means_openai() -> None:
    registry = Hosts().registry(config=None, default_api_key="sk-x")
    assert registry.has_default
    with pytest.raises(ConfigError, match="THREADLINE_UPSTREAM_BASE_URL"):
        Hosts().registry(config=None, default_base_url="file:///etc/passwd")


def test_from_settings_reads_the_yaml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(CONFIG)
    monkeypatch.setenv("LOCAL_KEY", "sk-from-env")
    settings = Settings(
        upstream_base_url="http://default.test/v1",
        upstream_api_key=SecretStr("sk-default"),
        config=path,
    )
    registry = ModelRegistry.from_settings(settings)
    assert registry.configured_models() == ["gpt-4o", "solo"]
    assert registry.route("gpt-4o").context_window == 131_072
    asyncio.run(registry.aclose())


def test_routes_and_clients_are_built_once() -> None:
    registry = Hosts().registry(**DEFAULT)
    assert registry.route("gpt-4o") is registry.route("gpt-4o")
    a, b = registry.route("a").provider, registry.route("b").provider
    assert a.provider is b.provider  # type: ignore[attr-defined]  # one connection pool


# --- fallbacks -------------------------------------------------------------------------------


def test_a_primary_failing_before_output_falls_back() -> None:
    hosts = Hosts(local=[status(503)], default=[TEXT])
    deltas = run(hosts.registry(**DEFAULT).route("gpt-4o"), "gpt-4o")
    assert deltas[0] == ChatDelta(text="Hel")
    assert hosts.seen() == [("local.test", "llama3.1:8b"), ("default.test", "gpt-4o-mini")]


def test_a_primary_failing_after_output_does_not_fall_back() -> None:
    hosts = Hosts(local=[stream(chunk("partial"), done=False)], default=[TEXT])
    with pytest.raises(UpstreamFailure, match="after output had started"):
        run(hosts.registry(**DEFAULT).route("gpt-4o"), "gpt-4o")
    assert len(hosts.requests) == 1


def test_when_every_fallback_fails_the_last_failure_is_raised() -> None:
    hosts = Hosts(local=[status(503)], default=[status(429)])
    with pytest.raises(UpstreamFailure) as caught:
        run(hosts.registry(**DEFAULT).route("gpt-4o"), "gpt-4o")
    assert caught.value.code == "rate_limit_exceeded" and len(hosts.requests) == 2


def test_closing_a_fallback_stream_closes_the_provider_stream() -> None:
    closed: list[bool] = []

    class Endless:
        async def stream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
            try:
                while True:
                    yield ChatDelta(text="x")
            finally:
                closed.append(True)

    async def go() -> None:
        deltas = FallbackProvider([Endless()]).stream(ChatRequest(model="m", messages=[]))
        await anext(deltas)
        await deltas.aclose()
        assert closed == [True]

    asyncio.run(go())


def test_a_fallback_needing_the_missing_default_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"gpt-4o-mini.*THREADLINE_UPSTREAM_BASE_URL"):
        Hosts().registry()


# --- the config file -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "reason"),
    [
        ("file:///etc/passwd", "http:// or https://"),
        ("gopher://x.test/", "http:// or https://"),
        ("http://user:pw@x.test/v1", "credentials"),
        ("http://169.254.169.254/latest", "link-local"),
        ("http://[fe80::1]/v1", "link-local"),
        ("http:///v1", "no host"),
    ],
)
def test_bad_base_urls_are_rejected_at_load_time(base_url: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason) as caught:
        parse_config(f"providers: {{p: {{base_url: '{base_url}'}}}}")
    assert "pw" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("modles: {}", "modles: unknown key"),
        ("providers: {p: {base_url: 'http://a', api_base: 'http://b'}}", "api_base: unknown"),
        ("models: {m: {provider: default, extra_body: {}}}", "models.m.extra_body: unknown"),
        ("models: {m: {provider: nowhere}}", "unknown provider 'nowhere'"),
        ("models: {m: {fallbacks: [m]}}", "its own fallback"),
        ("providers: {default: {base_url: 'http://a'}}", "reserved"),
        ("models: {m: {context_window: 0}}", "context_window"),
        ("- just a list", "mapping"),
    ],
)
def test_invalid_config_is_rejected_with_its_location(text: str, where: str) -> None:
    with pytest.raises(ConfigError, match=where):
        parse_config(text)


def test_unsafe_yaml_tags_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    marker = tmp_path / "pwned"
    path.write_text(f"models: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigError, match="constructor"):
        load_config(path)
    assert not marker.exists()


def test_the_api_key_comes_from_the_named_variable_and_never_shows_in_errors() -> None:
    config = parse_config("providers: {p: {base_url: 'http://a.test', api_key_env: P_KEY}}")
    assert config.providers["p"].resolve_api_key("p", {"P_KEY": "sk-p"}) == "sk-p"
    with pytest.raises(ConfigError, match="P_KEY"):
        config.providers["p"].resolve_api_key("p", {})
    inline = parse_config("providers: {p: {base_url: 'http://a.test', api_key: sk-inline-9999}}")
    assert "sk-inline" not in repr(inline)
    with pytest.raises(ConfigError, match="not both") as caught:
        parse_config("providers: {p: {base_url: 'http://a', api_key: sk-9, api_key_env: K}}")
    assert "sk-9" not in str(caught.value)


def test_an_empty_or_missing_file(tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_text("")
    assert load_config(tmp_path / "empty.yaml").models == {}
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
