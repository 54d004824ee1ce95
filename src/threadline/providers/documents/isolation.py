"""Parsing in a child process with memory, CPU and wall-clock limits.

A hostile document (a zip bomb dressed as .docx, a PDF with a recursive object graph) must fail
its own vector-store file, never the server: so each parse runs in a fresh child process forked
from a small ``forkserver`` (not from the server, whose threads make ``fork`` unsafe), with
``RLIMIT_AS`` and ``RLIMIT_CPU`` set, and is killed if it outlives the wall-clock limit. The
child sends back the text, or why it refused the file."""

import asyncio
import logging
import multiprocessing
import resource
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from threadline.providers.documents.errors import DocumentRejected

_CONTEXT = multiprocessing.get_context("forkserver")
# Imported once in the fork server, so each child starts with the parsers already loaded.
_CONTEXT.set_forkserver_preload(["threadline.providers.documents.parsers"])


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
    receiver, sender = _CONTEXT.Pipe(duplex=False)
    child = _CONTEXT.Process(
        target=_child_main, args=(sender, str(path), filename, limits), daemon=True
    )
    child.start()
    sender.close()
    try:
        if not receiver.poll(limits.wall_seconds):
            raise DocumentRejected(
                "invalid_file", f"Parsing the file took longer than {limits.wall_seconds:g} s."
            )
        try:
            outcome = receiver.recv()
        except (EOFError, OSError) as error:
            # The child died without answering: killed at its CPU or memory limit.
            raise DocumentRejected(
                "invalid_file", "Parsing the file exceeded its memory or CPU limit."
            ) from error
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join(timeout=5)
    if outcome[0] == "text":
        return str(outcome[1])
    raise DocumentRejected(outcome[1], outcome[2])


def _child_main(sender: Connection, path: str, filename: str, limits: ParseLimits) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
    from threadline.providers.documents.parsers import parse_document

    # pypdf logs every repaired defect of a damaged file; the outcome says what matters.
    logging.getLogger("pypdf").setLevel(logging.CRITICAL)

    try:
        text = parse_document(Path(path), filename)
        if len(text) > limits.max_text_chars:
            raise DocumentRejected("invalid_file", "The file holds too much text to index.")
        outcome: tuple[str, ...] = ("text", text)
    except DocumentRejected as rejected:
        outcome = ("rejected", rejected.code, rejected.message)
    except MemoryError:
        outcome = ("rejected", "invalid_file", "Parsing the file exceeded its memory limit.")
    except RecursionError:
        outcome = ("rejected", "invalid_file", "The file is nested too deeply to parse.")
    except Exception:  # any other parser failure is this file's problem, not the server's
        outcome = ("rejected", "invalid_file", "The file could not be parsed.")
    try:
        sender.send(outcome)
    finally:
        sender.close()
