"""The sandbox's escape and abuse suite, on every backend this machine has. Each payload is real
code in a real jail; each attempt must be denied within its bound, and the host (this process,
other sessions) must be unaffected afterwards."""

import json
import os
import platform
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.sandbox.conftest import (
    BACKENDS,
    CANARY,
    TEST_LIMITS,
    LoopThread,
    Sandbox,
    make_sandbox,
    processes_of,
    sandbox_uids,
)


@pytest.fixture(scope="module", params=BACKENDS)
def jail(
    request: pytest.FixtureRequest,
    loop: LoopThread,
    tmp_path_factory: pytest.TempPathFactory,
    canary_env: str,
) -> Iterator[Sandbox]:
    yield from make_sandbox(loop, tmp_path_factory, request.param)


def report(jail: Sandbox, key: str, code: str) -> dict:
    """Runs ``code``, which prints one JSON object last."""
    result = jail.execute(key, code)
    assert result.error is None, result.logs
    return json.loads(result.logs.strip().splitlines()[-1])


def test_host_files_are_not_there(jail: Sandbox) -> None:
    paths = [
        "/etc/shadow",
        "/etc/passwd",
        "/root",
        "/home",
        "/var",
        str(jail.data_dir.resolve()),
        str(jail.data_dir.resolve() / "threadline.db"),
        os.getcwd(),
    ]
    code = (
        "import json, os\n"
        f"print(json.dumps({{p: os.listdir(p) if os.path.isdir(p) else 'file' for p in {paths!r}"
        " if os.path.exists(p)}))"
    )
    found = report(jail, "files", code)
    # Only the empty parents of the runtime's mount points exist, holding just the way there.
    runtime = [m.path for m in jail.sessions._pool.runtime.mounts if m.link_to is None]
    for path, listing in found.items():
        assert any(mount.is_relative_to(path) and mount != Path(path) for mount in runtime), path
        assert all(any((Path(path) / name) in [*m.parents, m] for m in runtime) for name in listing)
    assert "/etc/shadow" not in found and "/etc/passwd" not in found
    mounts = jail.execute("files", "print(open('/proc/self/mounts').read())").logs
    assert str(jail.data_dir.resolve()) not in mounts
    assert " /etc " not in mounts


def test_no_server_environment(jail: Sandbox) -> None:
    code = """
import json, os
leaks = []
for pid in os.listdir('/proc'):
    if pid.isdigit():
        try:
            leaks.append(open(f'/proc/{pid}/environ', 'rb').read().decode(errors='replace'))
        except OSError:
            pass
print(json.dumps({'env': dict(os.environ), 'proc': leaks}))
"""
    seen = report(jail, "env", code)
    assert "THREADLINE_TEST_CANARY" not in seen["env"]
    assert not any(name.startswith(("THREADLINE", "OPENAI")) for name in seen["env"])
    assert CANARY not in json.dumps(seen)
    assert seen["env"]["HOME"] == "/tmp"


def test_no_network_not_even_the_hosts_loopback(jail: Sandbox) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    tcp_port, udp_port = listener.getsockname()[1], receiver.getsockname()[1]
    code = f"""
import json, socket
out = {{}}
try:
    socket.create_connection(('127.0.0.1', {tcp_port}), timeout=2)
    out['tcp'] = 'connected'
except OSError as e:
    out['tcp'] = type(e).__name__
try:
    socket.getaddrinfo('example.com', 443)
    out['dns'] = 'resolved'
except OSError as e:
    out['dns'] = type(e).__name__
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.sendto(b'sandbox', ('127.0.0.1', {udp_port}))
out['interfaces'] = [line.split(':')[0].strip() for line in open('/proc/net/dev').readlines()[2:]]
print(json.dumps(out))
"""
    try:
        seen = report(jail, "net", code)
        listener.settimeout(0.3)
        with pytest.raises(TimeoutError):
            listener.accept()
        receiver.settimeout(0.3)
        with pytest.raises(TimeoutError):
            receiver.recv(100)
    finally:
        listener.close()
        receiver.close()
    assert seen["tcp"] == "ConnectionRefusedError"  # the jail's own, empty loopback
    assert seen["dns"] == "gaierror"
    assert seen["interfaces"] == ["lo"]


def test_fork_bomb_stops_at_the_process_limit_and_leaves_nothing(jail: Sandbox) -> None:
    before = len(processes_of(sandbox_uids()))
    code = """
import json, os, time
children = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        children += 1
except OSError as e:
    print(json.dumps({'children': children, 'errno': e.errno}))
"""
    seen = report(jail, "forkbomb", code)
    assert seen["children"] < TEST_LIMITS.max_processes
    assert seen["errno"] == 11  # EAGAIN
    assert jail.execute("forkbomb", "print('still here')").logs == "still here\n"
    jail.close("forkbomb")
    if os.geteuid() == 0:  # sandboxes run as their own uids: none of theirs may be left
        deadline = time.monotonic() + 10
        while len(processes_of(sandbox_uids())) > before and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(processes_of(sandbox_uids())) <= before


