"""Inside the sandbox: everything written to fds 1 and 2 (Python prints, C libraries, child
processes) goes through one pipe that a thread drains, keeping the head and the tail of each
call's output so that printing a gigabyte costs time, never memory.

A call's output ends at a random marker the driver writes after the call: bytes written before it
belong to the call, bytes after it (a background thread still printing) to the next one."""

import contextlib
import os
import threading


class OutputCapture:
    def __init__(self, read_fd: int, head_limit: int, tail_limit: int) -> None:
        self._fd = read_fd
        self._head_limit = head_limit
        self._tail_limit = tail_limit
        self._cond = threading.Condition()
        self._marker: bytes | None = None
        self._window = b""
        self._result: str | None = None
        self._reset()
        threading.Thread(target=self._pump, name="threadline-output", daemon=True).start()

    def set_limits(self, head_limit: int, tail_limit: int) -> None:
        with self._cond:
            self._head_limit = head_limit
            self._tail_limit = tail_limit

    def _reset(self) -> None:
        self._head = bytearray()
        self._tail = bytearray()
        self._total = 0

    def _keep(self, data: bytes) -> None:
        self._total += len(data)
        room = self._head_limit - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if data:
            self._tail += data
            excess = len(self._tail) - self._tail_limit
            if excess > 0:
                del self._tail[:excess]

    def _render(self) -> str:
        kept = len(self._head) + len(self._tail)
        omitted = self._total - kept
        head = self._head.decode("utf-8", "replace")
        tail = self._tail.decode("utf-8", "replace")
        if omitted <= 0:
            return head + tail
        note = f"\n[... output truncated: {omitted} of {self._total} bytes omitted ...]\n"
        return head + note + tail

    def _pump(self) -> None:
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self._cond:
                marker = self._marker
                if marker is None:
                    self._keep(chunk)
                    continue
                self._window += chunk
                found = self._window.find(marker)
                if found >= 0:
                    self._keep(self._window[:found])
                    rest = self._window[found + len(marker) :]
                    self._finish()
                    self._keep(rest)
                    continue
                cut = len(self._window) - (len(marker) - 1)
                if cut > 0:
                    self._keep(self._window[:cut])
                    self._window = self._window[cut:]

    def _finish(self) -> None:
        """Closes the current call's output (lock held)."""
        self._result = self._render()
        self._reset()
        self._window = b""
        self._marker = None
        self._cond.notify_all()

    def collect(self, write_fd: int, timeout: float) -> str:
        """The output of the call that just ended."""
        marker = b"\x00threadline-end-" + os.urandom(12).hex().encode() + b"\x00"
        with self._cond:
            self._result = None
            self._marker = marker
        with contextlib.suppress(OSError):
            os.write(write_fd, marker)
        with self._cond:
            # The user may have closed or redirected fd 1: then keep what arrived so far.
            if not self._cond.wait_for(lambda: self._result is not None, timeout):
                self._keep(self._window)
                self._finish()
            result = self._result
            self._result = None
        return result or ""
