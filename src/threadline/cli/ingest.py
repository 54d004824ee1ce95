"""``threadline ingest PATH... --store NAME``: put local files into a vector store of a running
server and watch them being indexed.

A client of the server's public API, like any other (the official ``openai`` SDK, a project key
from ``--api-key``, ``THREADLINE_API_KEY`` or ``OPENAI_API_KEY``): it uploads the files
(directories walked recursively, files of unsupported types skipped with a message), finds the
store named NAME or creates it, adds the files in file batches, and shows their ``progress``
until every file is done, then a summary. Exits 0 when every file was indexed, 1 otherwise."""

import argparse
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from threadline.cli.progress_display import ProgressDisplay, Snapshot, duration
from threadline.providers.documents.formats import SUPPORTED_EXTENSIONS

if TYPE_CHECKING:
    from openai import OpenAI
    from openai.types.vector_stores import VectorStoreFileBatch

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
KEY_VARIABLES = ("THREADLINE_API_KEY", "OPENAI_API_KEY")
MAX_BATCH_FILES = 2000  # the API's limit per file batch
_UPLOADS_AT_ONCE = 4


@dataclass(frozen=True, slots=True)
class LocalFile:
    path: Path
    name: str  # the uploaded file's name: its path below the directory given, or its own name


def collect(arguments: list[str], warn: Any) -> list[LocalFile]:
    """The files to upload, in a stable order: files as given, directories walked (hidden
    entries skipped); files the server cannot index are left out, each with a message."""
    found: list[LocalFile] = []
    seen: set[Path] = set()
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            candidates = [
                LocalFile(inner, inner.relative_to(path.resolve().parent).as_posix())
                for inner in _walk(path.resolve())
            ]
        elif path.is_file():
            candidates = [LocalFile(path, path.name)]
        else:
            warn(f"skipping {argument}: no such file or directory")
            continue
        for candidate in candidates:
            resolved = candidate.path.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            suffix = candidate.path.suffix.lower()
            if suffix not in SUPPORTED_EXTENSIONS:
                warn(f"skipping {candidate.name}: unsupported file type {suffix or '(none)'}")
                continue
            found.append(candidate)
    return found


def _walk(directory: Path) -> Iterator[Path]:
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            yield from _walk(entry)
        elif entry.is_file():
            yield entry


def _warn(message: str) -> None:
    print(f"threadline: {message}", file=sys.stderr, flush=True)


def _ingest(args: argparse.Namespace) -> int:
    import openai

    key = args.api_key or next((os.environ[v] for v in KEY_VARIABLES if os.environ.get(v)), None)
    if not key:
        _warn("no API key: pass --api-key or set THREADLINE_API_KEY (or OPENAI_API_KEY)")
        return 2
    files = collect(args.paths, _warn)
    if not files:
        _warn("nothing to ingest")
        return 1
    display = ProgressDisplay(sys.stdout, redraw=sys.stdout.isatty() and not args.plain)
    client = openai.OpenAI(base_url=args.base_url, api_key=key, max_retries=2)
    try:
        return Ingest(client, display, args.interval).run(files, args.store)
    except openai.APIConnectionError:
        display.finish()
        _warn(f"cannot reach the server at {args.base_url}")
        return 1
    except openai.APIStatusError as error:
        display.finish()
        _warn(f"the server answered {error.status_code}: {_message(error)}")
        return 1
    except KeyboardInterrupt:
        display.finish()
        _warn("stopped watching; the server goes on indexing what it was given")
        return 130
    finally:
        client.close()


def _message(error: Any) -> str:
    body = error.body if isinstance(error.body, dict) else {}
    return str(body.get("message") or error.message)


