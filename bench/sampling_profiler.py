"""A small statistical profiler for a server process, for when py-spy is not installed.

    python bench/sampling_profiler.py REPORT -m threadline.cli serve [ARGS...]

runs the module as ``python -m`` would. Sampling starts on SIGUSR1 and stops on SIGUSR2 (so only
the measured window is profiled, not start-up); the report is written to REPORT when the process
exits, and the folded stacks (for flamegraph.pl / speedscope) to REPORT.folded.

Every 1 ms of process CPU time (ITIMER_PROF), the main thread's Python stack is recorded, through
greenlet switches (SQLAlchemy's async bridge) and up the coroutine chain. Time in C code (orjson,
pydantic-core, uvloop, httptools) is charged to the Python function that called it. CPU burnt in
other threads (aiosqlite's worker) is charged to whatever the main thread runs next; the bench's
``loop CPU`` column says how much of the total that is.
"""

from __future__ import annotations

import atexit
import collections
import runpy
import signal
import sys
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

try:
    from greenlet import getcurrent
except ImportError:  # pragma: no cover - greenlet comes with SQLAlchemy's asyncio extra
    getcurrent = None

INTERVAL = 0.001
_labels: dict[CodeType, str] = {}
_stacks: collections.Counter[tuple[str, ...]] = collections.Counter()


def _short(filename: str) -> str:
    for marker in ("/site-packages/", "/src/", "/lib/python3.11/", "/bench/"):
        index = filename.rfind(marker)
        if index >= 0:
            return filename[index + len(marker) :]
    return filename


def _label(code: CodeType) -> str:
    label = _labels.get(code)
    if label is None:
        label = f"{_short(code.co_filename)}:{code.co_firstlineno}({code.co_name})"
        _labels[code] = label
    return label


def _walk(frame: FrameType | None, stack: list[str]) -> None:
    while frame is not None:
        stack.append(_label(frame.f_code))
        frame = frame.f_back


def _sample(_signum: int, frame: FrameType | None) -> None:
    stack: list[str] = []
    _walk(frame, stack)
    if getcurrent is not None:
        parent = getcurrent().parent
        while parent is not None:
            _walk(parent.gr_frame, stack)
            parent = parent.parent
    _stacks[tuple(stack)] += 1  # leaf first


def _start(_signum: int, _frame: Any) -> None:
    signal.signal(signal.SIGPROF, _sample)
    signal.setitimer(signal.ITIMER_PROF, INTERVAL, INTERVAL)


def _stop(_signum: int, _frame: Any) -> None:
    signal.setitimer(signal.ITIMER_PROF, 0, 0)


def _package(label: str) -> str:
    path = label.split(":", 1)[0]
    return path.split("/", 1)[0] if "/" in path else path.removesuffix(".py")


def _table(title: str, counts: collections.Counter[str], total: int, rows: int) -> list[str]:
    lines = [f"\n{title}", f"{'samples':>8} {'%':>6}  where"]
    for label, count in counts.most_common(rows):
        lines.append(f"{count:8d} {100 * count / total:5.1f}%  {label}")
    return lines


def report(rows: int = 40) -> str:
    total = sum(_stacks.values())
    if not total:
        return "no samples (was SIGUSR1 sent?)\n"
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    for stack, count in _stacks.items():
        own[stack[0]] += count
        packages[_package(stack[0])] += count
        for label in set(stack):
            inclusive[label] += count
    # Frames on every stack (runpy, uvicorn.run, the event loop's run) say nothing: left out.
    inclusive = collections.Counter({k: n for k, n in inclusive.items() if n < total})
    lines = [
        f"{total} samples: ITIMER_PROF every {INTERVAL * 1000:g} ms of process CPU, coarsened "
        "to the kernel's timer tick"
    ]
    lines += _table("self time by package (leaf frame)", packages, total, 20)
    lines += _table("self time by function", own, total, rows)
    lines += _table(
        "inclusive time by function (frames on every stack left out)", inclusive, total, rows + 20
    )
    return "\n".join(lines) + "\n"


def folded() -> str:
    return "".join(f"{';'.join(reversed(s))} {n}\n" for s, n in _stacks.items())


def _write(path: Path) -> None:
    _stop(0, None)
    path.write_text(report())
    path.with_name(path.name + ".folded").write_text(folded())


def main() -> None:
    if len(sys.argv) < 4 or sys.argv[2] != "-m":
        raise SystemExit(__doc__)
    out, module = Path(sys.argv[1]), sys.argv[3]
    sys.argv = [module, *sys.argv[4:]]
    signal.signal(signal.SIGUSR1, _start)
    signal.signal(signal.SIGUSR2, _stop)
    atexit.register(_write, out)
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
