"""Responses' rows (``responses``), and the thread rows a response is shown from: the messages
its input became, and the messages and tool steps its run wrote."""

from typing import cast

from sqlalchemy import Connection, bindparam, select

from threadline.ids import creation_key
from threadline.records.response_rows import StoredResponse
from threadline.records.threads import MessageRecord
from threadline.storage.items import Entry, KeyRange, list_entries
from threadline.storage.pagination import Page, PageRequest
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


def input_entries(
    connection: Connection, response: StoredResponse, page: PageRequest
) -> Page[Entry]:
    """A page of the messages and items a response's input became: those of its thread made
    from its first input row until its run (two range scans)."""
    first = response["input_first"]
    if first is None:
        return Page([], False)
    within = KeyRange(creation_key(first), creation_key(response["run_id"]))
    return list_entries(connection, response["project_id"], response["thread_id"], page, within)
