"""A small seccomp-BPF program for ``bwrap --seccomp FD``: what a test suite never needs, refused.

Denied with ``EPERM``: creating a user namespace (``unshare``/``clone`` with ``CLONE_NEWUSER``),
``ptrace``, the kernel keyring, ``bpf``, ``perf_event_open``, ``userfaultfd``, io_uring, module and
kexec loading, ``mount``/``umount2``/``pivot_root``/``setns``. ``clone3`` answers ``ENOSYS`` so the C
library falls back to ``clone`` (whose flags a classic BPF filter can inspect). Any other
architecture than the one the filter was built for is killed (no 32-bit syscall side door).

The ``rootns`` isolation needs it: without a user namespace of its own, bubblewrap's
``--disable-userns`` is not available there. The ``userns`` isolation adds it as well.
Built for x86_64 and aarch64; on another machine ``program()`` returns ``None`` and the sandbox
says that it runs without a syscall filter.
"""

from __future__ import annotations

import platform
import struct

_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K

_KILL_PROCESS = 0x80000000
_ERRNO = 0x00050000
_ALLOW = 0x7FFF0000
_EPERM, _ENOSYS = 1, 38
_CLONE_NEWUSER = 0x10000000

# offsets in struct seccomp_data: nr (0), arch (4), args[0] low word (16, little endian)
_NR, _ARCH, _ARG0_LOW = 0, 4, 16

_SYSCALLS: dict[str, tuple[int, dict[str, int]]] = {
    # machine -> (AUDIT_ARCH_*, syscall numbers)
    "x86_64": (0xC000003E, {
        "clone": 56, "unshare": 272, "clone3": 435, "ptrace": 101, "keyctl": 250, "add_key": 248,
        "request_key": 249, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "io_uring_setup": 425,
        "io_uring_enter": 426, "io_uring_register": 427, "kexec_load": 246, "kexec_file_load": 320,
        "init_module": 175, "finit_module": 313, "mount": 165, "umount2": 166, "pivot_root": 155, "setns": 308,
    }),
    "aarch64": (0xC00000B7, {
        "clone": 220, "unshare": 97, "clone3": 435, "ptrace": 117, "keyctl": 219, "add_key": 217,
        "request_key": 218, "bpf": 280, "perf_event_open": 241, "userfaultfd": 282, "io_uring_setup": 425,
        "io_uring_enter": 426, "io_uring_register": 427, "kexec_load": 104, "kexec_file_load": 294,
        "init_module": 105, "finit_module": 273, "mount": 40, "umount2": 39, "pivot_root": 41, "setns": 268,
    }),
}
_DENIED = ("ptrace", "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
           "io_uring_setup", "io_uring_enter", "io_uring_register", "kexec_load", "kexec_file_load",
           "init_module", "finit_module", "mount", "umount2", "pivot_root", "setns")
_X32_SYSCALL_BIT = 0x40000000


def _ins(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def program(machine: str | None = None) -> bytes | None:
    """The filter for ``machine`` (default: this one), or ``None`` where no table is known."""
    machine = machine or platform.machine()
    if machine not in _SYSCALLS:
        return None
    arch, nr = _SYSCALLS[machine]
    prog = [
        _ins(_LD_W_ABS, 0, 0, _ARCH),
        _ins(_JEQ_K, 1, 0, arch),
        _ins(_RET_K, 0, 0, _KILL_PROCESS),
        _ins(_LD_W_ABS, 0, 0, _NR),
    ]
    if machine == "x86_64":  # the x32 ABI shares the architecture value: refuse it
        prog += [_ins(_JGE_K, 0, 1, _X32_SYSCALL_BIT), _ins(_RET_K, 0, 0, _ERRNO | _EPERM)]
    prog += [
        _ins(_JEQ_K, 0, 1, nr["clone3"]),
        _ins(_RET_K, 0, 0, _ERRNO | _ENOSYS),
        # clone or unshare: refuse CLONE_NEWUSER in the first argument, allow the rest
        _ins(_JEQ_K, 1, 0, nr["clone"]),
        _ins(_JEQ_K, 0, 4, nr["unshare"]),
        _ins(_LD_W_ABS, 0, 0, _ARG0_LOW),
        _ins(_JSET_K, 0, 1, _CLONE_NEWUSER),
        _ins(_RET_K, 0, 0, _ERRNO | _EPERM),
        _ins(_RET_K, 0, 0, _ALLOW),
    ]
    for name in _DENIED:  # the syscall number is still in the accumulator
        prog += [_ins(_JEQ_K, 0, 1, nr[name]), _ins(_RET_K, 0, 0, _ERRNO | _EPERM)]
    prog.append(_ins(_RET_K, 0, 0, _ALLOW))
    return b"".join(prog)
