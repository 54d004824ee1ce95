"""Rows of the gateway: projects, API keys, usage totals, the request log
(``storage.tables``)."""

from typing import Literal, TypeAlias, TypedDict

from threadline.records.jsonvalue import Metadata

BudgetPeriod: TypeAlias = Literal["day", "month"]


class LimitColumns(TypedDict):
    """A scope's limits (a key's or a project's); None: unlimited."""

    rpm: int | None
    tpm: int | None
    max_parallel: int | None
    budget_nanos: int | None  # nano-USD
    budget_period: str | None


class ProjectIdentity(TypedDict):
    id: str
    name: str
    created_at: int


class ProjectRecord(ProjectIdentity, LimitColumns):
    models: list[str] | None
    assistants_passthrough: str | None
    cache_ttl: int | None  # seconds; None: not cached


class ProjectColumns(TypedDict, total=False):
    """The settings a change of a project sets (only those given)."""

    rpm: int | None
    tpm: int | None
    max_parallel: int | None
    budget_nanos: int | None
    budget_period: str | None
    models: list[str] | None
    assistants_passthrough: str | None
    cache_ttl: int | None


class KeyOptionColumns(LimitColumns):
    name: str | None
    models: list[str] | None
    expires_at: int | None
    ip_allowlist: list[str] | None
    metadata: Metadata | None
    cache_ttl: int | None  # seconds; None: the project's, 0: not cached


class KeySecretColumns(TypedDict):
    key_hash: str  # SHA-256 of the secret
    key_hint: str


class NewKeyRecord(KeyOptionColumns, KeySecretColumns):
    """A key as created, before it is given its project."""

    id: str
    created_at: int
    revoked_at: int | None
    rotated_at: int | None


class KeyRecord(NewKeyRecord):
    project_id: str


class KeyRotation(KeySecretColumns):
    rotated_at: int


class KeyWithProject(KeyRecord):
    """A key row joined with its project's name and settings (``project_<column>``)."""

    project: str
    project_rpm: int | None
    project_tpm: int | None
    project_max_parallel: int | None
    project_budget_nanos: int | None
    project_budget_period: str | None
    project_models: list[str] | None
    project_assistants_passthrough: str | None
    project_cache_ttl: int | None


class UsageTotals(TypedDict):
    """One (day, project, key, model, meter) total, or what is added to it."""

    day: str  # YYYY-MM-DD, UTC
    project_id: str
    api_key_id: str  # "" when no key
    model: str  # "" when no model
    meter: str
    requests: int
    input_tokens: int
    output_tokens: int
    quantity: float
    cost_nanos: int


class UsageFilters(TypedDict):
    project_id: str | None
    api_key_id: str | None
    model: str | None
    meter: str | None
    since: str | None
    until: str | None


class GroupedUsage(TypedDict, total=False):
    """A usage report's row: the grouped columns asked for, and the sums."""

    day: str
    project_id: str
    api_key_id: str
    model: str
    meter: str
    requests: int
    input_tokens: int
    output_tokens: int
    quantity: float
    cost_nanos: int


class RequestLogRecord(TypedDict):
    id: str  # the request id
    created_at: int  # Unix milliseconds
    method: str
    path: str
    status: int
    api_key_id: str | None
    project_id: str | None
    model: str | None
    input_tokens: int | None
    output_tokens: int | None
    cost_nanos: int | None
    latency_ms: float
    error_code: str | None
    cache: str | None  # "hit" or "miss" when the key's answers are cached, else None
    request_body: str | None
    response_body: str | None


class LogFilters(TypedDict, total=False):
    """Exact matches, but ``status`` (a code, or a class like ``"4xx"``), ``since``/``until``
    (Unix ms) and ``before`` (a request id to page back from)."""

    project: str  # a project name, turned into its id
    project_id: str
    api_key_id: str
    model: str
    method: str
    path: str
    cache: str  # "hit" or "miss"
    status: int | str
    since: int
    until: int
    before: str


class BilledRun(TypedDict):
    run_id: str
    project_id: str
    billed_at: int


class CachedResponse(TypedDict):
    """One answer of the response cache (a ``response_cache`` row, or a Redis value)."""

    key: str  # SHA-256 (hex) of route, project id, model and canonical request body
    project_id: str
    expires_at: int  # Unix milliseconds
    stream: bool  # ``body`` is the SSE stream as the client got it, replayed as a stream
    content_type: str
    body: bytes
