"""Parsing in a child process with memory, CPU and wall-clock limits.

A hostile document (a zip bomb dressed as .docx, a PDF with a recursive object graph) must fail
its own vector-store file, never the server: so each parse runs in a fresh Python process
(``python -m threadline.providers.documents.child``), which sets ``RLIMIT_AS`` and ``RLIMIT_CPU``
on itself before reading the file and is killed if it outlives the wall-clock limit. A fresh
interpreter rather than ``fork``: the server has threads, and forking a threaded process is
unsafe; ``multiprocessing``'s spawn and forkserver would re-import the server's main module. The
child answers on stdout with one JSON object: the text, or why it refused the file."""

import asyncio
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import orjson

from threadline.providers.documents.errors import DocumentRejected

log = logging.getLogger("threadline.providers.documents")


@dataclass(frozen=True, slots=True)
class ParseLimits:
    memory_bytes: int = 1024 * 1024 * 1024
    cpu_seconds: int = 60
    wall_seconds: float = 120.0
    max_text_chars: int = 40_000_000  # about 10M tokens: more than any file_search file held


async def parse_isolated(path: Path, filename: str, limits: ParseLimits) -> str:
    """The file's text, parsed in a limited child process. Raises ``DocumentRejected``."""
    return await asyncio.to_thread(_run_child, path, filename, limits)


def _run_child(path: Path, filename: str, limits: ParseLimits) -> str:
    command = [
        sys.executable,
        "-m",
        "threadline.providers.documents.child",
        str(path),
        filename,
        str(limits.memory_bytes),
        str(limits.cpu_seconds),
        str(limits.max_text_chars),
    ]
    child = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # Not the server's environment: it holds keys, and the child reads untrusted files.
        env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8"},
    )
    try:
        output, errors = child.communicate(timeout=limits.wall_seconds)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        raise DocumentRejected(
            "invalid_file", f"Parsing the file took longer than {limits.wall_seconds:g} s."
        ) from None
    try:
        outcome = orjson.loads(output)
    except orjson.JSONDecodeError:
        # No answer: the child was killed at its CPU or memory limit, or crashed outright.
        log.warning(
            "parser process ended with %s: %s",
            child.returncode,
            errors[-500:].decode(errors="replace"),
        )
        raise DocumentRejected(
            "invalid_file", "Parsing the file exceeded its memory or CPU limit."
        ) from None
    if "text" in outcome:
        return str(outcome["text"])
    raise DocumentRejected(outcome["code"], outcome["message"])
