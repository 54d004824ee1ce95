"""One live Python session: a jail running the REPL driver, spoken to over its pipes.

A session does one thing at a time (the manager holds its lock). A call that runs past the wall
clock, a driver that dies (out of memory, killed by a limit), a protocol violation or a
cancelled call end the jail; the result says so and the manager replaces the session."""

import asyncio
import collections
import contextlib
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

from threadline.providers.sandbox.base import JailSpec, Limits, SandboxBackend, SandboxError
from threadline.providers.sandbox.channel import CHUNK, HostChannel, ProtocolViolation, expect
from threadline.providers.sandbox.files import safe_relative_path
from threadline.providers.sandbox.process import signal_process, spawn, stop
from threadline.providers.sandbox.results import ExecutionResult, OutputFile

START_TIMEOUT = 20.0
TRANSFER_TIMEOUT = 60.0  # images and files after the result, and uploads
MAX_IMAGE_BYTES = 16 << 20
MAX_CODE_CHARS = 1 << 20


class Session:
    def __init__(self, backend: SandboxBackend, spec: JailSpec, workdir: Path) -> None:
        self.backend = backend
        self.spec = spec
        self.limits: Limits = spec.limits
        self.slot = spec.slot
        self.workdir = workdir
        self.started_at = time.monotonic()
        self.last_used = self.started_at
        self._process: asyncio.subprocess.Process | None = None
        self._channel: HostChannel | None = None
        self._stop_signal = 0
        self._stderr: collections.deque[bytes] = collections.deque(maxlen=32)
        self._stderr_task: asyncio.Task[None] | None = None
        self._calls = 0

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        launch = self.backend.launch(self.spec)
        try:
            self._process = await spawn(launch)
        except OSError as error:
            raise SandboxError(f"The sandbox did not start: {error}") from None
        finally:
            for cleanup in launch.cleanup:
                cleanup()
        self._stop_signal = launch.stop_signal
        assert self._process.stdout and self._process.stdin and self._process.stderr
        self._channel = HostChannel(self._process.stdout, self._process.stdin)
        self._stderr_task = asyncio.create_task(self._drain_stderr(self._process.stderr))
        try:
            ready = await asyncio.wait_for(self._channel.read_json(1 << 16), START_TIMEOUT)
        except (TimeoutError, ProtocolViolation):
            ready = None
        except BaseException:
            self.kill_now()
            raise
        if ready is None or ready.get("op") != "ready":
            await self.stop()
            raise SandboxError(f"The sandbox did not start: {self.diagnostics() or 'no output'}")

    async def _drain_stderr(self, stream: asyncio.StreamReader) -> None:
        """The launcher's own messages (nsjail/bwrap errors), the last few kept for the log."""
        with contextlib.suppress(Exception):
            while line := await stream.readline():
                self._stderr.append(line[:500])

    def diagnostics(self) -> str:
        return b"".join(self._stderr).decode("utf-8", "replace").strip()[-2000:]

    def kill_now(self) -> None:
        """Ends the jail at once (cancellation): synchronous, so it happens even if the
        caller's task is being torn down."""
        if self._process is not None:
            signal_process(self._process, self._stop_signal)

    async def stop(self) -> None:
        if self._process is not None:
            await stop(self._process, self._stop_signal)
        if self._stderr_task is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._stderr_task, 1.0)

    # -- calls -----------------------------------------------------------------------------

    async def execute(self, code: str) -> ExecutionResult:
        assert self._channel is not None
        if len(code) > MAX_CODE_CHARS:
            return ExecutionResult(
                logs="", error=f"The code is longer than {MAX_CODE_CHARS} characters."
            )
        self.last_used = time.monotonic()
        self._calls += 1
        limits = self.limits
        for previous in self.workdir.iterdir():  # the last call's files are the caller's now
            shutil.rmtree(previous, ignore_errors=True)
        outputs = self.workdir / f"call-{self._calls}"
        request = {
            "op": "exec",
            "code": code,
            "cpu_seconds": limits.cpu_seconds,
            "output_head": limits.output_bytes * 3 // 4,
            "output_tail": limits.output_bytes // 4,
            "max_images": limits.max_images,
            "max_files": limits.max_files,
            "max_file_bytes": limits.data_bytes,
        }
        try:
            try:
                async with asyncio.timeout(limits.wall_seconds):
                    await self._channel.write_json(request)
                    header = await self._channel.read_json(limits.output_bytes * 8 + (1 << 20))
            except TimeoutError:
                await self.stop()
                seconds = f"{limits.wall_seconds:g}"
                return ExecutionResult(
                    logs="",
                    error=f"Execution timed out after {seconds} seconds; the Python session was "
                    "stopped, so its variables and the files it wrote are gone.",
                    timed_out=True,
                    session_ended=True,
                )
            if header is None:
                return await self._lost("The Python session ended unexpectedly")
            if header.get("op") != "result":
                raise ProtocolViolation("expected a result")
            async with asyncio.timeout(TRANSFER_TIMEOUT):
                return await self._receive(header, outputs)
        except TimeoutError:
            return await self._lost("The Python session stopped sending its outputs")
        except (ConnectionError, ProtocolViolation) as error:
            return await self._lost(f"The Python session broke down ({error})")
        except asyncio.CancelledError:
            self.kill_now()
            raise
        finally:
            self.last_used = time.monotonic()

    async def _receive(self, header: Mapping[str, object], outputs: Path) -> ExecutionResult:
        assert self._channel is not None
        logs = expect(header, "logs", str)
        error = header.get("error")
        if error is not None and not isinstance(error, str):
            raise ProtocolViolation("field 'error' of the wrong type")
        image_count = min(expect(header, "images", int), self.limits.max_images)
        file_count = min(expect(header, "files", int), self.limits.max_files)
        images = []
        for _ in range(image_count):
            image = await self._channel.read(MAX_IMAGE_BYTES)
            if image is None:
                return await self._lost("The Python session ended while sending figures")
            if image.startswith(b"\x89PNG\r\n\x1a\n"):
                images.append(image)
        files = []
        if file_count:
            outputs.mkdir(mode=0o700, exist_ok=True)
        budget = self.limits.data_bytes  # all files of a call together: what /mnt/data holds
        for index in range(file_count):
            collected = await self._receive_file(outputs / str(index), budget)
            if collected is not None:
                files.append(collected)
                budget -= collected.size
        return ExecutionResult(logs=logs, images=images, files=files, error=error)

    async def _receive_file(self, target: Path, budget: int) -> OutputFile | None:
        assert self._channel is not None
        header = await self._channel.read_json(1 << 16)
        if header is None:
            raise ConnectionError("the session ended while sending a file")
        if header.get("op") != "file":
            raise ProtocolViolation("expected a file")
        name = safe_relative_path(expect(header, "name", str))
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        size = 0
        try:
            while chunk := await self._channel.read(CHUNK):
                size += len(chunk)
                if size > budget:
                    raise ProtocolViolation("files larger than /mnt/data")
                os.write(fd, chunk)
        finally:
            os.close(fd)
        if chunk is None:
            raise ConnectionError("the session ended while sending a file")
        if name is None:
            target.unlink()
            return None
        return OutputFile(name=name, path=target, size=size)

    async def _lost(self, what: str) -> ExecutionResult:
        await self.stop()
        code = self._process.returncode if self._process is not None else None
        cause = ""
        if code in (137, -9):
            cause = " (killed: it probably ran out of memory or hit a process limit)"
        elif code in (152, -24):
            cause = " (its CPU time limit was reached)"
        return ExecutionResult(
            logs="",
            error=f"{what}{cause}; its variables and the files it wrote are gone.",
            session_ended=True,
        )

    async def put(self, name: str, source: Path) -> None:
        """Copies ``source`` into /mnt/data/``name`` (``name`` already checked)."""
        assert self._channel is not None
        size = source.stat().st_size
        if size > self.limits.data_bytes:
            raise SandboxError(f"{name} is larger than the sandbox's /mnt/data.")
        self.last_used = time.monotonic()
        try:
            async with asyncio.timeout(TRANSFER_TIMEOUT):
                await self._channel.write_json({"op": "put", "name": name, "size": size})
                with source.open("rb") as file:
                    sent = 0
                    while sent < size:
                        chunk = await asyncio.to_thread(file.read, min(CHUNK, size - sent))
                        if not chunk:
                            chunk = b"\0" * min(CHUNK, size - sent)  # the file shrank
                        await self._channel.write(chunk)
                        sent += len(chunk)
                reply = await self._channel.read_json(1 << 16)
        except asyncio.CancelledError:
            self.kill_now()
            raise
        except (TimeoutError, ConnectionError, ProtocolViolation) as error:
            await self.stop()
            raise SandboxError(f"Copying {name} into the sandbox failed: {error!r}") from None
        if reply is None or reply.get("op") != "stored":
            await self.stop()
            raise SandboxError(f"Copying {name} into the sandbox failed.")
        if reply.get("error"):
            raise SandboxError(f"Copying {name} into the sandbox failed: {reply['error']}")
