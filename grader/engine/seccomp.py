"""A seccomp filter for the sandboxed kernel, as the classic BPF program bubblewrap's ``--seccomp FD`` loads.

The denied set follows Docker's default profile, restricted to the system calls that either keep
state beyond the sandbox (the kernel keyring of a uid outlives the process and is shared with every
later sandbox that runs as that uid) or expose kernel attack surface, and that ipykernel, numpy,
ZeroMQ and matplotlib never call.  A denied call fails with ``EPERM``; nothing is killed.

* ``clone`` is allowed unless its flags ask for a new namespace (what ``unshare`` would give);
  ``clone3`` passes its flags in memory a filter cannot read, so it fails with ``ENOSYS`` and the
  C library falls back to ``clone``, as under Docker.
* ``personality`` may only query (``0xffffffff``) or set the default persona (``0``), so a
  submission cannot switch off address-space randomisation.
* A call from another ABI (i386 through ``int 0x80``, x32 on x86_64) is refused whatever it is,
  since its numbers differ from the ones checked.
"""
from __future__ import annotations

import errno
import struct

# classic BPF opcodes (linux/bpf_common.h) and seccomp return values (linux/seccomp.h)
LD_ABS_W, JEQ_K, JGE_K, JSET_K, RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000
AUDIT_ARCH_X86_64, AUDIT_ARCH_AARCH64 = 0xC000003E, 0xC00000B7
X32_SYSCALL_BIT = 0x40000000
# offsets in struct seccomp_data: nr, arch, then args[0] (low 32 bits on little-endian machines)
NR, ARCH, ARG0_LOW = 0, 4, 16
CLONE_NEW_NAMESPACES = 0x7E020000   # CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
PERSONALITY_ALLOWED = (0x0, 0xFFFFFFFF)

# name: (x86_64 number, aarch64 number or None where the call does not exist)
DENIED: dict[str, tuple[int, int | None]] = {
    # the kernel keyring: state of the uid shared by every later sandbox with it
    "add_key": (248, 217), "request_key": (249, 218), "keyctl": (250, 219),
    # reading or changing other processes
    "ptrace": (101, 117), "process_vm_readv": (310, 270), "process_vm_writev": (311, 271),
    "kcmp": (312, 272), "pidfd_getfd": (438, 438), "process_madvise": (440, 440),
    # kernel attack surface and side channels
    "perf_event_open": (298, 241), "userfaultfd": (323, 282), "bpf": (321, 280),
    "io_uring_setup": (425, 425), "io_uring_enter": (426, 426), "io_uring_register": (427, 427),
    "syslog": (103, 116), "lookup_dcookie": (212, 18),
    # namespaces and mounts
    "unshare": (272, 97), "setns": (308, 268), "mount": (165, 40), "umount2": (166, 39),
    "pivot_root": (155, 41), "open_tree": (428, 428), "move_mount": (429, 429), "fsopen": (430, 430),
    "fsconfig": (431, 431), "fsmount": (432, 432), "fspick": (433, 433), "mount_setattr": (442, 442),
    # file handles that bypass path lookup, filesystem-wide notification
    "open_by_handle_at": (304, 265), "name_to_handle_at": (303, 264), "fanotify_init": (300, 262),
    # the machine: modules, kexec, swap, reboot, accounting, quotas, clocks, I/O ports
    "init_module": (175, 105), "finit_module": (313, 273), "delete_module": (176, 106),
    "kexec_load": (246, 104), "kexec_file_load": (320, 294), "reboot": (169, 142),
    "swapon": (167, 224), "swapoff": (168, 225), "acct": (163, 89), "quotactl": (179, 60),
    "quotactl_fd": (443, 443), "clock_settime": (227, 112), "clock_adjtime": (305, 266),
    "settimeofday": (164, 170), "iopl": (172, None), "ioperm": (173, None), "uselib": (134, None),
}
# calls allowed only with some arguments: name -> (x86_64 number, aarch64 number)
CLONE, CLONE3, PERSONALITY = (56, 220), (435, 435), (135, 92)
ARCHES = ((AUDIT_ARCH_X86_64, 0), (AUDIT_ARCH_AARCH64, 1))


def instructions(denied: dict[str, tuple[int, int | None]] = DENIED) -> list[tuple[int, int, int, int]]:
    """The filter as (code, jt, jf, k) instructions; jumps are resolved from labels."""
    prog: list[tuple] = [(LD_ABS_W, 0, 0, ARCH)]
    for audit_arch, column in ARCHES:
        prog.append((JEQ_K, 0, f"not-{column}", audit_arch))
        prog.append((LD_ABS_W, 0, 0, NR))
        if audit_arch == AUDIT_ARCH_X86_64:
            prog.append((JGE_K, "deny", 0, X32_SYSCALL_BIT))
        prog.append((JEQ_K, "clone", 0, CLONE[column]))
        prog.append((JEQ_K, "enosys", 0, CLONE3[column]))
        prog.append((JEQ_K, "personality", 0, PERSONALITY[column]))
        for numbers in denied.values():
            if numbers[column] is not None:
                prog.append((JEQ_K, "deny", 0, numbers[column]))
        prog.append((RET_K, 0, 0, RET_ALLOW))
        prog.append(f"not-{column}")
    prog.append((RET_K, 0, 0, RET_ERRNO | errno.EPERM))   # any other architecture or ABI
    prog += ["clone", (LD_ABS_W, 0, 0, ARG0_LOW), (JSET_K, "deny", 0, CLONE_NEW_NAMESPACES),
             (RET_K, 0, 0, RET_ALLOW)]
    prog += ["personality", (LD_ABS_W, 0, 0, ARG0_LOW)]
    prog += [(JEQ_K, "allow", 0, value) for value in PERSONALITY_ALLOWED]
    prog += ["deny", (RET_K, 0, 0, RET_ERRNO | errno.EPERM), "enosys", (RET_K, 0, 0, RET_ERRNO | errno.ENOSYS),
             "allow", (RET_K, 0, 0, RET_ALLOW)]
    labels, code = {}, []
    for item in prog:
        if isinstance(item, str):
            labels[item] = len(code)
        else:
            code.append(item)

    def offset(target, at: int) -> int:
        if isinstance(target, int):
            return target
        jump = labels[target] - at - 1
        assert 0 <= jump <= 255, f"jump to {target} out of range: {jump}"
        return jump

    return [(c, offset(jt, i), offset(jf, i), k) for i, (c, jt, jf, k) in enumerate(code)]


def program(denied: dict[str, tuple[int, int | None]] = DENIED) -> bytes:
    """The filter as bytes of ``struct sock_filter`` (u16 code, u8 jt, u8 jf, u32 k), native byte order."""
    return b"".join(struct.pack("=HBBI", *insn) for insn in instructions(denied))
