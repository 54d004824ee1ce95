"""Table definitions. Column names are the wire names, so a row's mapping is already most of the
API object; JSON columns hold the nested parts (tools, content, metadata…) verbatim."""

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from threadline.records.jsonvalue import JsonArray, JsonObject, JsonValue, Metadata

# Ids sort by creation time (see ids.py); PostgreSQL must compare them bytewise, not by locale.
IdType = String(64).with_variant(String(64, collation="C"), "postgresql")
JsonType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    """Every JSON column names ``JsonType``: its annotation says what the document holds."""


class ProjectRow(Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    # Gateway limits shared by every key of the project (NULL: unlimited), see gateway/limits.py.
    rpm: Mapped[int | None] = mapped_column(Integer)
    tpm: Mapped[int | None] = mapped_column(Integer)
    max_parallel: Mapped[int | None] = mapped_column(Integer)
    # Budgets are kept in nano-USD (1e-9): integer sums are exact on every backend.
    budget_nanos: Mapped[int | None] = mapped_column(BigInteger)
    budget_period: Mapped[str | None] = mapped_column(String(8))
    models: Mapped[list[str] | None] = mapped_column(JsonType)
    # Name of a THREADLINE_CONFIG provider that serves this project's Assistants API unchanged.
    assistants_passthrough: Mapped[str | None] = mapped_column(String(256))
    # Seconds model answers are kept in the response cache (NULL: not cached).
    cache_ttl: Mapped[int | None] = mapped_column(Integer)


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    project_id: Mapped[str] = mapped_column(IdType, ForeignKey("projects.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(256))
    # SHA-256 of the secret: keys are 192-bit random, so a fast hash is safe and lookups stay O(1).
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_hint: Mapped[str] = mapped_column(String(32))
    rpm: Mapped[int | None] = mapped_column(Integer)
    tpm: Mapped[int | None] = mapped_column(Integer)
    models: Mapped[list[str] | None] = mapped_column(JsonType)
    created_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)
    max_parallel: Mapped[int | None] = mapped_column(Integer)
    budget_nanos: Mapped[int | None] = mapped_column(BigInteger)
    budget_period: Mapped[str | None] = mapped_column(String(8))
    expires_at: Mapped[int | None] = mapped_column(BigInteger)
    ip_allowlist: Mapped[list[str] | None] = mapped_column(JsonType)
    metadata_: Mapped[Metadata | None] = mapped_column("metadata", JsonType)
    rotated_at: Mapped[int | None] = mapped_column(BigInteger)
    # The response cache's TTL in seconds; NULL: the project's, 0: not cached.
    cache_ttl: Mapped[int | None] = mapped_column(Integer)


class AssistantRow(Base):
    __tablename__ = "assistants"
    __table_args__ = (Index("ix_assistants_project_id_id", "project_id", "id"),)

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    project_id: Mapped[str] = mapped_column(IdType)
    created_at: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(String(512))
    model: Mapped[str] = mapped_column(String(256))
    instructions: Mapped[str | None] = mapped_column(Text)
    tools: Mapped[JsonArray] = mapped_column(JsonType)
    tool_resources: Mapped[JsonObject | None] = mapped_column(JsonType)
    metadata_: Mapped[Metadata | None] = mapped_column("metadata", JsonType)
    temperature: Mapped[float | None] = mapped_column(Float)
    top_p: Mapped[float | None] = mapped_column(Float)
    response_format: Mapped[JsonValue] = mapped_column(JsonType)
    reasoning_effort: Mapped[str | None] = mapped_column(String(16))


class ThreadRow(Base):
    __tablename__ = "threads"
    __table_args__ = (Index("ix_threads_project_id_id", "project_id", "id"),)

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    project_id: Mapped[str] = mapped_column(IdType)
    created_at: Mapped[int] = mapped_column(BigInteger)
    tool_resources: Mapped[JsonObject | None] = mapped_column(JsonType)
    metadata_: Mapped[Metadata | None] = mapped_column("metadata", JsonType)
    # The run that holds the thread (queued … cancelling), NULL when idle. Taking it is one
    # conditional UPDATE, so two runs can never hold one thread, on any backend.
    active_run_id: Mapped[str | None] = mapped_column(IdType)
    # "thread" (Assistants), "conversation", or "chain": the hidden thread of a response chain.
    kind: Mapped[str] = mapped_column(String(16), default="thread", server_default="thread")


class MessageRow(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_thread_id_id", "thread_id", "id"),
        Index("ix_messages_run_id", "run_id"),
    )

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    project_id: Mapped[str] = mapped_column(IdType)
    thread_id: Mapped[str] = mapped_column(IdType, ForeignKey("threads.id", ondelete="CASCADE"))
    created_at: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    incomplete_details: Mapped[JsonObject | None] = mapped_column(JsonType)
    completed_at: Mapped[int | None] = mapped_column(BigInteger)
    incomplete_at: Mapped[int | None] = mapped_column(BigInteger)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[JsonArray] = mapped_column(JsonType)
    assistant_id: Mapped[str | None] = mapped_column(IdType)
    run_id: Mapped[str | None] = mapped_column(IdType)
    attachments: Mapped[JsonArray | None] = mapped_column(JsonType)
    metadata_: Mapped[Metadata | None] = mapped_column("metadata", JsonType)
    # The message's prompt tokens (engine.chat_turns.message_tokens), stored when it is written
    # finished; NULL while it is written, and for rows older than the column until a run counts
    # them. A run reads these newest first, and the content only of the messages it sends.
    tokens: Mapped[int | None] = mapped_column(Integer)


class RunRow(Base):
    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_thread_id_id", "thread_id", "id"),
        Index("ix_runs_status", "status"),
    )

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    project_id: Mapped[str] = mapped_column(IdType)
    thread_id: Mapped[str] = mapped_column(IdType, ForeignKey("threads.id", ondelete="CASCADE"))
    assistant_id: Mapped[str] = mapped_column(IdType)
    created_at: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(32))
    required_action: Mapped[JsonObject | None] = mapped_column(JsonType)
    last_error: Mapped[JsonObject | None] = mapped_column(JsonType)
    expires_at: Mapped[int | None] = mapped_column(BigInteger)
    started_at: Mapped[int | None] = mapped_column(BigInteger)
    cancelled_at: Mapped[int | None] = mapped_column(BigInteger)
    failed_at: Mapped[int | None] = mapped_column(BigInteger)
    completed_at: Mapped[int | None] = mapped_column(BigInteger)
    incomplete_details: Mapped[JsonObject | None] = mapped_column(JsonType)
    model: Mapped[str] = mapped_column(String(256))
    instructions: Mapped[str | None] = mapped_column(Text)
    tools: Mapped[JsonArray] = mapped_column(JsonType)
    tool_resources: Mapped[JsonObject | None] = mapped_column(JsonType)
    metadata_: Mapped[Metadata | None] = mapped_column("metadata", JsonType)
    usage: Mapped[JsonObject | None] = mapped_column(JsonType)
    temperature: Mapped[float | None] = mapped_column(Float)
    top_p: Mapped[float | None] = mapped_column(Float)
    max_prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    max_completion_tokens: Mapped[int | None] = mapped_column(Integer)
    truncation_strategy: Mapped[JsonObject | None] = mapped_column(JsonType)
    tool_choice: Mapped[JsonValue] = mapped_column(JsonType)
    parallel_tool_calls: Mapped[bool] = mapped_column(Boolean)
    response_format: Mapped[JsonValue] = mapped_column(JsonType)
    reasoning_effort: Mapped[str | None] = mapped_column(String(16))
    # Execution bookkeeping, never shown: who runs it, until when, and how many times it started.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[float | None] = mapped_column(Float)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    # The key that created the run: its usage is metered against that key's limits and budget.
    api_key_id: Mapped[str | None] = mapped_column(IdType)
    # "run" (Assistants) or "response": a response's run ends when it calls functions.
    kind: Mapped[str] = mapped_column(String(16), default="run", server_default="run")
    # A response's cap on built-in tool calls (NULL: none).
    max_tool_calls: Mapped[int | None] = mapped_column(Integer)


