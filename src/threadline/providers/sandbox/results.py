"""What a call into a sandbox session returns."""

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class OutputFile:
    name: str  # where the code wrote it, relative to /mnt/data ("out.csv", "plots/a.png")
    path: Path  # the host's copy: valid until the next execute() on the same key, or close()
    size: int


@dataclass
class ExecutionResult:
    logs: str  # stdout and stderr interleaved, then the traceback; head and tail past the bound
    images: list[bytes] = field(default_factory=list)  # PNGs from plt.show() / open figures
    files: list[OutputFile] = field(default_factory=list)  # created or changed in /mnt/data
    error: str | None = None  # "ZeroDivisionError: division by zero", a limit, a crash...
    timed_out: bool = False  # the wall-clock limit ended the call (and the session)
    reset: bool = False  # a new session replaced a lost one before this call: variables and
    #                      files the code wrote are gone (inputs put with put_file are back)
    session_ended: bool = False  # this call lost the session: the next one starts afresh
