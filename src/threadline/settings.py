"""All configuration in one place. ``cli.py`` builds it from the environment; tests pass their
own."""

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="THREADLINE_", extra="ignore")

    data_dir: Path = Path("./threadline-data")
    database_url: str | None = Field(
        default=None,
        description="sqlite+aiosqlite:///… (default, under data_dir) or postgresql+asyncpg://…",
    )
    master_key: SecretStr | None = None
    upstream_base_url: str | None = None
    upstream_api_key: SecretStr | None = None
    config: Path | None = None

    # Largest JSON request body. Instructions alone may be 256,000 characters (~1 MiB as UTF-8).
    max_json_body_bytes: int = 4 * 1024 * 1024
    # How long a verified API key is trusted from the in-process cache before it is re-read;
    # revocation through this process is immediate, through another replica within this bound.
    key_cache_seconds: float = 5.0
    # Connection pool size for PostgreSQL (SQLite uses one writer connection and a reader pool).
    database_pool_size: int = 10
    log_requests: bool = False

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'threadline.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")
