"""A run's tools as the model sees them, and the execution of the calls the server answers itself.

``RunTools`` turns a run's ``tools`` into Chat Completions tools: function tools as they are,
built-in tools through their ``ServerTool`` (a built-in tool this server cannot run is left out;
the API refuses runs that need one, see services). ``execute_server_calls`` runs the server's
calls of one turn concurrently and stores their results in the turn's ``tool_calls`` step."""

import asyncio
from collections.abc import Callable
from typing import Any

from threadline import clock
from threadline.engine.tools.base import (
    OUTPUT_KEY,
    MessageExtras,
    ServerCall,
    ServerTool,
    ToolContext,
    ToolOutcome,
)
from threadline.engine.turn import ToolCall, TurnResult
from threadline.schemas.run_objects import StreamEvent, run_step, tool_call_delta
from threadline.storage.database import Database
from threadline.storage.runs import StepRepository

_steps = StepRepository()

Publish = Callable[[StreamEvent], None]


class RunTools:
    def __init__(
        self,
        run: dict[str, Any],
        server_tools: dict[str, ServerTool],
        thread_tool_steps: list[dict[str, Any]],
    ) -> None:
        self.chat_tools: list[dict[str, Any]] = []
        self.function_names: set[str] = set()
        self.by_function_name: dict[str, ServerTool] = {}
        self._by_type: dict[str, ServerTool] = {}
        for tool in run["tools"]:
            if tool["type"] == "function":
                function = {k: v for k, v in tool["function"].items() if v is not None}
                self.chat_tools.append({"type": "function", "function": function})
                self.function_names.add(function["name"])
                continue
            server = server_tools.get(tool["type"])
            if server is not None and tool["type"] not in self._by_type:
                self.chat_tools.append(server.definition(tool))
                self.by_function_name[server.function_name] = server
                self._by_type[tool["type"]] = server
        self._tools = {tool["type"]: tool for tool in run["tools"]}
        # This run's calls made so far, oldest first (steps come ordered by id).
        self.run_calls: list[dict[str, Any]] = [
            call
            for step in thread_tool_steps
            if step["run_id"] == run["id"]
            for call in step["step_details"].get("tool_calls", ())
        ]

    def tool_entry(self, tool_type: str) -> dict[str, Any]:
        """The run's own definition of a built-in tool (with its options)."""
        return self._tools[tool_type]

    def chat_tool_choice(self, choice: Any) -> Any:
        if isinstance(choice, dict) and choice.get("type") == "function":
            return {"type": "function", "function": {"name": choice["function"]["name"]}}
        if isinstance(choice, dict):
            server = self._by_type.get(choice.get("type", ""))
            if server is not None:
                return {"type": "function", "function": {"name": server.function_name}}
            return "required"  # a built-in tool we do not run: the model must call some tool
        return choice

    def annotate(self, text: str) -> MessageExtras:
        """What this run's built-in tools add to its reply message."""
        annotations: list[dict[str, Any]] = []
        parts: list[dict[str, Any]] = []
        for tool_type, server in self._by_type.items():
            calls = [call for call in self.run_calls if call["type"] == tool_type]
            if calls:
                extras = server.annotate(text, calls)
                annotations.extend(extras.annotations)
                parts.extend(extras.parts)
        annotations.sort(key=lambda annotation: annotation.get("start_index", 0))
        return MessageExtras(annotations, parts)


async def execute_server_calls(
    db: Database,
    run: dict[str, Any],
    result: TurnResult,
    run_tools: RunTools,
    publish: Publish,
    *,
    step_done: bool,
) -> None:
    """Run the turn's server calls concurrently, then store their results in the step (and
    complete it when no function call waits for the client)."""
    step = result.step
    assert step is not None

    def publish_delta(entry: dict[str, Any]) -> None:
        publish(tool_call_delta(step["id"], entry))

    this_step = step["step_details"]["tool_calls"]

    async def one(call: ToolCall) -> ToolOutcome:
        assert call.server is not None
        kind = call.server.type
        # Earlier calls of the same tool in this run: in earlier steps, then earlier in this one.
        earlier = [c for c in run_tools.run_calls if c["type"] == kind]
        earlier += [c for c in this_step[: call.index] if c["type"] == kind]
        context = ToolContext(run, step["id"], publish_delta, earlier)
        return await call.server.execute(ServerCall(call.id, call.index, call.arguments), context)

    outcomes = await asyncio.gather(*(one(call) for call in result.server_calls))
    answered = {c.id: outcome for c, outcome in zip(result.server_calls, outcomes, strict=True)}
    stored_calls = []
    for stored in step["step_details"]["tool_calls"]:
        outcome = answered.get(stored["id"])
        if outcome is None:
            stored_calls.append(stored)  # a function call: answered by the client
            continue
        private = {key: value for key, value in stored.items() if key.startswith("_")}
        stored_calls.append({**outcome.details, **private, OUTPUT_KEY: outcome.output})
    changes: dict[str, Any] = {"step_details": {"type": "tool_calls", "tool_calls": stored_calls}}
    if step_done:
        changes.update(status="completed", completed_at=clock.now())
    await db.write(_steps.update_by_id, step["id"], changes)
    step.update(changes)
    if step_done:
        publish(StreamEvent.of("thread.run.step.completed", run_step(step)))
