"""Run steps: list and retrieve, always through their run and thread."""

from threadline.errors import NotFound
from threadline.schemas import objects
from threadline.schemas.objects import ListPage
from threadline.schemas.run_objects import RunStep, run_step
from threadline.services.run_units import get_run
from threadline.storage.database import Connection, Database
from threadline.storage.pagination import Page, PageRequest
from threadline.storage.steps import StepRepository

_steps = StepRepository()


class StepService:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def list(
        self,
        project_id: str,
        thread_id: str,
        run_id: str,
        page: PageRequest,
        include: frozenset[str] = frozenset(),
    ) -> ListPage:
        result = await self._db.read(_list_steps, project_id, thread_id, run_id, page)
        return objects.list_page([run_step(r, include) for r in result.items], result.has_more)

    async def retrieve(
        self,
        project_id: str,
        thread_id: str,
        run_id: str,
        step_id: str,
        include: frozenset[str] = frozenset(),
    ) -> RunStep:
        record = await self._db.read(_steps.get_in_run, project_id, thread_id, run_id, step_id)
        if record is None:
            raise NotFound.object("run step", step_id)
        return run_step(record, include)


def _list_steps(
    connection: Connection, project_id: str, thread_id: str, run_id: str, page: PageRequest
) -> Page:
    get_run(connection, project_id, thread_id, run_id)
    return _steps.list(connection, project_id, page, run_id=run_id)
