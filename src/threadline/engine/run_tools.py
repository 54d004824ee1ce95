"""A run's tools as the model sees them.

Function tools go to the model as they are; built-in tools through their ``ServerTool`` (a
built-in tool this server cannot run is left out: the API refuses runs that need one). The
model's calls are then told apart by function name."""

from threadline.engine.tools.base import CallStream, MessageExtras, ServerTool
from threadline.records.jsonvalue import JsonObject, JsonValue
from threadline.records.runs import RunRecord, StepRecord, ToolCall
from threadline.records.threads import Annotation, ImageFilePart
from threadline.records.tools import ToolDefinition


class RunTools:
    def __init__(
        self,
        run: RunRecord,
        server_tools: dict[str, ServerTool],
        thread_tool_steps: list[StepRecord],
    ) -> None:
        self._offer(run["tools"], server_tools)
        # This run's calls made so far, oldest first (steps come ordered by id).
        self.run_calls: list[ToolCall] = [
            call
            for step in thread_tool_steps
            if step["run_id"] == run["id"]
            for call in step["step_details"].get("tool_calls", ())
        ]

    @classmethod
    def offered(
        cls, tools: list[ToolDefinition], server_tools: dict[str, ServerTool]
    ) -> list[JsonObject]:
        """The chat tools a run with ``tools`` offers the model (to count a prompt before
        the run exists)."""
        offer = cls.__new__(cls)
        offer._offer(tools, server_tools)
        return offer.chat_tools

    def _offer(self, tools: list[ToolDefinition], server_tools: dict[str, ServerTool]) -> None:
        self.chat_tools: list[JsonObject] = []
        self.function_names: set[str] = set()
        self.by_function_name: dict[str, ServerTool] = {}
        self._by_type: dict[str, ServerTool] = {}
        for tool in tools:
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
        self._tools: dict[str, ToolDefinition] = {tool["type"]: tool for tool in tools}

    def open_call(
        self, name: str, call_id: str, index: int
    ) -> tuple[ServerTool, CallStream] | None:
        """A call the model makes to ``name``: the server tool that answers it and how it
        streams, or None for a function call (answered by the client)."""
        server = self.by_function_name.get(name)
        if server is None:
            return None
        return server, server.start_call(call_id, index, self._tools[server.type])

    def chat_tool_choice(self, choice: JsonValue) -> JsonValue:
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
        annotations: list[Annotation] = []
        parts: list[ImageFilePart] = []
        for tool_type, server in self._by_type.items():
            calls = [call for call in self.run_calls if call["type"] == tool_type]
            if calls:
                extras = server.annotate(text, calls)
                annotations.extend(extras.annotations)
                parts.extend(extras.parts)
        annotations.sort(key=lambda annotation: annotation.get("start_index", 0))
        return MessageExtras(annotations, parts)