def test_memory_bomb_is_a_memory_error(jail: Sandbox) -> None:
    result = jail.execute("memory", "hog = bytearray(4 << 30)")
    assert result.error is not None and result.error.startswith("MemoryError")
    # Growing in steps of address space (calloc'd, so quick even on a busy machine; the
    # jail-wide bound on resident memory across processes has its own test).
    grow = "chunks = []\nwhile True:\n    chunks.append(bytes(64 << 20))"
    result = jail.execute("memory", grow)
    assert result.error is not None and result.error.startswith("MemoryError")
    assert jail.execute("memory", "del chunks\nprint('ok')").logs == "ok\n"


def test_disk_fill_hits_the_file_size_and_data_limits(jail: Sandbox) -> None:
    code = """
import errno, json, os
out = {}
try:
    with open('/mnt/data/big.bin', 'wb') as f:
        while True:
            f.write(b'x' * (1 << 20))
except OSError as e:
    out['one_file'] = errno.errorcode[e.errno]
try:
    for i in range(100):
        with open(f'/mnt/data/part{i}.bin', 'wb') as f:
            f.write(b'x' * (4 << 20))
except OSError as e:
    out['many_files'] = errno.errorcode[e.errno]
for name in os.listdir('/mnt/data'):
    os.remove('/mnt/data/' + name)
try:
    for i in range(20000):
        open(f'/mnt/data/tiny{i}', 'w').close()
except OSError as e:
    out['inodes'] = (errno.errorcode[e.errno], i)
for name in os.listdir('/mnt/data'):
    os.remove('/mnt/data/' + name)
try:
    with open('/tmp/fill', 'wb') as f:
        while True:
            f.write(b'x' * (1 << 20))
except OSError as e:
    out['tmp'] = errno.errorcode[e.errno]
os.remove('/tmp/fill')
print(json.dumps(out))
"""
    seen = report(jail, "disk", code)
    assert seen["one_file"] in ("EFBIG", "ENOSPC")
    assert seen["many_files"] == "ENOSPC"
    assert seen["tmp"] in ("EFBIG", "ENOSPC")
    if "inodes" in seen:  # bubblewrap's tmpfs has no inode bound of its own
        assert seen["inodes"][0] == "ENOSPC" and seen["inodes"][1] <= TEST_LIMITS.data_files


