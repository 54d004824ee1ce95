"""code_interpreter's ``CodeRunner`` on the sandbox sessions (``providers.sandbox``).

A session is keyed by project and thread. The run's files are put into the session before its
code runs, once per session (the sandbox restores them itself in a session that replaces a lost
one). What the sandbox reports — a limit hit, a lost session — is told to the model; only a
sandbox that is not there at all fails the run."""

from collections import OrderedDict
from collections.abc import Sequence

from threadline.engine.tools.code_interpreter import CodeResult, InputFile
from threadline.providers.llm.base import UpstreamFailure
from threadline.providers.sandbox import (
    InvalidFilename,
    SandboxError,
    SandboxSessions,
    SandboxUnavailable,
)

# Sessions whose put files are remembered; older ones just get their files put again.
_REMEMBERED_SESSIONS = 10_000


class SandboxRunner:
    def __init__(self, sessions: SandboxSessions) -> None:
        self._sessions = sessions
        self._put: OrderedDict[str, set[str]] = OrderedDict()  # session key -> file ids put

    async def run(self, session_key: str, code: str, files: Sequence[InputFile]) -> CodeResult:
        try:
            notes = await self._put_files(session_key, files)
            result = await self._sessions.execute(session_key, code)
        except SandboxUnavailable as unavailable:
            raise UpstreamFailure(
                "server_error", f"code_interpreter is unavailable: {unavailable}"
            ) from None
        except SandboxError as error:
            return CodeResult(logs="", error=f"the sandbox could not run the code: {error}")
        error = result.error  # the sandbox's own words say what was lost, if anything
        if error is None and result.timed_out:
            error = "the time limit was reached; the session was restarted"
        elif error is None and result.session_ended:
            error = "the session ended; its variables are gone"
        return CodeResult(
            logs="\n".join([*notes, result.logs]) if notes else result.logs,
            images=result.images,
            files=[(output.name, output.path) for output in result.files],
            reset=result.reset,
            error=error,
        )

    async def _put_files(self, session_key: str, files: Sequence[InputFile]) -> list[str]:
        put = self._put.setdefault(session_key, set())
        self._put.move_to_end(session_key)
        while len(self._put) > _REMEMBERED_SESSIONS:
            self._put.popitem(last=False)
        notes = []
        for file in files:
            if file.file_id in put:
                continue
            try:
                await self._sessions.put_file(session_key, file.filename, file.path)
            except InvalidFilename:
                notes.append(f"[File {file.file_id} has a name that cannot be used: not added.]")
            put.add(file.file_id)
        return notes

    async def close(self, session_key: str) -> None:
        self._put.pop(session_key, None)
        await self._sessions.close(session_key)
