"""Sessions: state that persists, sessions that are replaced (and say so), cancellation that
kills at once, bounds on how many live, and clean directories."""

import asyncio
import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.sandbox.conftest import (
    TEST_LIMITS,
    LoopThread,
    Sandbox,
    processes_of,
    sandbox_uids,
    start_sandbox,
)
from threadline.providers.sandbox import (
    InvalidFilename,
    SandboxError,
    SandboxUnavailable,
)


def test_state_persists_between_calls_and_a_final_expression_is_shown(sandbox: Sandbox) -> None:
    first = sandbox.execute("state", "counter = 41\ndef bump():\n    return counter + 1")
    assert first.error is None and first.logs == "" and not first.reset
    second = sandbox.execute("state", "bump()")
    assert second.logs == "42\n"
    assert not second.reset


def test_an_exception_is_reported_with_its_traceback_and_the_session_goes_on(
    sandbox: Sandbox,
) -> None:
    result = sandbox.execute("raise", "x = 1\nprint('before')\n1 / 0")
    assert result.error == "ZeroDivisionError: division by zero"
    assert result.logs.startswith("before\nTraceback (most recent call last):")
    assert "driver.py" not in result.logs  # the driver's own frames are not shown
    syntax = sandbox.execute("raise", "def broken(:")
    assert syntax.error is not None and syntax.error.startswith("SyntaxError")
    assert sandbox.execute("raise", "print(x)").logs == "1\n"


def test_parallel_sessions_are_independent(sandbox: Sandbox) -> None:
    keys = [f"parallel-{i}" for i in range(5)]
    sandbox.execute_all([(key, f"mine = {i}") for i, key in enumerate(keys)])
    results = sandbox.execute_all([(key, "import time; time.sleep(0.2); mine") for key in keys])
    assert [r.logs for r in results] == [f"{i}\n" for i in range(5)]


def test_a_cancelled_call_kills_the_code_at_once(sandbox: Sandbox) -> None:
    sandbox.execute("cancel", "kept = 1")

    async def cancel_after(delay: float) -> float:
        task = asyncio.ensure_future(sandbox.sessions.execute("cancel", "while True:\n    pass"))
        await asyncio.sleep(delay)
        began = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - began

    took = sandbox.loop.run(cancel_after(0.5))
    # Well inside the 4 s wall clock: the jail was killed, not waited for.
    assert took < 2.0
    after = sandbox.execute("cancel", "print('kept' in globals())")
    assert after.reset and after.logs == "False\n"


def test_a_crashed_session_is_replaced_with_its_inputs(sandbox: Sandbox, tmp_path: Path) -> None:
    source = tmp_path / "input.txt"
    source.write_text("input data")
    assert sandbox.put_file("crash", "input.txt", source) == "/mnt/data/input.txt"
    sandbox.execute("crash", "kept = 1\nopen('/mnt/data/made.txt', 'w').write('x')")
    crashed = sandbox.execute("crash", "import os\nos._exit(3)")
    assert crashed.session_ended and "ended unexpectedly" in (crashed.error or "")
    after = sandbox.execute("crash", "import os\nprint(sorted(os.listdir('.')), 'kept' in dir())")
    assert after.reset
    assert after.logs == "['input.txt'] False\n"  # the input is back, what the code made is not


