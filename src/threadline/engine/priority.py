"""Runs on their way to their first output go before the rest of the server's work.

On one event loop every ready callback waits its turn in order, so a run just created would wait,
at each step to its first delta (its execution starting, its request's body written to the
upstream, its task woken by the first chunk, its stream woken by the first delta), behind
whatever every other run queued meanwhile: their deltas, their ends, their streams' writes. Under
load that waiting, not the run's own work, was most of its time to first delta.

So the work of a run that has produced nothing yet is marked: ``FIRST`` is set in the context of
its execution task and of the request streaming it, and cleared once its first delta (or its end)
is out. ``StartsFirstLoop`` puts callbacks scheduled in such a context ahead of the others, in
their own order. The marked stretch is short and bounded (a run's first delta, or its end), so
the rest waits a little, never indefinitely; the wait on the upstream itself is marked but costs
nothing (a task waiting for data schedules nothing).

Only ``threadline serve`` runs on this loop (uvicorn's ``loop`` setting); elsewhere ``FIRST`` is
simply ignored."""

import asyncio
import contextvars
from asyncio import events
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

FIRST: contextvars.ContextVar[bool] = contextvars.ContextVar("threadline_first", default=False)
# The events that count as a run's first output (with any that ends its stream's segment).
FIRST_OUTPUT = frozenset({"thread.message.delta", "thread.run.step.delta"})


class _FirstHandle(events.Handle):
    """A callback scheduled for work marked ``FIRST``."""

    __slots__ = ()


class StartsFirstLoop(asyncio.SelectorEventLoop):
    def _call_soon(
        self,
        callback: Callable[..., object],
        args: tuple[Any, ...],
        context: contextvars.Context | None,
    ) -> events.Handle:
        first = FIRST.get() if context is None else context.get(FIRST, False)
        if not first:
            return super()._call_soon(callback, args, context)  # type: ignore[misc]
        handle = _FirstHandle(callback, args, self, context)
        ready = self._ready  # type: ignore[attr-defined]
        # After the marked callbacks already at the front (their order kept), before the rest.
        position, size = 0, len(ready)
        while position < size and type(ready[position]) is _FirstHandle:
            position += 1
        ready.insert(position, handle)
        return handle

    def create_task(  # type: ignore[override]
        self,
        coro: Coroutine[Any, Any, T],
        *,
        name: str | None = None,
        context: contextvars.Context | None = None,
    ) -> "asyncio.Task[T]":
        if context is None and _creates_run(coro):
            context = contextvars.copy_context()
            context.run(FIRST.set, True)
        return super().create_task(coro, name=name, context=context)


def _creates_run(coro: Any) -> bool:
    """Whether ``coro`` is uvicorn's task for a request that creates a run (``POST …/runs``):
    marked from its very first step, the request reaches its handler ahead of other runs' work.
    Read from the coroutine's arguments (the request's cycle and its scope): if uvicorn names
    things otherwise some day, the request is merely not marked."""
    code = getattr(coro, "cr_code", None)
    if code is None or code.co_name != "run_asgi":
        return False
    scope = getattr(coro.cr_frame.f_locals.get("self"), "scope", None)
    return (
        isinstance(scope, dict)
        and scope.get("method") == "POST"
        and str(scope.get("path", "")).endswith("/runs")
    )


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The loop ``threadline serve`` runs on (uvicorn's ``loop``: a loop factory)."""
    return StartsFirstLoop()


def create_first_task(coro: Coroutine[Any, Any, T], name: str) -> "asyncio.Task[T]":
    """A task whose work is marked ``FIRST`` from its first step (see RunExecution)."""
    context = contextvars.copy_context()
    context.run(FIRST.set, True)
    return asyncio.get_running_loop().create_task(coro, name=name, context=context)
