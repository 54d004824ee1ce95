"""A response's prompt measured before its run exists, as the engine will build it: the
chain's context, the input, the instructions and the tools offered to the model. It answers
``POST /v1/responses/input_tokens`` and refuses, at creation, an input over the model's window
when ``truncation`` is ``disabled``."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from threadline.engine.chat_turns import ConversationMessage, Turn, conversation
from threadline.engine.context import REPLY_RESERVE, build_prompt
from threadline.engine.history import Needed, load_conversation
from threadline.engine.item_turns import item_turns
from threadline.engine.run_tools import RunTools
from threadline.engine.tools.base import ServerTool
from threadline.errors import InvalidRequest
from threadline.providers.llm.base import ModelRoute
from threadline.schemas.responses import ContextInput
from threadline.services.conversations import not_found
from threadline.services.response_chain import previous_response
from threadline.services.response_compile import run_tools
from threadline.services.response_input import CompiledInput
from threadline.storage.database import Connection
from threadline.storage.repositories import ThreadRepository

_threads = ThreadRepository()


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
    beyond: int | None = None,
) -> int:
    """The prompt's tokens. ``remember``: the input's messages will be stored with these ids,
    so the engine's cache of finished turns may keep them (a count alone must not: its ids
    never exist). ``beyond``: only whether the count exceeds that matters, so a context that
    does is read no further (the count is then more than ``beyond``, not the whole)."""
    turns: list[Turn] = []
    thread_id = _context_thread(connection, project_id, request)
    if thread_id is not None:
        assert connection is not None, "a chain's or conversation's context is read from storage"
        needed = Needed(beyond) if beyond is not None else None
        messages, steps = load_conversation(connection, thread_id, needed)
        turns = conversation(messages, steps, reasoning_of=request.model)
    own: list[ConversationMessage] = [*compiled.messages]
    own += [
        {"id": key, "status": "completed", "turn": turn} for key, turn in item_turns(compiled.items)
    ]
    turns += conversation(own, [], remember=remember)
    instructions = request.instructions or None
    tools = RunTools.offered(run_tools(request)[0], dict(server_tools))
    return build_prompt(instructions, turns, budget=1 << 62, tools=tools or None).tokens


def _context_thread(
    connection: Connection | None, project_id: str, request: ContextInput
) -> str | None:
    """The thread whose context comes before the input: the previous response's, or the
    conversation's (404 when it is not the project's, or is a chain's hidden thread)."""
    if request.previous_response_id is not None:
        assert connection is not None
        return previous_response(connection, project_id, request.previous_response_id)["thread_id"]
    conversation_id = request.conversation_id
    if conversation_id is None:
        return None
    assert connection is not None
    if _threads.get(connection, project_id, conversation_id) is None:
        raise not_found(conversation_id)
    return conversation_id


def refuse_over_window(tokens: int, window: int) -> None:
    if tokens > window:
        raise InvalidRequest(
            "Your input exceeds the context window of this model. Please adjust your input "
            "and try again.",
            param="input",
            code="context_length_exceeded",
        )