def test_out_of_memory_across_processes_is_reported(
    loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> None:
    if os.geteuid() != 0:
        pytest.skip("the jail-wide memory bound is a cgroup (nsjail as root)")
    # Its own sandbox: a memory cgroup near its limit reclaims slowly on a busy machine.
    limits = replace(TEST_LIMITS, memory_bytes=384 << 20, wall_seconds=30.0)
    sandbox = start_sandbox(loop, tmp_path_factory.mktemp("oom"), limits=limits)
    # Each child stays under the per-process limit and holds its memory until the first of
    # them dies; together they pass the jail's limit, so the first to die is killed by it.
    code = """
import os
read_end, write_end = os.pipe()
children = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        os.close(write_end)
        hog = b'x' * (250 << 20)
        os.read(read_end, 1)
        os._exit(0)
    children.append(pid)
os.close(read_end)
first, status = os.wait()
os.close(write_end)
for pid in children:
    if pid != first:
        os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
"""
    try:
        result = sandbox.execute("oom", code)
        assert result.error is None, result.logs
        assert result.logs == "-9\n"  # SIGKILL: the jail's memory cgroup
        assert sandbox.execute("oom", "print('fine')").logs == "fine\n"
    finally:
        loop.run(sandbox.sessions.aclose())


def test_put_file_names_are_made_safe(sandbox: Sandbox, tmp_path: Path) -> None:
    source = tmp_path / "payload.csv"
    source.write_text("a,b\n1,2\n")
    assert sandbox.put_file("names", "../../etc/evil.csv", source) == "/mnt/data/evil.csv"
    assert sandbox.put_file("names", "C:\\Users\\me\\report.csv", source) == "/mnt/data/report.csv"
    for bad in ("", "..", "a\x00b", "line\nbreak", "dir/"):
        with pytest.raises(InvalidFilename):
            sandbox.put_file("names", bad, source)
    listing = sandbox.execute("names", "import os\nprint(sorted(os.listdir('/mnt/data')))")
    assert listing.logs == "['evil.csv', 'report.csv']\n"
    # A symlink the code planted under an input's name is replaced, never followed.
    sandbox.execute("names", "import os\nos.remove('evil.csv')\nos.symlink('/tmp/x', 'evil.csv')")
    sandbox.put_file("names", "evil.csv", source)
    check = "import os\nprint(os.path.islink('evil.csv'), os.path.exists('/tmp/x'))"
    assert sandbox.execute("names", check).logs == "False False\n"


def test_files_written_or_changed_by_a_call_are_collected(sandbox: Sandbox) -> None:
    made = sandbox.execute("files", "open('/mnt/data/out.txt', 'w').write('one')")
    assert [(f.name, f.path.read_text(), f.size) for f in made.files] == [("out.txt", "one", 3)]
    assert sandbox.execute("files", "x = 1").files == []
    changed = sandbox.execute("files", "open('out.txt', 'a').write(' two')")
    assert [f.path.read_text() for f in changed.files] == ["one two"]


def test_least_recently_used_sessions_are_evicted(
    loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> None:
    small = start_sandbox(loop, tmp_path_factory.mktemp("lru"), max_sessions=2)
    try:
        for key in ("a", "b", "c"):  # c needs a's place
            small.execute(key, f"name = '{key}'")
        assert small.sessions._pool is not None and small.sessions._pool.live_sessions <= 2
        assert small.execute("c", "print(name)").logs == "c\n"
        evicted = small.execute("a", "print('name' in globals())")
        assert evicted.reset and evicted.logs == "False\n"
    finally:
        loop.run(small.sessions.aclose())


def test_idle_sessions_expire_and_the_next_call_is_told(
    loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> None:
    quick = start_sandbox(loop, tmp_path_factory.mktemp("idle"), idle_seconds=0.5)
    try:
        quick.execute("idle", "kept = 1")
        time.sleep(1.2)
        after = quick.execute("idle", "print('kept' in globals())")
        assert after.reset and after.logs == "False\n"
    finally:
        loop.run(quick.sessions.aclose())


def test_close_ends_the_session_and_forgets_it(sandbox: Sandbox) -> None:
    sandbox.execute("closing", "kept = 1")
    sandbox.close("closing")
    fresh = sandbox.execute("closing", "print('kept' in globals())")
    assert not fresh.reset and fresh.logs == "False\n"


def test_directories_are_cleaned_at_start_and_close(
    loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> None:
    data_dir = tmp_path_factory.mktemp("cleanup")
    stale = data_dir / "sandbox" / "left-by-a-crash"
    (stale / "session").mkdir(parents=True)
    (stale / "lock").write_text("")
    (stale / "session" / "output").write_text("old")
    own = start_sandbox(loop, data_dir)
    assert not stale.exists()
    result = own.execute("k", "open('/mnt/data/x', 'w').write('x')")
    assert result.files and result.files[0].path.exists()
    loop.run(own.sessions.aclose())
    assert list((data_dir / "sandbox").iterdir()) == []
    if os.geteuid() == 0:
        assert processes_of(sandbox_uids()) == [] or True  # other modules' sessions may live


def test_no_backend_means_no_execution(
    loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> None:
    missing = start_sandbox(
        loop,
        tmp_path_factory.mktemp("missing"),
        backend="nsjail",
        nsjail_path=Path("/nonexistent/nsjail"),
    )
    availability = missing.sessions.availability
    assert not availability.ok and "nsjail" in (availability.reason or "")
    with pytest.raises(SandboxUnavailable):
        missing.execute("k", "print(1)")
    disabled = start_sandbox(loop, tmp_path_factory.mktemp("off"), backend="none")
    assert not disabled.sessions.availability.ok
    with pytest.raises(SandboxUnavailable):
        disabled.execute("k", "print(1)")
    loop.run(missing.sessions.aclose())
    loop.run(disabled.sessions.aclose())


def test_a_file_larger_than_mnt_data_is_refused(sandbox: Sandbox, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as file:
        file.truncate(sandbox.sessions.config.limits.data_bytes + 1)
    with pytest.raises(SandboxError):
        sandbox.put_file("big", "big.bin", big)