class RunStepRow(Base):
    __tablename__ = "run_steps"
    __table_args__ = (
        Index("ix_run_steps_run_id_id", "run_id", "id"),
        Index("ix_run_steps_thread_id_id", "thread_id", "id"),
        # A thread's tool steps, without walking its message-creation steps.
        Index("ix_run_steps_thread_id_type_id", "thread_id", "type", "id"),
    )

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    project_id: Mapped[str] = mapped_column(IdType)
    run_id: Mapped[str] = mapped_column(IdType, ForeignKey("runs.id", ondelete="CASCADE"))
    thread_id: Mapped[str] = mapped_column(IdType)
    assistant_id: Mapped[str] = mapped_column(IdType)
    created_at: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    step_details: Mapped[JsonObject] = mapped_column(JsonType)
    last_error: Mapped[JsonObject | None] = mapped_column(JsonType)
    expired_at: Mapped[int | None] = mapped_column(BigInteger)
    cancelled_at: Mapped[int | None] = mapped_column(BigInteger)
    failed_at: Mapped[int | None] = mapped_column(BigInteger)
    completed_at: Mapped[int | None] = mapped_column(BigInteger)
    usage: Mapped[JsonObject | None] = mapped_column(JsonType)
    metadata_: Mapped[Metadata | None] = mapped_column("metadata", JsonType)


