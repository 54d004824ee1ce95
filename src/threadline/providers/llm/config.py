"""The ``THREADLINE_CONFIG`` YAML file: named upstream providers and the models they serve.

```yaml
providers:
  local:
    base_url: http://127.0.0.1:11434/v1
    api_key_env: OLLAMA_KEY          # the key is read from this environment variable
  openai:
    base_url: https://api.openai.com/v1
    api_key_env: OPENAI_API_KEY
    responses: native                # serves the Responses API itself (default: engine)
  claude:
    kind: anthropic                  # speaks Anthropic's Messages API (default: openai)
    base_url: https://api.anthropic.com/v1
    api_key_env: ANTHROPIC_API_KEY
    anthropic_version: "2023-06-01"  # the default
models:
  gpt-4o:
    provider: local                  # or "default": THREADLINE_UPSTREAM_BASE_URL / _API_KEY
    upstream_model: llama3.1:8b      # defaults to the model name
    context_window: 131072           # default 128000
    fallbacks: [gpt-4o-mini]         # other model names, tried before any output was sent
    prices: {input_per_million: 2.5, output_per_million: 10.0}
charges:                             # USD beyond tokens (these are the defaults)
  code_interpreter_session: 0.03
  vector_store_gb_day: 0.10          # per GB-day beyond the free allowance
  vector_store_free_gb: 1
  thread: 0                          # an optional fee per thread
```

The file is read with ``yaml.safe_load`` (no Python tags), unknown keys are errors, and upstream
URLs must be plain ``http``/``https`` without credentials. Errors never quote a key."""

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from threadline.records.anthropic import ANTHROPIC_VERSION

DEFAULT_PROVIDER = "default"
DEFAULT_CONTEXT_WINDOW = 128_000


class ConfigError(ValueError):
    """The configuration cannot be used; the message says what to fix and quotes no secret."""


def validate_base_url(url: str) -> str:
    """An upstream base URL: ``http``/``https`` with a host, no ``user:password@``, not a
    link-local address (cloud metadata endpoints). Returns it without a trailing slash."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ValueError("base_url is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        scheme = parts.scheme or "none"
        raise ValueError(f"base_url must be an http:// or https:// URL (got scheme {scheme!r})")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "base_url must not contain credentials (user:password@); use api_key_env instead"
        )
    if not host:
        raise ValueError("base_url has no host")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and (address.is_link_local or address.is_multicast):
        raise ValueError("base_url points at a link-local or multicast address")
    if parts.query or parts.fragment:
        raise ValueError("base_url must not have a query string or fragment")
    return url.strip().rstrip("/")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Prices(_Strict):
    """USD per million tokens; kept for the gateway's cost accounting."""

    input_per_million: float = Field(default=0.0, ge=0)
    output_per_million: float = Field(default=0.0, ge=0)


class Charges(_Strict):
    """USD charged beyond tokens, as the Assistants API billed them."""

    code_interpreter_session: float = Field(default=0.03, ge=0)
    vector_store_gb_day: float = Field(default=0.10, ge=0)
    vector_store_free_gb: float = Field(default=1.0, ge=0)
    thread: float = Field(default=0.0, ge=0)


class ProviderConfig(_Strict):
    # "openai": an OpenAI-compatible API (Chat Completions, Embeddings); "anthropic": Anthropic's
    # Messages API, translated for every OpenAI-shaped endpoint and runs, and passed through
    # untouched by /v1/messages.
    kind: Literal["openai", "anthropic"] = "openai"
    base_url: str
    anthropic_version: str = Field(default=ANTHROPIC_VERSION, min_length=1, max_length=64)
    api_key_env: str | None = Field(default=None, min_length=1)
    api_key: SecretStr | None = None  # accepted, but a key in a file is discouraged
    connect_timeout: float | None = Field(default=None, gt=0)
    read_timeout: float | None = Field(default=None, gt=0)
    max_retries: int | None = Field(default=None, ge=0, le=10)
    # "native": the upstream serves /v1/responses and /v1/conversations itself, so a project
    # whose ``assistants_passthrough`` names this provider has them forwarded there too;
    # "engine": they are executed here, by the run engine, whoever the project's provider is.
    responses: Literal["engine", "native"] = "engine"

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        return validate_base_url(value)

    @model_validator(mode="after")
    def _one_key_source(self) -> "ProviderConfig":
        if self.api_key_env is not None and self.api_key is not None:
            raise ValueError("give either api_key_env or api_key, not both")
        return self

    def resolve_api_key(self, name: str, environ: Mapping[str, str]) -> str | None:
        if self.api_key is not None:
            return self.api_key.get_secret_value() or None
        if self.api_key_env is None:
            return None
        value = environ.get(self.api_key_env)
        if not value:
            raise ConfigError(
                f"provider {name!r}: environment variable {self.api_key_env} "
                "(its api_key_env) is not set"
            )
        return value


class ModelConfig(_Strict):
    provider: str = DEFAULT_PROVIDER
    upstream_model: str | None = Field(default=None, min_length=1)
    context_window: int = Field(default=DEFAULT_CONTEXT_WINDOW, gt=0)
    fallbacks: tuple[str, ...] = ()
    prices: Prices | None = None


class ThreadlineConfig(_Strict):
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    charges: Charges = Field(default_factory=Charges)

    @model_validator(mode="after")
    def _check_references(self) -> "ThreadlineConfig":
        if DEFAULT_PROVIDER in self.providers:
            raise ValueError(
                f"providers: {DEFAULT_PROVIDER!r} is reserved for THREADLINE_UPSTREAM_BASE_URL"
            )
        for name, model in self.models.items():
            if model.provider != DEFAULT_PROVIDER and model.provider not in self.providers:
                raise ValueError(f"models.{name}: unknown provider {model.provider!r}")
            if name in model.fallbacks:
                raise ValueError(f"models.{name}: a model cannot be its own fallback")
        return self


def _describe(error: ValidationError) -> str:
    # Our own wording: pydantic's str() quotes the input, which may be a key.
    lines = []
    for item in error.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{where}: {message}")
    return "; ".join(lines)


def parse_config(text: str, *, source: str = "THREADLINE_CONFIG") -> ThreadlineConfig:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{source}: {problem}{where}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping")
    try:
        return ThreadlineConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc)}") from None


def load_config(path: str | os.PathLike[str]) -> ThreadlineConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"THREADLINE_CONFIG: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"THREADLINE_CONFIG: {path} is not UTF-8 text") from None
    return parse_config(text, source=str(path))
