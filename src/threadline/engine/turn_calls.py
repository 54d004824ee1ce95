"""A model turn's tool calls, assembled from their streamed fragments: each call opened with
its own id (and, for a tool the server runs, its call stream), each fragment published as a
delta, the calls checked when the turn ends and stored as their step keeps them."""

from collections.abc import Callable
from dataclasses import dataclass

import orjson

from threadline import ids
from threadline.engine.run_tools import RunTools
from threadline.engine.tools.base import CALL_KEY, CallStream, ServerTool
from threadline.providers.llm.base import ToolCallDelta, UpstreamFailure
from threadline.records.runs import FunctionCallWithOutput
from threadline.records.runs import ToolCall as StoredCall
from threadline.schemas.run_objects import StreamEvent, tool_call_delta


@dataclass
class ToolCall:
    id: str
    name: str
    index: int
    arguments: str = ""
    # Set when the call is to a tool the server runs itself (see engine.tools.base).
    server: ServerTool | None = None
    stream: CallStream | None = None


class CallAssembly:
    """The turn's calls by the upstream's index, as their fragments arrive."""

    def __init__(self, tools: RunTools, publish: Callable[[StreamEvent], None]) -> None:
        self._tools = tools
        self._publish = publish
        self._calls: dict[int, ToolCall] = {}

    def feed(self, step_id: str, fragment: ToolCallDelta) -> None:
        call = self._calls.get(fragment.index)
        if call is None:
            call = self._open_call(step_id, fragment)
        elif fragment.name and not call.name:
            call.name = fragment.name
        if fragment.arguments:
            call.arguments += fragment.arguments
            if call.stream is not None:
                piece = call.stream.feed(fragment.arguments)
            else:
                piece = {
                    "index": call.index,
                    "type": "function",
                    "function": {"arguments": fragment.arguments},
                }
            if piece is not None:
                self._publish(tool_call_delta(step_id, piece))

    def _open_call(self, step_id: str, fragment: ToolCallDelta) -> ToolCall:
        # Our own ids: upstreams repeat or omit theirs, and the SDKs need them unique. The
        # call's index is its position in the step, whatever index the upstream used.
        call = ToolCall(id=ids.tool_call_id(), name=fragment.name or "", index=len(self._calls))
        self._calls[fragment.index] = call
        opened = self._tools.open_call(call.name, call.id, call.index)
        if opened is not None:
            call.server, call.stream = opened
            first = call.stream.opening()
        else:
            first = {
                "index": call.index,
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": "", "output": None},
            }
        self._publish(tool_call_delta(step_id, first))
        return call

    def in_order(self) -> list[ToolCall]:
        return [self._calls[index] for index in sorted(self._calls)]

    def arguments(self) -> str:
        return "".join(call.arguments for call in self._calls.values())

    def check(self, calls: list[ToolCall]) -> None:
        """A run never waits on a call it could not make sense of."""
        for call in calls:
            if call.server is None and call.name not in self._tools.function_names:
                raise UpstreamFailure(
                    "server_error",
                    f"The model called a function that is not defined: {call.name!r}.",
                )
            try:
                orjson.loads(call.arguments or "{}")
            except orjson.JSONDecodeError:
                raise UpstreamFailure(
                    "server_error",
                    f"The model produced arguments for {call.name!r} that are not valid JSON.",
                ) from None


def stored_call(call: ToolCall) -> StoredCall:
    """A call as its step stores it: a function call, or a server tool's call as it waits to
    run, with the function call the model made kept aside for later turns."""
    if call.stream is not None:
        made = {"name": call.name, "arguments": call.arguments}
        return {**call.stream.snapshot(), CALL_KEY: made}
    function: FunctionCallWithOutput = {
        "name": call.name,
        "arguments": call.arguments,
        "output": None,
    }
    return {"id": call.id, "type": "function", "function": function}
