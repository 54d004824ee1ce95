"""Table definitions. Column names are the wire names, so a row's mapping is already most of the
API object; JSON columns hold the nested parts (tools, content, metadata…) verbatim."""

from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Ids sort by creation time (see ids.py); PostgreSQL must compare them bytewise, not by locale.
IdType = String(64).with_variant(String(64, collation="C"), "postgresql")
JsonType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JsonType, list[Any]: JsonType}


class ProjectRow(Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


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
    models: Mapped[list[Any] | None] = mapped_column(JsonType)
    created_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)


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
    tools: Mapped[list[Any]] = mapped_column(JsonType)
    tool_resources: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JsonType)
    temperature: Mapped[float | None] = mapped_column(Float)
    top_p: Mapped[float | None] = mapped_column(Float)
    response_format: Mapped[Any | None] = mapped_column(JsonType)
    reasoning_effort: Mapped[str | None] = mapped_column(String(16))


class ThreadRow(Base):
    __tablename__ = "threads"
    __table_args__ = (Index("ix_threads_project_id_id", "project_id", "id"),)

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    project_id: Mapped[str] = mapped_column(IdType)
    created_at: Mapped[int] = mapped_column(BigInteger)
    tool_resources: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JsonType)


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
    incomplete_details: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    completed_at: Mapped[int | None] = mapped_column(BigInteger)
    incomplete_at: Mapped[int | None] = mapped_column(BigInteger)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[list[Any]] = mapped_column(JsonType)
    assistant_id: Mapped[str | None] = mapped_column(IdType)
    run_id: Mapped[str | None] = mapped_column(IdType)
    attachments: Mapped[list[Any] | None] = mapped_column(JsonType)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JsonType)
