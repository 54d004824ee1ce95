"""Inside the sandbox: the REPL driver, a stdlib-only script the jail starts before any user
byte exists. User code only ever arrives later, as data in a length-prefixed JSON frame on the
protocol pipe, and runs with ``exec`` in one persistent namespace (so variables survive between
calls); it is never written into a script. The host treats everything this process sends as
untrusted and bounds it again.

Frames: a 4-byte big-endian length, then the payload. Host -> driver: ``{"op": "exec", ...}`` or
``{"op": "put", "name", "size"}`` followed by the file's bytes in chunks. Driver -> host:
``{"op": "ready"}`` once; per exec a result, then one frame per PNG, then per collected file a
JSON header, its chunks and an empty frame; per put ``{"op": "stored"}``."""

import ast
import builtins
import contextlib
import io
import json
import linecache
import math
import os
import resource
import signal
import sys
import traceback
import types

INSIDE_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, INSIDE_DIR)

import threadline_figures  # noqa: E402
from threadline_capture import OutputCapture  # noqa: E402
from threadline_files import Upload, changed, open_regular, snapshot  # noqa: E402

CHUNK = 1 << 20
MAX_FRAME = 64 << 20
MAX_TRACEBACK = 16 << 10


class CpuTimeExceeded(BaseException):
    """Raised in the user's code at the per-call CPU limit (a BaseException, like
    KeyboardInterrupt, so that ``except Exception`` does not swallow it)."""


class Channel:
    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._in = io.FileIO(read_fd, "rb", closefd=False)
        self._out = write_fd

    def _read_exactly(self, size: int) -> bytes | None:
        data = bytearray()
        while len(data) < size:
            chunk = self._in.read(size - len(data))
            if not chunk:
                return None
            data += chunk
        return bytes(data)

    def read(self) -> bytes | None:
        header = self._read_exactly(4)
        if header is None:
            return None
        size = int.from_bytes(header, "big")
        if size > MAX_FRAME:
            raise SystemExit("frame too large")
        return self._read_exactly(size)

    def write(self, payload: bytes) -> None:
        view = memoryview(len(payload).to_bytes(4, "big") + payload)
        while view:
            view = view[os.write(self._out, view) :]

    def write_json(self, message: dict[str, object]) -> None:
        self.write(json.dumps(message).encode())


