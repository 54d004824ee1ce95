"""Python sessions by key (the engine uses the thread id): the API the engine calls.

Sessions start on first use and stay warm until idle for ``idle_seconds`` or older than
``limits.lifetime_seconds``; at most ``max_sessions`` live at once (the least recently used idle
one is evicted to make room). A session lost for any reason but ``close`` (timeout, crash,
cancel, idle expiry, eviction) is replaced on the next call, whose result has ``reset=True``;
files given with ``put_file`` are copied into the replacement before the call runs."""

import asyncio
import logging
import shutil
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from threadline.providers.sandbox.base import (
    Limits,
    SandboxBackend,
    SandboxError,
)
from threadline.providers.sandbox.files import Workspace, safe_filename
from threadline.providers.sandbox.results import ExecutionResult
from threadline.providers.sandbox.runtime import PythonRuntime
from threadline.providers.sandbox.session import Session

logger = logging.getLogger("threadline.sandbox")

MAX_REMEMBERED_KEYS = 10_000


@dataclass
class _Entry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    session: Session | None = None
    lost: bool = False  # the next call runs in a replacement and must say so
    inputs: dict[str, Path] = field(default_factory=dict)  # put_file: name -> source


class SessionPool:
    def __init__(
        self,
        backend: SandboxBackend,
        runtime: PythonRuntime,
        limits: Limits,
        workspace: Workspace,
        *,
        max_sessions: int,
        idle_seconds: float,
    ) -> None:
        self.backend = backend
        self.runtime = runtime
        self.limits = limits
        self._workspace = workspace
        self._max_sessions = max_sessions
        self._idle_seconds = idle_seconds
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # least recently used first
        self._free_slots = list(range(max_sessions - 1, -1, -1))
        self._stopping: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    def start_sweeper(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever())

    @property
    def live_sessions(self) -> int:
        return sum(1 for entry in self._entries.values() if entry.session is not None)

    def _entry(self, key: str) -> _Entry:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
            self._forget_old_keys()
        self._entries.move_to_end(key)
        return entry

    def _forget_old_keys(self) -> None:
        if len(self._entries) <= MAX_REMEMBERED_KEYS:
            return
        for key, entry in list(self._entries.items()):
            if entry.session is None and not entry.lock.locked():
                del self._entries[key]
                if len(self._entries) <= MAX_REMEMBERED_KEYS:
                    return

    async def execute(self, key: str, code: str) -> ExecutionResult:
        entry = self._entry(key)
        async with entry.lock:
            session = await self._ready_session(entry)
            reset, entry.lost = entry.lost, False
            try:
                result = await session.execute(code)
            except asyncio.CancelledError:
                self._discard(entry, lost=True)
                raise
            if result.session_ended or not session.alive:
                result.session_ended = True
                self._discard(entry, lost=True)
            result.reset = reset
            return result

    async def put_file(self, key: str, filename: str, source: Path) -> str:
        name = safe_filename(filename)
        if not source.is_file():
            raise SandboxError(f"No file to copy for {name}.")
        entry = self._entry(key)
        async with entry.lock:
            session = await self._ready_session(entry)
            try:
                await session.put(name, source)
            except asyncio.CancelledError:
                self._discard(entry, lost=True)
                raise
            finally:
                if not session.alive:
                    self._discard(entry, lost=True)
            entry.inputs[name] = source
        return f"/mnt/data/{name}"

    async def close(self, key: str) -> None:
        entry = self._entries.get(key)
        if entry is None:
            return
        async with entry.lock:
            session, entry.session = entry.session, None
            self._entries.pop(key, None)
        if session is not None:
            await self._stop(session)

    async def aclose(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        sessions = [e.session for e in self._entries.values() if e.session is not None]
        for entry in self._entries.values():
            entry.session = None
        self._entries.clear()
        await asyncio.gather(*(self._stop(s) for s in sessions), *self._stopping)

    # -- sessions --------------------------------------------------------------------------

    async def _ready_session(self, entry: _Entry) -> Session:
        """The entry's live session, or a new one with the entry's inputs copied in."""
        if entry.session is not None and entry.session.alive and not self._expired(entry.session):
            return entry.session
        if entry.session is not None:
            self._discard(entry, lost=True)
        slot = await self._take_slot()
        spec = self.runtime.jail_spec(self.limits, slot)
        session = Session(self.backend, spec, self._workspace.session_dir())
        try:
            await session.start()
        except BaseException:
            self._stop_in_background(session)
            raise
        entry.session = session
        for name, source in list(entry.inputs.items()):
            try:
                await session.put(name, source)
            except (SandboxError, OSError) as error:
                logger.warning("sandbox: input %s not restored: %s", name, error)
                entry.inputs.pop(name, None)
        return session

    def _expired(self, session: Session) -> bool:
        now = time.monotonic()
        return (
            now - session.last_used > self._idle_seconds
            or now - session.started_at > self.limits.lifetime_seconds
        )

    async def _take_slot(self) -> int:
        if not self._free_slots:
            self._evict_one()
        # An evicted session frees its slot once its jail has exited.
        for _ in range(200):
            if self._free_slots:
                return self._free_slots.pop()
            await asyncio.sleep(0.05)
        raise SandboxError(
            f"All {self._max_sessions} sandbox sessions are busy; try again shortly."
        )

    def _evict_one(self) -> None:
        for entry in self._entries.values():  # least recently used first
            if entry.session is not None and not entry.lock.locked():
                self._discard(entry, lost=True)
                return

    def _discard(self, entry: _Entry, *, lost: bool) -> None:
        """Takes the session away from its entry and stops it in the background."""
        session, entry.session = entry.session, None
        entry.lost = entry.lost or lost
        if session is not None:
            self._stop_in_background(session)

    def _stop_in_background(self, session: Session) -> None:
        task = asyncio.create_task(self._stop(session))
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def _stop(self, session: Session) -> None:
        try:
            await session.stop()
        finally:
            self._release(session)

    def _release(self, session: Session) -> None:
        shutil.rmtree(session.workdir, ignore_errors=True)
        if session.slot not in self._free_slots:
            self._free_slots.append(session.slot)

    async def _sweep_forever(self) -> None:
        interval = max(1.0, min(self._idle_seconds, self.limits.lifetime_seconds) / 4)
        while True:
            await asyncio.sleep(interval)
            for entry in list(self._entries.values()):
                session = entry.session
                if session is None or entry.lock.locked():
                    continue
                if not session.alive or self._expired(session):
                    self._discard(entry, lost=True)
