"""What ``threadline ingest`` prints while it waits: the words (chunks, files, rate, time left),
the estimate of the chunks of files not parsed yet, a bar redrawn in place on a terminal and
plain lines (only when something moved) elsewhere."""

import io

import pytest

from threadline.cli.progress_display import ProgressDisplay, RateMeter, Snapshot, describe, duration


def snapshot(
    done: int, total: int, chunked: int = 1, counted: int = 1, files_done: int = 0
) -> Snapshot:
    return Snapshot(done, total, chunked, counted, files_done, counted)


class Tty(io.StringIO):
    encoding = "utf-8"


def test_words_exact_and_estimated() -> None:
    assert describe(snapshot(412, 1800), None) == "412/1,800 chunks (22%) · 0/1 files"
    assert (
        describe(snapshot(412, 1800), 100.0)
        == "412/1,800 chunks (22%) · 0/1 files · 100 chunks/s · ETA 0:14"
    )
    # Two of four files parsed: the other two are expected to be alike.
    assert describe(snapshot(300, 1000, chunked=2, counted=4, files_done=1), None) == (
        "300/~2,000 chunks (15%) · 1/4 files"
    )
    assert describe(snapshot(0, 0, chunked=0, counted=3), None) == "0 chunks · 0/3 files"
    assert describe(snapshot(50, 50), 10.0) == "50/50 chunks (100%) · 0/1 files · 10 chunks/s"


def test_duration_and_rate() -> None:
    assert [duration(s) for s in (7, 750, 3723)] == ["0:07", "12:30", "1:02:03"]
    meter = RateMeter(window=10)
    assert meter.rate() is None
    for second, done in ((0, 0), (1, 100), (2, 200), (20, 300)):
        meter.add(second, done)
    # (300 - 200) / (20 - 2): the older samples left the window
    assert meter.rate() == pytest.approx(100 / 18)


def test_plain_lines_only_when_something_moved() -> None:
    out = io.StringIO()
    display = ProgressDisplay(out, redraw=False, clock=iter(range(100)).__next__)
    display.status("Uploaded 1/1: a.md")
    for reading in (snapshot(0, 10), snapshot(0, 10), snapshot(5, 10), snapshot(10, 10)):
        display.show(reading)
    display.finish()
    assert out.getvalue().splitlines() == [
        "Uploaded 1/1: a.md",
        "0/10 chunks (0%) · 0/1 files",
        "5/10 chunks (50%) · 0/1 files · 2 chunks/s · ETA 0:02",
        "10/10 chunks (100%) · 0/1 files · 3 chunks/s",
    ]


def test_a_terminal_gets_one_bar_redrawn_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    out = Tty()
    display = ProgressDisplay(out, redraw=True, clock=iter(range(100)).__next__)
    display.show(snapshot(0, 10))
    display.show(snapshot(5, 10))
    display.note("Created vector store 'x'")
    display.show(snapshot(10, 10))
    display.finish()
    text = out.getvalue()
    assert text.count("\n") == 2  # the note's line and the final one: the rest is redrawn
    assert "\r[" + "░" * 30 + "] 0/10 chunks" in text
    assert "\r[" + "█" * 15 + "░" * 15 + "] 5/10 chunks" in text
    assert text.endswith("] 10/10 chunks (100%) · 0/1 files · 5 chunks/s\x1b[K\n")


def test_a_narrow_terminal_keeps_the_words_and_drops_the_bar(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    out = Tty()
    ProgressDisplay(out, redraw=True).show(snapshot(5, 10))
    assert out.getvalue() == "\r5/10 chunks (50%) · 0/1 files\x1b[K"
