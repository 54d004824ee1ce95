"""The ingestion progress ``threadline ingest`` shows: on a terminal, one bar redrawn in place
(chunks done of total, files done of total, rate, time left); elsewhere (a pipe, a CI log), plain
lines, one each time something moved. Nothing here knows HTTP: it is given snapshots."""

import shutil
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

# The rate is measured over this many seconds of recent snapshots: steady, yet it follows an
# embedder that speeds up or slows down.
_RATE_WINDOW_SECONDS = 10.0
_BAR_WIDTH = 30


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Where the ingestion is: chunks embedded of the chunks of the ``files_chunked`` files
    parsed so far, out of ``files_counted`` that will be (the files in progress or completed);
    files finished (completed, failed or cancelled) of all."""

    chunks_done: int
    chunks_total: int
    files_chunked: int
    files_counted: int
    files_done: int
    files_total: int

    def expected_chunks(self) -> int | None:
        """All the chunks there will be: exact once every file is parsed, until then the
        files parsed so far scaled up to all of them (None before the first is parsed)."""
        if self.files_chunked == 0:
            return None
        if self.files_chunked >= self.files_counted:
            return self.chunks_total
        scaled = self.chunks_total * self.files_counted / self.files_chunked
        return max(self.chunks_total, round(scaled))

    def fraction(self) -> float:
        expected = self.expected_chunks()
        return self.chunks_done / expected if expected else 0.0


class RateMeter:
    """Chunks per second over the last few seconds of snapshots."""

    def __init__(self, window: float = _RATE_WINDOW_SECONDS) -> None:
        self._window = window
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, at: float, chunks_done: int) -> None:
        self._samples.append((at, chunks_done))
        while len(self._samples) > 2 and at - self._samples[1][0] >= self._window:
            self._samples.popleft()

    def rate(self) -> float | None:
        if len(self._samples) < 2:
            return None
        (start, first), (end, last) = self._samples[0], self._samples[-1]
        if end <= start:
            return None
        return max(0, last - first) / (end - start)


def duration(seconds: float) -> str:
    """``0:07``, ``12:30``, ``1:02:03``."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def describe(snapshot: Snapshot, rate: float | None) -> str:
    """``412/1,800 chunks (22%) · 3/10 files · 85 chunks/s · ETA 0:16``; ``~1,800`` while the
    total is estimated (some files are not parsed yet)."""
    expected = snapshot.expected_chunks()
    if expected is None:
        parts = [f"{snapshot.chunks_done:,} chunks"]
    else:
        approximate = "~" if expected != snapshot.chunks_total else ""
        percent = 100 * snapshot.chunks_done // expected if expected else 100
        parts = [f"{snapshot.chunks_done:,}/{approximate}{expected:,} chunks ({percent}%)"]
    parts.append(f"{snapshot.files_done:,}/{snapshot.files_total:,} files")
    if rate is not None:
        parts.append(f"{rate:,.0f} chunks/s")
        left = (expected or 0) - snapshot.chunks_done
        if rate > 0 and left > 0:
            parts.append(f"ETA {duration(left / rate)}")
    return " · ".join(parts)


def bar(fraction: float, width: int, ascii_only: bool) -> str:
    filled_char, empty_char = ("#", "-") if ascii_only else ("█", "░")
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return f"[{filled_char * filled}{empty_char * (width - filled)}]"


class ProgressDisplay:
    """``show(snapshot)`` as often as the caller polls; ``finish()`` once it is over."""

    def __init__(
        self,
        stream: TextIO,
        *,
        redraw: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._redraw = redraw
        self._clock = clock
        self._rate = RateMeter()
        self._last_line: str | None = None
        self._last_shown: Snapshot | None = None
        self._widest = 0
        encoding = (getattr(stream, "encoding", None) or "ascii").lower()
        self._ascii = "utf" not in encoding

    def show(self, snapshot: Snapshot) -> None:
        self._rate.add(self._clock(), snapshot.chunks_done)
        text = describe(snapshot, self._rate.rate())
        if self._redraw:
            # The words first; the bar takes what the terminal has left beside the longest
            # words so far (so it does not jump about as they change), none if too narrow.
            self._widest = max(self._widest, len(text))
            room = shutil.get_terminal_size((80, 24)).columns - 1 - self._widest - 3
            width = min(_BAR_WIDTH, room)
            shown = f"{bar(snapshot.fraction(), width, self._ascii)} {text}" if width >= 8 else text
            self._draw(shown)
        elif snapshot != self._last_shown:
            # A log gets a line when something moved, not one per poll.
            self._print(text)
        self._last_shown = snapshot

    def status(self, text: str) -> None:
        """A passing state ("Uploaded 3/10: notes.md"): redrawn on a terminal, a line in a log."""
        if self._redraw:
            self._draw(text)
        else:
            self._print(text)

    def _draw(self, line: str) -> None:
        columns = shutil.get_terminal_size((80, 24)).columns
        line = line[: max(10, columns - 1)]
        if line != self._last_line:
            # Back to the line's start, write it, clear what a longer line left behind.
            self._stream.write(f"\r{line}\x1b[K")
            self._stream.flush()
            self._last_line = line

    def _print(self, line: str) -> None:
        self._stream.write(f"{line}\n")
        self._stream.flush()

    def finish(self) -> None:
        if self._redraw and self._last_line is not None:
            self._stream.write("\n")
            self._stream.flush()
        self._last_line = None

    def note(self, message: str) -> None:
        """A line of its own (an upload done, say), above the bar on a terminal."""
        if self._redraw and self._last_line is not None:
            self._stream.write("\r\x1b[K")
            self._last_line = None
        self._print(message)
