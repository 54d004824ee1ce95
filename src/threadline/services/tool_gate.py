"""Refusing tools this server cannot run. code_interpreter needs a working sandbox: without one
(none passed the start-up probe, or it is disabled) an assistant or run that asks for it gets a
400 naming the cause, instead of a run that could only fail later."""

from collections.abc import Callable, Iterable

from threadline.errors import InvalidRequest


class ToolGate:
    def __init__(self, code_interpreter_unavailable: Callable[[], str | None]) -> None:
        """``code_interpreter_unavailable`` returns why the sandbox cannot be used, or None."""
        self._code_interpreter_unavailable = code_interpreter_unavailable

    def check(self, tools: Iterable[object] | None, param: str = "tools") -> None:
        if not tools or not any(_type_of(tool) == "code_interpreter" for tool in tools):
            return
        reason = self._code_interpreter_unavailable()
        if reason is not None:
            raise InvalidRequest(
                f"The code_interpreter tool is not available on this server: {reason}.",
                param=param,
                code="code_interpreter_unavailable",
            )


def _type_of(tool: object) -> object:
    """A request's tool (a model) or a stored one (a dict): its ``type``."""
    return tool.get("type") if isinstance(tool, dict) else getattr(tool, "type", None)
