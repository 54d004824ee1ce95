"""code_interpreter: the model runs Python in the thread's sandboxed session.

The model gets a ``code_interpreter`` function taking ``code``. While it writes the code, the
step's deltas carry it decoded, as it arrives; the code then runs in the thread's warm session
(variables persist between calls and runs of the thread), with the run's files under
``/mnt/data``. The step shows the ``input`` and the ``outputs``: ``logs`` and an ``image`` per
figure shown. Figures and files the code writes to ``/mnt/data`` become File objects
(``purpose: assistants_output``); the reply message shows the figures as ``image_file`` parts,
and each ``sandbox:/mnt/data/…`` link it makes to a written file gets a ``file_path``
annotation.

The sandbox itself (isolation, limits, sessions) is behind ``CodeRunner``; this module only
speaks for the model and the run."""

import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Protocol

import orjson

from threadline.engine.tools.base import MessageExtras, ServerCall, ToolContext, ToolOutcome
from threadline.engine.tools.streamed_json import StringFieldReader
from threadline.providers.llm.base import ChatTool
from threadline.records.jsonvalue import JsonObject
from threadline.records.runs import (
    CodeInterpreterToolCall,
    CodeOutput,
    IndexedImageOutput,
    IndexedLogsOutput,
    RunScope,
    ServerToolCall,
    ToolCallDelta,
)
from threadline.records.threads import Annotation, ImageFilePart
from threadline.records.tools import FunctionDefinition, ToolDefinition

# Where a stored call keeps the files it wrote: {"/mnt/data/name": file_id} (private: "_").
_FILES_KEY: Final = "_files"
_SANDBOX_LINK = re.compile(r"sandbox:(/mnt/data/[^\s)\]\"'>]+)")

_DESCRIPTION = (
    "Run Python code in a stateful sandboxed session (like a Jupyter notebook: variables "
    "persist between calls). The user's files are in /mnt/data (list it to see them). Print "
    "what you need to see. Figures shown with matplotlib's plt.show() are displayed to the "
    "user; files saved to /mnt/data are given to the user: link them as "
    "sandbox:/mnt/data/<name>. There is no internet access. numpy, pandas and matplotlib are "
    "installed."
)
_PARAMETERS: JsonObject = {
    "type": "object",
    "properties": {"code": {"type": "string", "description": "The Python code to run."}},
    "required": ["code"],
}


@dataclass(frozen=True, slots=True)
class InputFile:
    file_id: str
    filename: str
    path: Path  # where its bytes are on this host


@dataclass(frozen=True, slots=True)
class CodeResult:
    logs: str  # stdout and stderr, interleaved, possibly truncated with a note
    images: list[bytes] = field(default_factory=list)  # PNG of each figure shown
    files: list[tuple[str, Path]] = field(default_factory=list)  # (name, host path) written
    reset: bool = False  # an earlier session of this key was lost (crash, limit, idle end)
    error: str | None = None  # why the code was stopped (timeout, memory …), for the model


class CodeRunner(Protocol):
    async def run(self, session_key: str, code: str, files: Sequence[InputFile]) -> CodeResult:
        """Run ``code`` in the session ``session_key`` (started if needed), with ``files``
        present under /mnt/data. Cancelling the call kills the code."""
        ...


FilesOf = Callable[[RunScope], Awaitable[list[InputFile]]]
# (project id, file name, host path of the bytes) -> the new File's id
SaveOutput = Callable[[str, str, Path], Awaitable[str]]
SaveImage = Callable[[str, bytes], Awaitable[str]]
# Told of each session as billed (OpenAI billed a code_interpreter session per thread and hour).
OnSession = Callable[[RunScope], Awaitable[None]]
SESSION_SECONDS = 3600
_REMEMBERED_SESSIONS = 10_000


class _Stream:
    def __init__(self, call_id: str, index: int) -> None:
        self._call_id, self._index = call_id, index
        self._code = StringFieldReader("code")

    def opening(self) -> ToolCallDelta:
        return {
            "index": self._index,
            "id": self._call_id,
            "type": "code_interpreter",
            "code_interpreter": {"input": "", "outputs": []},
        }

    def feed(self, fragment: str) -> ToolCallDelta | None:
        code = self._code.feed(fragment)
        if not code:
            return None
        return {
            "index": self._index,
            "type": "code_interpreter",
            "code_interpreter": {"input": code},
        }

    def snapshot(self) -> CodeInterpreterToolCall:
        return {
            "id": self._call_id,
            "type": "code_interpreter",
            "code_interpreter": {"input": "", "outputs": []},
        }


