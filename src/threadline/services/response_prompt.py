"""A response's prompt measured before its run exists, as the engine will build it: the
chain's context, the input, the instructions and the tools offered to the model. It answers
``POST /v1/responses/input_tokens`` and refuses, at creation, an input over the model's window
when ``truncation`` is ``disabled``."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from threadline.engine.context import Turn, build_prompt, conversation
from threadline.engine.execution import REPLY_RESERVE
from threadline.engine.history import load_conversation
from threadline.engine.run_tools import RunTools
from threadline.engine.tools.base import ServerTool
from threadline.errors import InvalidRequest
from threadline.providers.llm.base import ModelRoute
from threadline.schemas.responses import ContextInput
from threadline.services.response_chain import previous_response
from threadline.services.response_compile import run_tools
from threadline.services.response_input import CompiledInput
from threadline.storage.database import Connection


@dataclass(frozen=True, slots=True)
class PromptSizer:
    """What measuring a prompt needs from the engine: the model's route (its context window)
    and the server's built-in tools (their definitions are part of the prompt)."""

    route: Callable[[str], ModelRoute]
    server_tools: Mapping[str, ServerTool]

    def window(self, model: str, max_output_tokens: int | None) -> int:
        """The prompt tokens the engine allows the model: its window less the reply's room."""
        return self.route(model).context_window - (max_output_tokens or REPLY_RESERVE)


def prompt_tokens(
    connection: Connection | None,
    project_id: str,
    request: ContextInput,
    compiled: CompiledInput,
    server_tools: Mapping[str, ServerTool],
    *,
    remember: bool,
) -> int:
    """The prompt's tokens. ``remember``: the input's messages will be stored with these ids,
    so the engine's cache of finished turns may keep them (a count alone must not: its ids
    never exist)."""
    turns: list[Turn] = []
    if request.previous_response_id is not None:
        assert connection is not None, "a chain's context is read from the database"
        previous = previous_response(connection, project_id, request.previous_response_id)
        messages, steps = load_conversation(connection, previous["thread_id"])
        turns = conversation(messages, steps)
    turns += conversation(list(compiled.messages), [], remember=remember)
    instructions = (
        "\n\n".join([t for t in [request.instructions, *compiled.system_texts] if t]) or None
    )
    tools = RunTools.offered(run_tools(request)[0], dict(server_tools))
    return build_prompt(instructions, turns, budget=1 << 62, tools=tools or None).tokens


def refuse_over_window(tokens: int, window: int) -> None:
    if tokens > window:
        raise InvalidRequest(
            "Your input exceeds the context window of this model. Please adjust your input "
            "and try again.",
            param="input",
            code="context_length_exceeded",
        )
