"""The ``items`` table: a conversation's items that are not thread messages (a conversation is a
thread; its user and assistant messages are rows of ``messages``)."""

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from threadline.records.responses import Item
from threadline.storage.tables import Base, IdType, JsonType


class ItemTableRow(Base):
    __tablename__ = "items"
    __table_args__ = (
        Index("ix_items_thread_id_position", "thread_id", "position"),
        Index("ix_items_thread_id_call_id", "thread_id", "call_id"),
    )

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    project_id: Mapped[str] = mapped_column(IdType)
    thread_id: Mapped[str] = mapped_column(IdType, ForeignKey("threads.id", ondelete="CASCADE"))
    # The id's creation key: messages and items of a thread are merged by it.
    position: Mapped[str] = mapped_column(IdType)
    response_id: Mapped[str | None] = mapped_column(IdType)
    run_id: Mapped[str | None] = mapped_column(IdType)
    step_id: Mapped[str | None] = mapped_column(IdType)
    type: Mapped[str] = mapped_column(String(32))
    call_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str | None] = mapped_column(String(16))
    body: Mapped[Item] = mapped_column(JsonType)
    created_at: Mapped[int] = mapped_column(BigInteger)
