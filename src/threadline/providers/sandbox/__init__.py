"""code_interpreter's sandbox: stateful Python sessions in real jails (nsjail by default,
bubblewrap where installed), keyed by thread. The engine calls:

    sessions = state.sandbox                      # a SandboxSessions, started by AppState
    sessions.availability                          # Availability(ok, reason, backend)
    await sessions.put_file(thread_id, "data.csv", Path(blob))   # -> "/mnt/data/data.csv"
    result = await sessions.execute(thread_id, code)             # -> ExecutionResult
    result.logs, result.images (PNG bytes), result.files ([OutputFile(name, path, size)]),
    result.error, result.timed_out, result.reset (variables were lost before this call),
    result.session_ended (this call lost them)
    await sessions.close(thread_id)               # thread deleted: end its session
    await sessions.aclose()                       # server shutdown

Cancelling the task awaiting ``execute`` kills the code at once. ``execute`` and ``put_file``
raise ``SandboxUnavailable`` when no sandbox passed the start-up probe (never run unsandboxed),
``SandboxError`` when the session cannot take the call (all sessions busy, a file too large),
and ``put_file`` raises ``InvalidFilename`` for a name that has no safe form."""

from threadline.providers.sandbox.base import Limits, SandboxError, SandboxUnavailable
from threadline.providers.sandbox.files import InvalidFilename, safe_filename
from threadline.providers.sandbox.results import ExecutionResult, OutputFile
from threadline.providers.sandbox.sessions import Availability, SandboxConfig, SandboxSessions

__all__ = [
    "Availability",
    "ExecutionResult",
    "InvalidFilename",
    "Limits",
    "OutputFile",
    "SandboxConfig",
    "SandboxError",
    "SandboxSessions",
    "SandboxUnavailable",
    "safe_filename",
]
