"""All configuration in one place. ``cli.py`` builds it from the environment; tests pass their
own."""

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="THREADLINE_", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Path("./threadline-data")
    database_url: str | None = Field(
        default=None,
        description="sqlite+aiosqlite:///… (default, under data_dir) or postgresql+asyncpg://…",
    )
    master_key: SecretStr | None = None
    # The default provider; the OpenAI SDK's own variables are honoured when ours are not set.
    upstream_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("THREADLINE_UPSTREAM_BASE_URL", "OPENAI_BASE_URL"),
    )
    upstream_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("THREADLINE_UPSTREAM_API_KEY", "OPENAI_API_KEY"),
    )
    config: Path | None = None

    # Largest JSON request body. Instructions alone may be 256,000 characters (~1 MiB as UTF-8).
    max_json_body_bytes: int = 4 * 1024 * 1024
    # How long a verified API key is trusted from the in-process cache before it is re-read;
    # revocation through this process is immediate, through another replica within this bound.
    key_cache_seconds: float = 5.0
    # Connection pool size for PostgreSQL (SQLite uses one writer connection and a reader pool).
    database_pool_size: int = 10
    log_requests: bool = False
    # Upstream calls: connect timeout, and the longest wait for the first byte or between reads.
    upstream_connect_timeout: float = 10.0
    upstream_read_timeout: float = 120.0
    # Retries of a failed upstream call before any output (429s honour Retry-After up to
    # upstream_max_retry_wait seconds; a longer ask fails the run at once).
    upstream_max_retries: int = 2
    upstream_max_retry_wait: float = 60.0
    # A run not finished (or waiting for tool outputs) this long after creation expires.
    run_expiry_seconds: int = 600
    # How long a worker's claim on a run lasts without renewal: after a crash, its runs are
    # failed (and their threads released) within about this long.
    run_lease_seconds: float = 30.0
    # On SIGTERM, how long running runs may take to finish before they are ended as failed.
    shutdown_grace_seconds: float = 20.0

    # Embeddings for file_search. Unset base URL: the embedded all-MiniLM-L6-v2 (offline). Set:
    # any OpenAI-compatible /v1/embeddings endpoint, with this key and model.
    embeddings_base_url: str | None = None
    embeddings_api_key: SecretStr | None = None
    embeddings_model: str | None = None
    # The endpoint model's input limit (tokens); longer passages are embedded as windows.
    embeddings_max_input_tokens: int = Field(default=8191, ge=16)
    embeddings_batch_size: int = Field(default=64, ge=1, le=2048)
    # CPU threads the embedded model's matrix products use (the rest keep serving requests).
    embeddings_threads: int = Field(default=1, ge=1, le=64)
    # Document parsing runs in child processes with these limits (a hostile file fails alone).
    parse_timeout_seconds: float = Field(default=120.0, gt=0)
    parse_memory_mb: int = Field(default=1024, ge=128)
    parse_concurrency: int = Field(default=2, ge=1)

    @field_validator(
        "master_key",
        "upstream_api_key",
        "upstream_base_url",
        "database_url",
        "embeddings_base_url",
        "embeddings_api_key",
        "embeddings_model",
        mode="before",
    )
    @classmethod
    def _empty_means_unset(cls, value: object) -> object:
        # `THREADLINE_MASTER_KEY=` in a shell or compose file means "no master key", not "".
        return None if value == "" else value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'threadline.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")
