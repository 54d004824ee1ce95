"""The kept stream of a background response (``response_events``): each event's bytes exactly
as they were sent, numbered by ``sequence_number``, so a client that lost its stream resumes it
from any number on any replica. Deleted with the response (cascade)."""

from dataclasses import dataclass

from sqlalchemy import (
    Connection,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from threadline.storage.tables import Base, IdType, ResponseRow


class ResponseEventRow(Base):
    __tablename__ = "response_events"

    response_id: Mapped[str] = mapped_column(
        IdType, ForeignKey("responses.id", ondelete="CASCADE"), primary_key=True
    )
    sequence_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)


@dataclass(frozen=True, slots=True)
class KeptEvent:
    """One event of a response's stream, as sent."""

    sequence_number: int
    type: str
    data: bytes


_events = ResponseEventRow.__table__
_responses = ResponseRow.__table__
_INSERT = insert(_events)
_AFTER = (
    select(_events.c.sequence_number, _events.c.type, _events.c.data)
    .where(_events.c.response_id == bindparam("response"))
    .where(_events.c.sequence_number > bindparam("after"))
    .order_by(_events.c.sequence_number)
)
# Moves forward only: batches of one attempt may commit out of order.
_ADVANCE = (
    update(_responses)
    .where(_responses.c.id == bindparam("response"))
    .where(_responses.c.next_sequence < bindparam("next"))
    .values(next_sequence=bindparam("next"))
)
_NEXT = select(_responses.c.next_sequence).where(_responses.c.id == bindparam("response"))


def append_events(connection: Connection, response_id: str, events: list[KeptEvent]) -> None:
    """Keep ``events`` (numbered consecutively or not) and move the response's
    ``next_sequence`` past them."""
    if not events:
        return
    connection.execute(
        _INSERT,
        [
            {
                "response_id": response_id,
                "sequence_number": e.sequence_number,
                "type": e.type,
                "data": e.data,
            }
            for e in events
        ],
    )
    last = max(e.sequence_number for e in events)
    connection.execute(_ADVANCE, {"response": response_id, "next": last + 1})


def events_after(connection: Connection, response_id: str, after: int) -> list[KeptEvent]:
    """The kept events numbered above ``after``, in order."""
    rows = connection.execute(_AFTER, {"response": response_id, "after": after})
    return [KeptEvent(row[0], row[1], bytes(row[2])) for row in rows]


def next_sequence(connection: Connection, response_id: str) -> int:
    return int(connection.execute(_NEXT, {"response": response_id}).scalar() or 0)
