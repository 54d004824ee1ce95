"""Responses' rows (``responses``), and the thread rows a response is shown from: the messages
its input became, and the messages and tool steps its run wrote."""

from typing import cast

from sqlalchemy import Connection, bindparam, select

from threadline.records.response_rows import StoredResponse
from threadline.records.threads import MessageRecord
from threadline.storage.pagination import Page, PageRequest, finish_page, paginate
from threadline.storage.repositories import ScopedRepository, records
from threadline.storage.tables import MessageRow, ResponseRow

_responses = ResponseRow.__table__
_messages = MessageRow.__table__

# The newest response on a thread: the head of its chain (one probe of (thread_id, id)).
_HEAD = (
    select(_responses.c.id)
    .where(_responses.c.thread_id == bindparam("thread"))
    .order_by(_responses.c.id.desc())
    .limit(1)
)
_BY_RUN = select(_responses).where(_responses.c.run_id == bindparam("run"))
_MESSAGES_OF_RUN = (
    select(_messages).where(_messages.c.run_id == bindparam("run")).order_by(_messages.c.id)
)


class ResponseRepository(ScopedRepository[StoredResponse]):
    table = _responses  # type: ignore[assignment]

    def head_of_thread(self, connection: Connection, thread_id: str) -> str | None:
        return cast("str | None", connection.execute(_HEAD, {"thread": thread_id}).scalar())

    def of_run(self, connection: Connection, run_id: str) -> StoredResponse | None:
        found = records(connection.execute(_BY_RUN, {"run": run_id}))
        return cast(StoredResponse, found[0]) if found else None


def messages_of_run(connection: Connection, run_id: str) -> list[MessageRecord]:
    """The messages a run wrote, oldest first."""
    return cast(list[MessageRecord], records(connection.execute(_MESSAGES_OF_RUN, {"run": run_id})))


def input_messages(
    connection: Connection, response: StoredResponse, page: PageRequest
) -> Page[MessageRecord]:
    """A page of the messages a response's input became (one range scan of its thread)."""
    first, last = response["input_first"], response["input_last"]
    if first is None or last is None:
        return Page([], False)
    columns = _messages.c
    query = select(_messages).where(
        columns.thread_id == response["thread_id"], columns.id >= first, columns.id <= last
    )
    rows = records(connection.execute(paginate(query, columns.id, page)))
    return finish_page(cast(list[MessageRecord], rows), page)
