"""The console's list of a project's threads (``storage.thread_list``), each with its newest
run, read in one unit of work."""

from threadline.schemas.console_threads import ConsoleThread, console_thread, last_run
from threadline.schemas.objects import ListPage, list_page
from threadline.storage.database import Connection, Database
from threadline.storage.pagination import PageRequest
from threadline.storage.thread_list import latest_runs, list_threads


class ConsoleThreadService:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def list(self, project_id: str, page: PageRequest, search: str | None) -> ListPage:
        threads, has_more = await self._db.read(_list, project_id, page, search)
        return list_page(threads, has_more)


def _list(
    connection: Connection, project_id: str, page: PageRequest, search: str | None
) -> tuple[list[ConsoleThread], bool]:
    found = list_threads(connection, project_id, page, search)
    latest = latest_runs(connection, project_id, [thread["id"] for thread in found.items])
    threads = []
    for thread in found.items:
        run = latest.get(thread["id"])
        summary = (
            last_run(run["id"], run["status"], run["model"], run["created_at"]) if run else None
        )
        threads.append(console_thread(thread, summary))
    return threads, found.has_more
