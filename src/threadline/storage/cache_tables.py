"""The ``response_cache`` table: model answers kept by the exact-match response cache when Redis
is not configured (``storage.cache_store``)."""

from sqlalchemy import BigInteger, Boolean, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from threadline.storage.tables import Base, IdType


class ResponseCacheRow(Base):
    __tablename__ = "response_cache"
    __table_args__ = (Index("ix_response_cache_expires_at", "expires_at"),)

    # SHA-256 (hex) of route, project id, model and canonical body: never shared by projects.
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(IdType)
    expires_at: Mapped[int] = mapped_column(BigInteger)  # Unix milliseconds
    stream: Mapped[bool] = mapped_column(Boolean)  # ``body`` is an SSE stream, replayed as one
    content_type: Mapped[str] = mapped_column(String(128))
    body: Mapped[bytes] = mapped_column(LargeBinary)