class ResponseRow(Base):
    """The echo of a ``POST /v1/responses`` request; its state (status, usage, lease) is its
    run's, 1:1 by ``run_id``. ``input_first``/``input_last`` bound the messages its input
    became on its thread."""

    __tablename__ = "responses"
    __table_args__ = (
        Index("ix_responses_thread_id_id", "thread_id", "id"),
        Index("ix_responses_project_id_id", "project_id", "id"),
    )

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    project_id: Mapped[str] = mapped_column(IdType)
    run_id: Mapped[str] = mapped_column(
        IdType, ForeignKey("runs.id", ondelete="CASCADE"), unique=True
    )
    thread_id: Mapped[str] = mapped_column(IdType)
    created_at: Mapped[int] = mapped_column(BigInteger)
    previous_response_id: Mapped[str | None] = mapped_column(IdType)
    conversation_id: Mapped[str | None] = mapped_column(IdType)
    instructions: Mapped[str | None] = mapped_column(Text)
    text: Mapped[JsonObject] = mapped_column(JsonType)
    tools: Mapped[JsonArray] = mapped_column(JsonType)
    tool_choice: Mapped[JsonValue] = mapped_column(JsonType)
    include: Mapped[list[str]] = mapped_column(JsonType)
    reasoning: Mapped[JsonObject] = mapped_column(JsonType)
    truncation: Mapped[str] = mapped_column(String(16))
    max_output_tokens: Mapped[int | None] = mapped_column(Integer)
    top_logprobs: Mapped[int | None] = mapped_column(Integer)
    store: Mapped[bool] = mapped_column(Boolean)
    background: Mapped[bool] = mapped_column(Boolean)
    user: Mapped[str | None] = mapped_column(String(512))
    safety_identifier: Mapped[str | None] = mapped_column(String(512))
    prompt_cache_key: Mapped[str | None] = mapped_column(String(512))
    service_tier: Mapped[str | None] = mapped_column(String(16))
    metadata_: Mapped[Metadata] = mapped_column("metadata", JsonType)
    container_id: Mapped[str | None] = mapped_column(String(64))
    input_first: Mapped[str | None] = mapped_column(IdType)
    input_last: Mapped[str | None] = mapped_column(IdType)
    output: Mapped[JsonArray | None] = mapped_column(JsonType)
    next_sequence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class UsageRow(Base):
    """Usage and cost per UTC day, project, key, model and meter, summed as requests come in.

    ``meter`` says what was used: ``chat.completions``, ``messages``, ``embeddings``, ``runs``
    (tokens), or a charge beyond tokens (``code_interpreter.sessions``,
    ``vector_stores.gb_days``, ``threads``), whose amount is ``quantity``."""

    __tablename__ = "usage"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, UTC
    project_id: Mapped[str] = mapped_column(IdType, primary_key=True)
    api_key_id: Mapped[str] = mapped_column(IdType, primary_key=True)  # "" when no key
    model: Mapped[str] = mapped_column(String(256), primary_key=True)  # "" when no model
    meter: Mapped[str] = mapped_column(String(64), primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    quantity: Mapped[float] = mapped_column(Float, default=0.0)
    cost_nanos: Mapped[int] = mapped_column(BigInteger, default=0)


class RequestLogRow(Base):
    """One line per request, written in batches off the request path."""

    __tablename__ = "request_logs"
    __table_args__ = (
        Index("ix_request_logs_created_at", "created_at"),
        Index("ix_request_logs_project_id_id", "project_id", "id"),
    )

    id: Mapped[str] = mapped_column(IdType, primary_key=True)  # the request id (time-ordered)
    created_at: Mapped[int] = mapped_column(BigInteger)  # Unix milliseconds
    method: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(2048))
    status: Mapped[int] = mapped_column(Integer)
    api_key_id: Mapped[str | None] = mapped_column(IdType)
    project_id: Mapped[str | None] = mapped_column(IdType)
    model: Mapped[str | None] = mapped_column(String(256))
    input_tokens: Mapped[int | None] = mapped_column(BigInteger)
    output_tokens: Mapped[int | None] = mapped_column(BigInteger)
    cost_nanos: Mapped[int | None] = mapped_column(BigInteger)
    latency_ms: Mapped[float] = mapped_column(Float)
    error_code: Mapped[str | None] = mapped_column(String(64))
    cache: Mapped[str | None] = mapped_column(String(8))  # "hit" or "miss"; NULL: not cached
    request_body: Mapped[str | None] = mapped_column(Text)
    response_body: Mapped[str | None] = mapped_column(Text)


class BilledRunRow(Base):
    """What was billed once and must not be again: runs of an Assistants pass-through upstream
    (a run seen finished many times is billed once), and hours of vector-store storage
    (``storage:{project}:{hour}``, whichever replica sees the hour first)."""

    __tablename__ = "billed_runs"

    run_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    project_id: Mapped[str] = mapped_column(IdType)
    billed_at: Mapped[int] = mapped_column(BigInteger)


class IdempotencyKeyRow(Base):
    """A POST sent with an ``Idempotency-Key``: the request's fingerprint and, once answered,
    the response to replay to a retry (``status`` null while the first request is in flight)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_created_at", "created_at"),)

    project_id: Mapped[str] = mapped_column(IdType, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(128))
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
