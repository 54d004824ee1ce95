"""The seam between the run loop and the tools the server executes itself.

A run's ``tools`` list mixes ``function`` tools (answered by the client through
``submit_tool_outputs``) and built-in tools (``file_search``, ``code_interpreter``) that the
server runs. To the model every tool is a Chat Completions function; a ``ServerTool`` says which
function stands for its built-in tool, how its calls look in a ``tool_calls`` run step while they
stream and once executed, and what the model reads back.

How the loop uses it (see ``engine.turn`` and ``engine.execution``):

1. ``definition(tool)`` for every run tool of the server tool's ``type`` goes to the model.
2. When the model calls ``function_name``, the turn opens the call with ``stream.opening()``
   and feeds each fragment of the JSON arguments to ``stream.feed()``; whatever they return is
   sent as a ``thread.run.step.delta`` (so code appears as it is written).
3. After the turn, ``execute()`` runs each call (concurrently with the others of the turn) and
   returns the call as the step shows it (``details``) and the text the model reads (``output``).
   Execution may publish deltas of its own (outputs) through ``ToolContext.publish_delta``.
   Cancelling the run cancels ``execute()``.
4. The step is stored with ``details`` plus, under private keys never shown to clients, the
   function call the model made (``CALL_KEY``) and the text it read back (``OUTPUT_KEY``):
   later turns rebuild the conversation from them.
5. When the run's reply message is completed, ``annotate()`` may turn the tools' results
   into annotations (citations, file paths) and extra content parts (images)."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

from threadline.providers.llm.base import ChatTool
from threadline.records.runs import RunScope, ServerToolCall, ToolCallDelta
from threadline.records.threads import Annotation, ImageFilePart
from threadline.records.tools import ToolDefinition

# Where a stored server-tool call keeps the function call the model made ({"name", "arguments"})
# and the text the tool returned to it. Keys starting with "_" are stripped from run steps before
# they are shown (schemas.run_objects.run_step).
CALL_KEY: Final = "_call"
OUTPUT_KEY: Final = "_output"

PublishDelta = Callable[[ToolCallDelta], None]


class CallStream(Protocol):
    """How one server-tool call appears in step deltas while the model writes its arguments."""

    def opening(self) -> ToolCallDelta:
        """The call's first delta entry (with ``index``, ``id``, ``type`` and empty details)."""
        ...

    def snapshot(self) -> ServerToolCall:
        """The call as the step shows it while it waits to run (``{"id", "type", ...}``)."""
        ...

    def feed(self, fragment: str) -> ToolCallDelta | None:
        """A delta entry for the next fragment of the arguments, or None to send nothing."""
        ...


@dataclass(frozen=True, slots=True)
class ServerCall:
    id: str
    index: int  # position of the call in its step
    arguments: str  # the model's JSON arguments, complete


@dataclass
class ToolContext:
    """What an executing call may know and do."""

    run: RunScope  # the run's row
    step_id: str
    publish_delta: PublishDelta  # sends a tool-call delta entry for this step
    # Calls of this tool made before this one in the same run, in order (earlier steps, then
    # earlier in this step): for numbering sources, as ``annotate`` later sees them.
    earlier_calls: list[ServerToolCall] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    details: ServerToolCall  # the call as the step shows it: {"id", "type", <type>: {...}}
    output: str  # what the model reads back as the tool's answer


@dataclass(frozen=True, slots=True)
class MessageExtras:
    """What a tool adds to the run's reply message once its text is final."""

    annotations: list[Annotation] = field(default_factory=list)  # on the text part
    parts: list[ImageFilePart] = field(default_factory=list)  # extra content parts


class ServerTool(Protocol):
    type: str  # the run tool type it serves: "file_search" | "code_interpreter"
    function_name: str  # the function the model calls

    def definition(self, tool: ToolDefinition) -> ChatTool:
        """The Chat Completions tool for one of the run's tools of this type."""
        ...

    def start_call(self, call_id: str, index: int, tool: ToolDefinition) -> CallStream:
        """A call the model started; ``tool`` is the run's entry for this tool (options)."""
        ...

    async def execute(self, call: ServerCall, context: ToolContext) -> ToolOutcome:
        """Run the call. An error the model should read about (bad code, no results) is an
        outcome like any other; raising fails the run (``UpstreamFailure`` names its code)."""
        ...

    def annotate(self, text: str, calls: Sequence[ServerToolCall]) -> MessageExtras:
        """Annotations and extra parts for the reply ``text``, given this run's stored calls
        of this tool."""
        ...
