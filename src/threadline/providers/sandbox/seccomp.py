"""The seccomp deny-list every jail gets, in the two forms the backends take: a kafel policy
string for nsjail, a compiled BPF program (through libseccomp) for bubblewrap.

The jail already has no capabilities and ``no_new_privs``; this list closes what an unprivileged
process could still reach: new namespaces (the usual first step of a kernel exploit), mounts,
tracing other processes, and rarely needed, often vulnerable kernel interfaces."""

import contextlib
import errno
import os
import tempfile

# Refused with EPERM.
DENIED = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "keyctl",
    "add_key",
    "request_key",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "acct",
    "swapon",
    "swapoff",
    "reboot",
    "quotactl",
    "syslog",
    "name_to_handle_at",
    "open_by_handle_at",
    "vhangup",
)

# clone3 passes its flags in memory, where a filter cannot read them: ENOSYS makes the C library
# fall back to clone, whose flags are checked.
NOT_IMPLEMENTED = ("clone3",)

# CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
# CLONE_NEWNET: a plain fork or thread passes none of them.
CLONE_NAMESPACE_FLAGS = 0x7E020000

# kafel's names where they differ from the kernel's.
_KAFEL_NAMES = {"umount2": "umount"}


def kafel_policy() -> str:
    denied = ", ".join(_KAFEL_NAMES.get(name, name) for name in DENIED)
    return (
        f"ERRNO({errno.EPERM}) {{ {denied} }} "
        f"ERRNO({errno.ENOSYS}) {{ {', '.join(NOT_IMPLEMENTED)} }} "
        f"ERRNO({errno.EPERM}) {{ clone {{ (clone_flags & {CLONE_NAMESPACE_FLAGS:#x}) != 0 }} }} "
        "DEFAULT ALLOW"
    )


def bpf_program_fd() -> int:
    """An fd (at offset 0) holding the compiled filter, for ``bwrap --seccomp FD``."""
    import pyseccomp  # loads libseccomp; only the bubblewrap backend needs it

    policy = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    for name in DENIED:
        _add(policy, pyseccomp.ERRNO(errno.EPERM), name)
    for name in NOT_IMPLEMENTED:
        _add(policy, pyseccomp.ERRNO(errno.ENOSYS), name)
    for flag in range(32):  # one rule per namespace bit: MASKED_EQ would need all of them
        bit = 1 << flag
        if bit & CLONE_NAMESPACE_FLAGS:
            only_bit = pyseccomp.Arg(0, pyseccomp.MASKED_EQ, bit, bit)
            policy.add_rule(pyseccomp.ERRNO(errno.EPERM), "clone", only_bit)
    with tempfile.TemporaryFile() as program:
        policy.export_bpf(program)
        fd = os.dup(program.fileno())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _add(policy: object, action: int, name: str) -> None:
    # A syscall newer than this libseccomp knows is left out of bubblewrap's filter.
    with contextlib.suppress(OSError, ValueError, RuntimeError):
        policy.add_rule(action, name)  # type: ignore[attr-defined]