def test_cpu_limit_interrupts_a_busy_loop_and_keeps_the_session(
    jail: Sandbox, loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Its own sandbox, whose wall clock leaves room for a CPU second on a busy machine.
    limits = replace(TEST_LIMITS, cpu_seconds=1, wall_seconds=30.0)
    backend = jail.sessions.availability.backend
    assert backend is not None
    for own in make_sandbox(loop, tmp_path_factory, backend, limits=limits):
        own.execute("cpu", "kept = 7")
        result = own.execute("cpu", "while True:\n    pass")
        assert result.error is not None and "CPU time limit" in result.error
        assert not result.timed_out
        assert own.execute("cpu", "print(kept)").logs == "7\n"


def test_wall_clock_limit_ends_the_session_and_the_next_call_gets_a_fresh_one(
    jail: Sandbox,
) -> None:
    jail.execute("wall", "kept = 7")
    result = jail.execute("wall", "import time\ntime.sleep(600)")
    assert result.timed_out and result.session_ended
    assert "timed out" in (result.error or "")
    after = jail.execute("wall", "print('kept' in globals())")
    assert after.reset and after.logs == "False\n"


def test_a_flood_of_output_is_truncated_with_a_note(jail: Sandbox) -> None:
    code = (
        "import os\nprint('first line')\n"
        "for _ in range(20):\n    print('y' * (1 << 20))\n"
        "os.write(1, b'z' * (4 << 20))\nprint('last line')"
    )
    result = jail.execute("flood", code)
    assert result.error is None
    assert len(result.logs) < TEST_LIMITS.output_bytes + 200
    assert result.logs.startswith("first line\n")
    assert result.logs.endswith("last line\n")
    assert "output truncated" in result.logs


def test_symlinks_hardlinks_and_fifos_are_never_collected(jail: Sandbox) -> None:
    code = """
import os
os.symlink('/etc/passwd', '/mnt/data/passwd-link')
os.symlink('/proc/self/environ', '/mnt/data/environ-link')
os.symlink('/opt/threadline/driver.py', '/mnt/data/driver-link')
os.mkdir('/mnt/data/dir')
os.symlink('/', '/mnt/data/dir/root-link')
with open('/mnt/data/a.txt', 'w') as f:
    f.write('a')
os.link('/mnt/data/a.txt', '/mnt/data/b.txt')
os.mkfifo('/mnt/data/fifo')
with open('/mnt/data/dir/ok.txt', 'w') as f:
    f.write('ok')
"""
    result = jail.execute("links", code)
    assert result.error is None, result.logs
    assert [(f.name, f.path.read_text()) for f in result.files] == [("dir/ok.txt", "ok")]


def test_privileged_syscalls_are_refused(jail: Sandbox) -> None:
    numbers = {"x86_64": (425, 321, 250), "aarch64": (425, 280, 219)}[platform.machine()]
    code = f"""
import ctypes, errno, json, os
libc = ctypes.CDLL(None, use_errno=True)
def call(fn, *args):
    ctypes.set_errno(0)
    rc = fn(*args)
    return errno.errorcode.get(ctypes.get_errno(), rc) if rc != 0 else 'allowed'
out = {{
    'ptrace': call(libc.ptrace, 16, 1, 0, 0),
    'unshare_user': call(libc.unshare, 0x10000000),
    'unshare_net': call(libc.unshare, 0x40000000),
    'mount': call(libc.mount, b'none', b'/tmp', b'tmpfs', 0, None),
    'umount': call(libc.umount2, b'/mnt/data', 0),
    'io_uring_setup': call(libc.syscall, {numbers[0]}, 1, 0),
    'bpf': call(libc.syscall, {numbers[1]}, 0, 0, 0),
    'keyctl': call(libc.syscall, {numbers[2]}, 0, 0),
}}
try:
    os.setuid(0)
    out['setuid'] = 'allowed'
except OSError as e:
    out['setuid'] = errno.errorcode[e.errno]
try:
    open('/proc/sys/kernel/hostname', 'w').write('x')
    out['proc_sys'] = 'allowed'
except OSError as e:
    out['proc_sys'] = errno.errorcode[e.errno]
print(json.dumps(out))
"""
    seen = report(jail, "syscalls", code)
    assert seen.pop("proc_sys") in ("EROFS", "EACCES", "EPERM")
    assert seen.pop("setuid") in ("EPERM", "EINVAL")  # EINVAL: uid 0 is unmapped in a userns
    assert seen == {name: "EPERM" for name in seen}, seen


def test_only_stdio_and_pipes_are_open(jail: Sandbox) -> None:
    code = """
import json, os
fds = {fd: os.readlink(f'/proc/self/fd/{fd}') for fd in os.listdir('/proc/self/fd')
       if os.path.exists(f'/proc/self/fd/{fd}')}
print(json.dumps(fds))
"""
    seen = report(jail, "fds", code)
    for fd, target in seen.items():  # "/proc/<pid>/fd": the listing's own directory
        assert target.startswith(("pipe:", "/proc/")) or target == "/dev/null", (fd, target)
    assert sum(target.startswith("pipe:") for target in seen.values()) <= 6


def test_kill_everything_kills_only_the_sandbox(jail: Sandbox) -> None:
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        jail.execute("bystander", "kept = 1")
        code = (
            "import os, time\n"
            "child = os.fork()\n"
            "if child == 0:\n"
            "    time.sleep(60)\n"
            "    os._exit(0)\n"
            "os.kill(-1, 9)\n"  # everything this process may signal, but itself
            "print(os.waitpid(child, 0)[1])"
        )
        result = jail.execute("killer", code)
        assert result.logs == "9\n"  # its own child died of it
        assert bystander.poll() is None  # a host process did not
        assert jail.execute("bystander", "print(kept)").logs == "1\n"  # nor another session
    finally:
        bystander.kill()
        bystander.wait()


def test_two_sessions_see_neither_each_others_files_nor_processes(jail: Sandbox) -> None:
    jail.execute("alice", "open('/mnt/data/secret.txt', 'w').write('alice only')\nimport time")
    code = (
        "import json, os\n"
        "print(json.dumps({'files': os.listdir('/mnt/data'), "
        "'pids': sorted(int(p) for p in os.listdir('/proc') if p.isdigit())}))"
    )
    seen = report(jail, "bob", code)
    assert seen["files"] == []
    assert max(seen["pids"]) < 10  # its own namespace: the init, the driver, the listing


def test_forged_protocol_bytes_only_harm_their_own_session(jail: Sandbox) -> None:
    marker_like = '\\x00threadline-end-00\\x00\\x00\\x00\\x00\\x10{"op": "result"}'
    result = jail.execute("forger", f"print('{marker_like}')\nprint('after')")
    assert result.error is None and result.logs.endswith("after\n")
    # Writing a giant frame header straight into every pipe the driver holds:
    code = (
        "import os\n"
        "for fd in map(int, os.listdir('/proc/self/fd')):\n"
        "    try:\n"
        "        os.write(fd, b'\\xff\\xff\\xff\\xff')\n"
        "    except OSError:\n"
        "        pass\n"
    )
    forged = jail.execute("forger", code)
    assert forged.session_ended or forged.error is None
    assert jail.execute("forger", "print(2)").logs == "2\n"
    assert jail.execute("files", "print(3)").logs == "3\n"  # other sessions carry on