class Ingest:
    def __init__(self, client: "OpenAI", display: ProgressDisplay, interval: float) -> None:
        self._client = client
        self._display = display
        self._interval = interval

    def run(self, files: list[LocalFile], store_name: str) -> int:
        started = time.monotonic()
        store_id = self._store(store_name)
        uploaded = self._upload(files)
        if not uploaded:
            _warn("no file could be uploaded")
            return 1
        file_ids = list(uploaded)
        batches = [
            self._client.vector_stores.file_batches.create(
                vector_store_id=store_id, file_ids=file_ids[start : start + MAX_BATCH_FILES]
            )
            for start in range(0, len(file_ids), MAX_BATCH_FILES)
        ]
        batches = self._watch(store_id, batches)
        return self._summary(store_id, store_name, batches, uploaded, started)

    def _store(self, name: str) -> str:
        """The newest usable store named ``name``, or a new one."""
        for store in self._client.vector_stores.list(order="desc"):
            if store.name == name and store.status != "expired":
                self._display.note(f"Using vector store '{name}' ({store.id})")
                return store.id
        created = self._client.vector_stores.create(name=name)
        self._display.note(f"Created vector store '{name}' ({created.id})")
        return created.id

    def _upload(self, files: list[LocalFile]) -> dict[str, LocalFile]:
        """Uploads a few at a time; file id -> local file, in the order given."""
        import openai

        def one(local: LocalFile) -> str | None:
            try:
                with local.path.open("rb") as content:
                    created = self._client.files.create(
                        file=(local.name, content), purpose="assistants"
                    )
                return created.id
            except openai.APIStatusError as error:
                _warn(f"could not upload {local.name}: {_message(error)}")
                return None

        uploaded: dict[str, LocalFile] = {}
        with ThreadPoolExecutor(_UPLOADS_AT_ONCE) as pool:
            for count, (local, file_id) in enumerate(
                zip(files, pool.map(one, files), strict=True), 1
            ):
                if file_id is not None:
                    uploaded[file_id] = local
                self._display.status(f"Uploaded {count}/{len(files)}: {local.name}")
        self._display.finish()
        return uploaded

    def _watch(
        self, store_id: str, batches: list["VectorStoreFileBatch"]
    ) -> list["VectorStoreFileBatch"]:
        retrieve = self._client.vector_stores.file_batches.retrieve
        while True:
            self._display.show(_snapshot(batches))
            if all(batch.status != "in_progress" for batch in batches):
                self._display.finish()
                return batches
            time.sleep(max(0.05, self._interval))
            batches = [retrieve(batch.id, vector_store_id=store_id) for batch in batches]

    def _summary(
        self,
        store_id: str,
        store_name: str,
        batches: list["VectorStoreFileBatch"],
        uploaded: dict[str, LocalFile],
        started: float,
    ) -> int:
        done = _snapshot(batches)
        completed = sum(batch.file_counts.completed for batch in batches)
        print(
            f"Indexed {completed} of {len(uploaded)} files ({done.chunks_total:,} chunks) into "
            f"vector store '{store_name}' ({store_id}) in {duration(time.monotonic() - started)}"
        )
        problems = 0
        for batch in batches:
            for status in ("failed", "cancelled"):
                for item in self._client.vector_stores.file_batches.list_files(
                    batch.id, vector_store_id=store_id, filter=status
                ):
                    problems += 1
                    reason = item.last_error.message if item.last_error else status
                    print(
                        f"  {status}: {uploaded[item.id].name if item.id in uploaded else item.id}"
                        f": {reason}"
                    )
        return 1 if problems or completed < len(uploaded) else 0


def _snapshot(batches: list["VectorStoreFileBatch"]) -> Snapshot:
    """The batches' files and ``progress`` (an extra field; absent from a server that does not
    report it: chunks then stay 0 and the files tell the progress)."""
    sums = dict.fromkeys(("chunks_done", "chunks_total", "files_chunked"), 0)
    files_counted = files_done = files_total = 0
    for batch in batches:
        progress = (batch.model_extra or {}).get("progress") or {}
        for name in sums:
            sums[name] += int(progress.get(name) or 0)
        counts = batch.file_counts
        files_counted += counts.completed + counts.in_progress
        files_done += counts.completed + counts.failed + counts.cancelled
        files_total += counts.total
    return Snapshot(
        **sums, files_counted=files_counted, files_done=files_done, files_total=files_total
    )


def add_ingest_command(commands: Any) -> None:
    ingest = commands.add_parser(
        "ingest",
        help="upload files into a vector store of a running server and show the indexing",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ingest.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
    ingest.add_argument("--store", required=True, metavar="NAME", help="vector store name")
    ingest.add_argument(
        "--base-url",
        default=DEFAULT_BASE_URL,
        help=f"the server's API (default {DEFAULT_BASE_URL})",
    )
    ingest.add_argument("--api-key", help="a project key (default: $THREADLINE_API_KEY)")
    ingest.add_argument(
        "--plain", action="store_true", help="plain progress lines even on a terminal"
    )
    ingest.add_argument(
        "--interval", type=float, default=0.5, help="seconds between looks (default 0.5)"
    )
    ingest.set_defaults(handler=_ingest)
