"""The run engine without a server: a temporary SQLite database, the worker, the run service,
and a scripted model in place of an upstream. What ``app_state.AppState.build`` wires for runs,
and nothing else (no HTTP, no gateway, no tools the server runs itself)."""

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from threadline.engine.event_bus import EventBus, Subscription
from threadline.engine.run_attempt import EngineContext
from threadline.engine.worker import Worker
from threadline.providers.llm.base import ChatDelta, ChatRequest, ModelRoute, ToolCallDelta, Usage
from threadline.records.runs import RunRecord
from threadline.schemas.requests import CreateAssistant, CreateThread
from threadline.schemas.run_objects import StreamEvent
from threadline.schemas.runs import CreateRun
from threadline.services.assistants import AssistantService
from threadline.services.runs import RunService
from threadline.services.threads import ThreadService
from threadline.services.tool_gate import ToolGate
from threadline.storage.database import Connection, Database
from threadline.storage.migrate import upgrade_to_head
from threadline.storage.runs import RunChanges, RunRepository

T = TypeVar("T")
PROJECT = "proj_unit"
OWNER = "unit-worker"
_runs = RunRepository()


def text(answer: str) -> list[ChatDelta]:
    """A model turn that answers ``answer``."""
    return [ChatDelta(text=answer), ChatDelta(finish_reason="stop", usage=Usage(5, 2))]


def function_tool(name: str) -> dict[str, object]:
    """A run's ``tools`` entry for the client's function ``name``."""
    return {"type": "function", "function": {"name": name}}


def function_call(name: str, arguments: str = "{}") -> list[ChatDelta]:
    """A model turn that calls the client's function ``name``."""
    call = ToolCallDelta(index=0, id="call_upstream", name=name, arguments=arguments)
    return [ChatDelta(tool_calls=(call,)), ChatDelta(finish_reason="tool_calls")]


@dataclass
class ScriptedModel:
    """Answers each turn with the next script; a turn waits at ``gate`` (when set) after its
    first delta, so a test can act while a run is mid-answer."""

    turns: list[list[ChatDelta]] = field(default_factory=list)
    requests: list[ChatRequest] = field(default_factory=list)
    gate: asyncio.Event | None = None
    answering: asyncio.Event = field(default_factory=asyncio.Event)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        self.requests.append(request)
        script = self.turns.pop(0) if self.turns else text("done")
        for position, delta in enumerate(script):
            yield delta
            if position == 0 and self.gate is not None:
                self.answering.set()
                await self.gate.wait()


class Engine:
    """One server's run path on one database."""

    def __init__(self, db: Database, model: ScriptedModel, lease_seconds: float) -> None:
        self.db = db
        self.model = model
        self.bus = EventBus()
        route = ModelRoute(model, context_window=100_000)
        context = EngineContext(db=db, bus=self.bus, route=lambda _name: route, owner=OWNER)
        self.worker = Worker(context, lease_seconds=lease_seconds, poll_seconds=0.05)
        tools = ToolGate(lambda: None)
        self.runs = RunService(db, self.worker, tools)
        self._assistants = AssistantService(db, tools, _NoIngestion())
        self._threads = ThreadService(db, _NoIngestion())
        self.streams: dict[str, Subscription] = {}  # of runs created with stream=True

    async def thread_and_assistant(self) -> tuple[str, str]:
        assistant = await self._assistants.create(PROJECT, CreateAssistant(model="scripted"))
        thread = await self._threads.create(PROJECT, CreateThread())
        return thread.id, assistant.id

    async def new_run(self, stream: bool = True, **options: object) -> tuple[str, str]:
        """A run on a new thread: (thread id, run id)."""
        thread_id, assistant_id = await self.thread_and_assistant()
        request = CreateRun.model_validate(
            {"assistant_id": assistant_id, "stream": stream, **options}
        )
        queued = await self.runs.create(PROJECT, thread_id, request)
        if queued.subscription is not None:
            self.streams[queued.run.id] = queued.subscription
        return thread_id, queued.run.id

    async def row(self, run_id: str) -> RunRecord:
        record = await self.db.read(_runs.get_by_id, run_id)
        assert record is not None
        return record

    async def change(self, run_id: str, changes: RunChanges) -> None:
        await self.db.write(_change, run_id, changes)

    async def events(self, run_id: str) -> list[StreamEvent]:
        """The worker's events of the run's stream until it ends."""
        subscription = self.streams.pop(run_id)
        found: list[StreamEvent] = []
        async with asyncio.timeout(10):
            async for batch in subscription.batches():
                found.extend(batch)
        return found


def _change(connection: Connection, run_id: str, changes: RunChanges) -> None:
    _runs.update(connection, PROJECT, run_id, changes)


class _NoIngestion:
    def wake(self) -> None:
        pass


@contextmanager
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="threadline-unit-") as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'threadline.db'}"
        upgrade_to_head(url)
        yield url


@asynccontextmanager
async def engine(
    url: str, model: ScriptedModel | None = None, *, lease_seconds: float = 30.0
) -> AsyncIterator[Engine]:
    """The run path on ``url``; its worker's loops (claiming, leases, the reaper) are started
    by the test (``worker.start()``) when it needs them."""
    db = Database(url)
    running = Engine(db, model or ScriptedModel(), lease_seconds)
    try:
        yield running
    finally:
        await running.worker.stop()
        await db.dispose()


async def until(check: Callable[[], Awaitable[T]], seconds: float = 10.0) -> T:
    """``check()``'s first truthy answer (polled; a bound, not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while True:
        found = await check()
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.02)


def run(test: Callable[[str], Awaitable[None]]) -> None:
    """Run an async test on a fresh database."""
    with sqlite_url() as url:
        asyncio.run(test(url))