class Driver:
    def __init__(self) -> None:
        # The protocol keeps its own copies of stdin/stdout; fds 0-2 become the user's.
        self.channel = Channel(os.dup(0), os.dup(1))
        null = os.open("/dev/null", os.O_RDWR)
        os.dup2(null, 0)
        os.close(null)
        read_end, self._capture_fd = os.pipe()
        self._restore_stdio()
        self.capture = OutputCapture(read_end, 48 << 10, 16 << 10)
        self.module = types.ModuleType("__main__")
        self.module.__dict__["__builtins__"] = builtins
        sys.modules["__main__"] = self.module
        self.in_cell = False
        self.cells = 0
        self.known = snapshot()
        threadline_figures.install()
        signal.signal(signal.SIGXCPU, self._cpu_exceeded)

    def _restore_stdio(self) -> None:
        """fds 1 and 2 (and sys.stdout/err) lead to the capture pipe again, whatever the last
        call did to them."""
        os.dup2(self._capture_fd, 1)
        os.dup2(self._capture_fd, 2)
        for name, fd in (("stdout", 1), ("stderr", 2)):
            raw = io.FileIO(fd, "w", closefd=False)
            stream = io.TextIOWrapper(
                io.BufferedWriter(raw), "utf-8", "backslashreplace", line_buffering=True
            )
            setattr(sys, name, stream)
            setattr(sys, f"__{name}__", stream)

    def _cpu_exceeded(self, signum: int, frame: object) -> None:
        if self.in_cell:
            raise CpuTimeExceeded("CPU time limit exceeded")

    def serve(self) -> None:
        self.channel.write_json({"op": "ready", "pid": os.getpid()})
        while (frame := self.channel.read()) is not None:
            request = json.loads(frame)
            if request["op"] == "exec":
                self.execute(request)
            elif request["op"] == "put":
                self.put(request)

    # -- exec ------------------------------------------------------------------------------

    def execute(self, request: dict) -> None:
        self.capture.set_limits(request["output_head"], request["output_tail"])
        self._restore_stdio()
        error = self.run_cell(request["code"], request["cpu_seconds"])
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        images = self._images(request["max_images"])
        logs = self.capture.collect(self._capture_fd, timeout=2.0)
        after = snapshot()
        paths = changed(self.known, after)
        self.known = after
        if error is not None:
            logs += error[1]
        self.channel.write_json(
            {
                "op": "result",
                "logs": logs,
                "error": error[0] if error else None,
                "images": len(images),
                "files": min(len(paths), request["max_files"]),
            }
        )
        for image in images:
            self.channel.write(image)
        for path in paths[: request["max_files"]]:
            self._send_file(path, request["max_file_bytes"])

    def run_cell(self, code: str, cpu_seconds: int) -> tuple[str, str] | None:
        """Runs one call's code; returns (summary, traceback text) if it raised."""
        self.cells += 1
        filename = f"<cell-{self.cells}>"
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        namespace = self.module.__dict__
        self._set_cpu_budget(cpu_seconds)
        self.in_cell = True
        try:
            tree = ast.parse(code, filename, "exec")
            last = None
            if tree.body and isinstance(tree.body[-1], ast.Expr) and not _ends_quietly(code):
                # As in a notebook, the value of a final expression is shown (unless the cell
                # ends with a semicolon).
                last = ast.Expression(tree.body.pop().value)
            exec(compile(tree, filename, "exec"), namespace)
            if last is not None:
                value = eval(compile(last, filename, "eval"), namespace)
                if value is not None:
                    namespace["_"] = value
                    print(repr(value))
            return None
        except BaseException as error:  # the user's error, reported, never fatal here
            self.in_cell = False  # a late SIGXCPU must not interrupt the report itself
            return _describe(error)
        finally:
            self.in_cell = False
            self._set_cpu_budget(None)

    @staticmethod
    def _set_cpu_budget(seconds: int | None) -> None:
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        soft = hard
        if seconds is not None:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            soft = math.ceil(usage.ru_utime + usage.ru_stime) + seconds
            if hard != resource.RLIM_INFINITY:
                soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))

    def _images(self, limit: int) -> list[bytes]:
        """The figures shown during the call, then those still open, whatever the backend."""
        if "matplotlib.pyplot" in sys.modules:
            try:
                threadline_figures.flush_figures()
            except Exception as error:
                print(f"[figures could not be rendered: {error!r}]", file=sys.stderr)
        pending = threadline_figures.PENDING
        images = pending[:limit]
        if len(pending) > limit:
            print(f"[{len(pending) - limit} more figures not shown]", file=sys.stderr)
        pending.clear()
        return images

    def _send_file(self, path: str, max_bytes: int) -> None:
        self.channel.write_json({"op": "file", "name": path})
        opened = open_regular(path)
        if opened is not None:
            fd, size = opened
            try:
                sent = 0
                while sent < min(size, max_bytes) and (chunk := os.read(fd, CHUNK)):
                    chunk = chunk[: max_bytes - sent]
                    self.channel.write(chunk)
                    sent += len(chunk)
            finally:
                os.close(fd)
        self.channel.write(b"")

    # -- put -------------------------------------------------------------------------------

    def put(self, request: dict) -> None:
        remaining = request["size"]
        error = None
        upload = None
        try:
            upload = Upload(request["name"])
        except OSError as failure:
            error = f"{type(failure).__name__}: {failure.strerror}"
        while remaining > 0:
            chunk = self.channel.read()
            if chunk is None:
                raise SystemExit("host went away during an upload")
            remaining -= len(chunk)
            if upload is not None and error is None:
                try:
                    upload.write(chunk)
                except OSError as failure:
                    error = f"{type(failure).__name__}: {failure.strerror}"
        if upload is not None:
            try:
                if error is None:
                    upload.commit()
                else:
                    upload.abort()
            except OSError as failure:
                error = f"{type(failure).__name__}: {failure.strerror}"
        self.known = snapshot()  # an input is not an output
        self.channel.write_json({"op": "stored", "error": error})


def _ends_quietly(code: str) -> bool:
    lines = [line.split("#", 1)[0].rstrip() for line in code.rstrip().splitlines()]
    return bool(lines) and lines[-1].endswith(";")


def _describe(error: BaseException) -> tuple[str, str]:
    summary = traceback.format_exception_only(type(error), error)[-1].strip()
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next  # the driver's own frames are not the user's business
    text = "".join(traceback.format_exception(type(error), error, tb))
    if len(text) > MAX_TRACEBACK:
        text = "[...]\n" + text[-MAX_TRACEBACK:]
    return summary, text


def _reap_as_init(driver_pid: int) -> None:
    """As pid 1 of the jail's pid namespace: reap orphans, and end with the driver."""
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)  # the host sees EOF as soon as the driver is gone
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(0)
        except InterruptedError:
            continue
        if pid == driver_pid:
            code = os.waitstatus_to_exitcode(status)
            os._exit(code if code >= 0 else 128 - code)


def main() -> None:
    if os.getpid() == 1:
        child = os.fork()
        if child:
            _reap_as_init(child)
    Driver().serve()


if __name__ == "__main__":
    main()