class CodeInterpreterTool:
    type = "code_interpreter"
    function_name = "code_interpreter"

    def __init__(
        self,
        runner: CodeRunner,
        files_of: FilesOf,
        save_output: SaveOutput,
        save_image: SaveImage,
        on_session: OnSession | None = None,
    ) -> None:
        """``files_of(run)``: the files a run's code sees (assistant's, thread's, attached);
        ``save_output``/``save_image``: store what the code made as an assistants_output File;
        ``on_session(run)``: a billed session starts (its first call in an hour)."""
        self._runner = runner
        self._files_of = files_of
        self._save_output = save_output
        self._save_image = save_image
        self._on_session = on_session
        self._billed_at: OrderedDict[str, float] = OrderedDict()  # session key -> start

    def definition(self, tool: ToolDefinition) -> ChatTool:
        function: FunctionDefinition = {
            "name": self.function_name,
            "description": _DESCRIPTION,
            "parameters": _PARAMETERS,
        }
        return {"type": "function", "function": function}

    def start_call(self, call_id: str, index: int, tool: ToolDefinition) -> _Stream:
        return _Stream(call_id, index)

    async def execute(self, call: ServerCall, context: ToolContext) -> ToolOutcome:
        code = _code(call.arguments)
        run = context.run
        files = await self._files_of(run)
        # One session per thread; the project in the key keeps tenants apart even so.
        session_key = f"{run['project_id']}:{run['thread_id']}"
        await self._bill(session_key, run)
        result = await self._runner.run(session_key, code, files)
        outputs: list[CodeOutput] = []
        if result.logs:
            outputs.append({"type": "logs", "logs": result.logs})
        for image in result.images:
            file_id = await self._save_image(run["project_id"], image)
            outputs.append({"type": "image", "image": {"file_id": file_id}})
        written: dict[str, str] = {}
        for name, path in result.files:
            written[f"/mnt/data/{name}"] = await self._save_output(run["project_id"], name, path)
        if outputs:
            shown = [_indexed(i, output) for i, output in enumerate(outputs)]
            context.publish_delta(
                {
                    "index": call.index,
                    "type": "code_interpreter",
                    "code_interpreter": {"outputs": shown},
                }
            )
        details: CodeInterpreterToolCall = {
            "id": call.id,
            "type": "code_interpreter",
            "code_interpreter": {"input": code, "outputs": outputs},
            _FILES_KEY: written,
        }
        return ToolOutcome(details=details, output=_model_output(result, outputs, written))

    async def _bill(self, session_key: str, run: RunScope) -> None:
        if self._on_session is None:
            return
        now = time.monotonic()
        started = self._billed_at.get(session_key)
        if started is not None and now - started < SESSION_SECONDS:
            return
        self._billed_at[session_key] = now
        self._billed_at.move_to_end(session_key)
        while len(self._billed_at) > _REMEMBERED_SESSIONS:
            self._billed_at.popitem(last=False)
        await self._on_session(run)

    def annotate(self, text: str, calls: Sequence[ServerToolCall]) -> MessageExtras:
        written: dict[str, str] = {}
        images: list[str] = []
        for stored in calls:
            if stored["type"] != "code_interpreter":
                continue
            written.update(stored.get(_FILES_KEY) or {})
            for output in stored["code_interpreter"]["outputs"]:
                if output["type"] == "image":
                    images.append(output["image"]["file_id"])
        annotations: list[Annotation] = []
        for match in _SANDBOX_LINK.finditer(text):
            file_id = written.get(match.group(1).rstrip(".,;:"))
            if file_id is None:
                continue
            end = match.start() + len("sandbox:") + len(match.group(1).rstrip(".,;:"))
            annotations.append(
                {
                    "type": "file_path",
                    "text": text[match.start() : end],
                    "start_index": match.start(),
                    "end_index": end,
                    "file_path": {"file_id": file_id},
                }
            )
        parts: list[ImageFilePart] = [
            {"type": "image_file", "image_file": {"file_id": f}} for f in images
        ]
        return MessageExtras(annotations=annotations, parts=parts)


def _code(arguments: str) -> str:
    """The code the model wrote; arguments that are not ``{"code": ...}`` run as they are
    (some models send bare code)."""
    try:
        parsed = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return arguments
    if isinstance(parsed, dict) and isinstance(parsed.get("code"), str):
        return str(parsed["code"])
    return arguments


def _indexed(index: int, output: CodeOutput) -> IndexedLogsOutput | IndexedImageOutput:
    if output["type"] == "logs":
        return {"index": index, **output}
    return {"index": index, **output}


def _model_output(result: CodeResult, outputs: list[CodeOutput], written: dict[str, str]) -> str:
    lines = []
    if result.reset:
        lines.append("[A new Python session was started: variables from before are gone.]")
    if result.logs:
        lines.append(result.logs)
    figures = sum(1 for output in outputs if output["type"] == "image")
    if figures:
        lines.append(f"[{figures} figure(s) displayed to the user.]")
    for path in written:
        lines.append(f"[File saved: sandbox:{path}]")
    if result.error:
        lines.append(f"[Execution stopped: {result.error}]")
    return "\n".join(lines) if lines else "[The code ran and printed nothing.]"
