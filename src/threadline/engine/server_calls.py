"""Executing the calls the server answers itself: ``execute_server_calls`` runs the server's
calls of one turn concurrently and stores their results in the turn's ``tool_calls`` step."""

import asyncio
from collections.abc import Callable
from typing import cast

from threadline import clock
from threadline.engine.run_tools import RunTools
from threadline.engine.tools.base import OUTPUT_KEY, ServerCall, ToolContext, ToolOutcome
from threadline.engine.turn import TurnResult
from threadline.engine.turn_calls import ToolCall
from threadline.records.jsonvalue import JsonObject
from threadline.records.runs import RunRecord, ServerToolCall
from threadline.records.runs import ToolCall as StoredCall
from threadline.schemas.run_objects import StreamEvent, run_step, tool_call_delta
from threadline.storage.database import Database
from threadline.storage.steps import StepChanges, StepRepository
from threadline.telemetry import NO_TRACER, Tracer, genai

_steps = StepRepository()

Publish = Callable[[StreamEvent], None]


async def execute_server_calls(
    db: Database,
    run: RunRecord,
    result: TurnResult,
    run_tools: RunTools,
    publish: Publish,
    *,
    step_done: bool,
    tracer: Tracer = NO_TRACER,
) -> None:
    """Run the turn's server calls concurrently, then store their results in the step (and
    complete it when no function call waits for the client); each call in its span."""
    step = result.step
    assert step is not None

    def publish_delta(entry: JsonObject) -> None:
        publish(tool_call_delta(step["id"], entry))

    this_step = step["step_details"]["tool_calls"]
    allowed = _calls_left(run, run_tools)

    async def one(call: ToolCall, position: int) -> ToolOutcome:
        assert call.server is not None
        if allowed is not None and position >= allowed:
            return _over_limit(this_step[call.index], run.get("max_tool_calls") or 0)
        kind = call.server.type
        # Earlier calls of the same tool in this run: in earlier steps, then earlier in this one.
        earlier = [c for c in run_tools.run_calls if c["type"] == kind]
        earlier += [c for c in this_step[: call.index] if c["type"] == kind]
        context = ToolContext(run, step["id"], publish_delta, earlier)
        span = genai.start_tool_call(tracer, kind, call.id, arguments=call.arguments)
        try:
            outcome = await call.server.execute(
                ServerCall(call.id, call.index, call.arguments), context
            )
        except BaseException as error:
            span.fail(type(error).__name__)
            span.end()
            raise
        genai.tool_result(tracer, span, outcome.output)
        span.end()
        return outcome

    outcomes = await asyncio.gather(*(one(call, n) for n, call in enumerate(result.server_calls)))
    answered = {c.id: outcome for c, outcome in zip(result.server_calls, outcomes, strict=True)}
    stored_calls: list[StoredCall] = []
    for stored in step["step_details"]["tool_calls"]:
        outcome = answered.get(stored["id"])
        if outcome is None:
            stored_calls.append(stored)  # a function call: answered by the client
            continue
        private = {key: value for key, value in stored.items() if key.startswith("_")}
        stored_calls.append({**outcome.details, **private, OUTPUT_KEY: outcome.output})
    changes: StepChanges = {"step_details": {"type": "tool_calls", "tool_calls": stored_calls}}
    if step_done:
        changes["status"] = "completed"
        changes["completed_at"] = clock.now()
    await db.write(_steps.update_by_id, step["id"], changes)
    step.update(changes)  # type: ignore[typeddict-item]  # StepChanges: StepRecord's keys
    if step_done:
        publish(StreamEvent.of("thread.run.step.completed", run_step(step)))


def _calls_left(run: RunRecord, run_tools: RunTools) -> int | None:
    """How many more built-in calls the run may execute (a response's ``max_tool_calls``),
    or None without a limit."""
    limit = run.get("max_tool_calls")
    if limit is None:
        return None
    made = sum(1 for call in run_tools.run_calls if call["type"] != "function")
    return max(0, limit - made)


def _over_limit(stored: StoredCall, limit: int) -> ToolOutcome:
    """A call past the limit is not executed: the model reads why, the call shows as made."""
    details = cast(ServerToolCall, {k: v for k, v in stored.items() if not k.startswith("_")})
    return ToolOutcome(
        details=details,
        output=(
            f"Tool call limit reached: this response may make at most {limit} built-in tool "
            "calls, so this call was not executed. Answer with what you already have."
        ),
    )
