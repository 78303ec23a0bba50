"""What a sandboxed program may see and do: its paths, the Landlock ruleset, the seccomp filter.

Both adequate modes give the program the same view of the filesystem: the system dirs and the
Python install read-only, a few devices, its own workdir read-write, nothing else (no home
folders, no project or runs folder, no /proc of other processes). The namespaces mode builds that
view as a new root; the Landlock mode enforces it as access rules on the real one.
"""
from __future__ import annotations

import ctypes
import errno
import functools
import os
import platform
import stat
import struct
import sys
import tempfile

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
SCRATCH = ("/tmp", "/var/tmp", "/dev/shm")  # namespaces mode: private tmpfs, gone after the run
# pivot_root predates the unified syscall table, so its number depends on the architecture.
PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "loongarch64": 41}
# Placeholder for the child's pid in the seccomp filter (the runner patches it in): above any
# pid_max and unlike every other constant of the filter (syscall numbers, arch ids, actions).
PID_SLOT = 0x5EC0001D

# Landlock access rights (include/uapi/linux/landlock.h); comments give the ABI that added them.
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3  # ABI 1
FS_ALL_V1 = (1 << 13) - 1  # ABI 1: the 13 rights from EXECUTE to MAKE_SYM
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15  # ABI 2, 3, 5
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6

# Tests only: pretend the kernel offers at most this Landlock ABI, to exercise the seccomp rules
# that stand in for TCP rules (ABI < 4) and signal scoping (ABI < 6) on older kernels.
LANDLOCK_ABI_CAP: int | None = None

# Denied to the program whatever the mode (EPERM): reaching into other processes, kernel
# attack surface it never needs (new namespaces, mounts, BPF, io_uring, which could also issue
# socket operations that the socket rule below would not see), and machine administration.
DENIED_SYSCALLS = (
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree",
    "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "keyctl", "add_key", "request_key", "name_to_handle_at", "open_by_handle_at",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "acct", "swapon", "swapoff", "reboot", "syslog", "quotactl",
)
CLONE_NEW_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)


def private_ancestor(path: str) -> str | None:
    """The first directory above `path` that other users cannot traverse, if any."""
    parts = path.split(os.sep)
    for i in range(2, len(parts)):
        d = os.sep.join(parts[:i])
        if not os.stat(d).st_mode & stat.S_IXOTH:
            return d
    return None


@functools.cache
def readonly_entries() -> tuple[tuple[str, str | None, str | None], ...]:
    """(path as the program sees it, real directory behind it or None, symlink text or None).

    The system dirs plus wherever this Python lives (a pyenv or venv under a home folder too).
    Paths below an entry already listed are skipped; a symlink is kept as a symlink (the new root
    resolves it inside) and its target is listed as well.
    """
    wanted = [*SYSTEM_DIRS, sys.base_prefix, sys.prefix, sys.base_exec_prefix, sys.exec_prefix,
              os.path.dirname(sys.executable)]
    entries: list[tuple[str, str | None, str | None]] = []
    covered: list[str] = []

    def under(p: str) -> bool:
        return any(p == c or p.startswith(c.rstrip("/") + "/") for c in covered)

    for p in map(os.path.abspath, wanted):
        if not os.path.exists(p) or under(p):
            continue
        if os.path.islink(p):
            entries.append((p, None, os.readlink(p)))
            covered.append(p)
            p = os.path.realpath(p)
            if under(p):
                continue
        entries.append((p, os.path.realpath(p), None))
        covered.append(p)
    return tuple(entries)


def devices() -> list[str]:
    return [d for d in DEVICES if os.path.exists(d)]


def namespace_root(staging: str) -> dict | None:
    """The runner's recipe for the namespaces mode's new root (None: architecture not supported)."""
    nr = PIVOT_ROOT.get(platform.machine())
    if nr is None:
        return None
    return {"root": staging, "ro": list(readonly_entries()), "dev": devices(), "scratch": list(SCRATCH),
            "pivot_root": nr}


@functools.cache
def _kernel_landlock_abi() -> tuple[int, str]:
    """(ABI version, why not) from landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)."""
    libc = ctypes.CDLL(None, use_errno=True)
    abi = libc.syscall(ctypes.c_long(444), None, ctypes.c_long(0), ctypes.c_long(1))
    if abi > 0:
        return abi, ""
    err = ctypes.get_errno()
    why = {errno.ENOSYS: "the kernel has no Landlock (CONFIG_SECURITY_LANDLOCK is off)",
           errno.EOPNOTSUPP: "Landlock is built in but disabled (it is missing from the lsm= boot list)"}
    return 0, why.get(err, f"landlock_create_ruleset failed: {os.strerror(err)}")


def landlock_abi() -> int:
    """The Landlock ABI the sandbox uses here: 0 when Landlock is unavailable."""
    abi = _kernel_landlock_abi()[0]
    return abi if LANDLOCK_ABI_CAP is None else min(abi, LANDLOCK_ABI_CAP)


def landlock_problem() -> str | None:
    return _kernel_landlock_abi()[1] or None


def landlock_ruleset(work: str, abi: int) -> dict:
    """Every right this ABI knows is handled (so denied) except what the rules below grant.

    No network rule is added, so with ABI >= 4 every TCP bind and connect is denied; with ABI >= 6
    the program cannot signal or reach abstract unix sockets of processes outside its domain.
    """
    fs = FS_ALL_V1 | (FS_REFER if abi >= 2 else 0) | (FS_TRUNCATE if abi >= 3 else 0)
    fs |= FS_IOCTL_DEV if abi >= 5 else 0
    net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    # struct landlock_ruleset_attr grew with the ABI; an older kernel rejects the longer struct.
    attr = struct.pack("<QQQ", fs, net, scoped)[:8 if abi < 4 else 16 if abi < 6 else 24]
    read = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
    rules = [(source, read) for _, source, link in readonly_entries() if link is None]
    for dev in devices():  # rules on files may only hold file rights
        writable = FS_WRITE_FILE | (fs & FS_TRUNCATE) if dev == "/dev/null" else 0
        rules.append((dev, FS_READ_FILE | writable))
    rules.append((work, fs))
    return {"attr": attr, "rules": rules}


@functools.cache
def seccomp_filter(restrict_signals: bool) -> tuple[bytes, str]:
    """(BPF program, "") or (b"", why not): built once by libseccomp, loaded by the runner.

    Denies DENIED_SYSCALLS, every socket() (the program needs no socket; socketpair stays for
    multiprocessing/asyncio; on ABI < 4 this is what stops TCP) and any way to address a unix
    socket from a socketpair one, clone() with namespace flags and
    clone3 (ENOSYS: its flags hide behind a pointer seccomp cannot read; glibc falls back to
    clone). With `restrict_signals` (Landlock ABI < 6: no signal scoping) kill-type calls may only
    target the child's own pid, so same-uid processes outside the sandbox are out of reach.
    """
    try:
        import pyseccomp as sc
    except (ImportError, RuntimeError, OSError) as err:  # RuntimeError: libseccomp.so not found
        return b"", f"seccomp unavailable: {err} (needs pyseccomp and libseccomp2)"
    f = sc.SyscallFilter(sc.ALLOW)
    deny = sc.ERRNO(errno.EPERM)
    for name in DENIED_SYSCALLS:
        try:
            f.add_rule(deny, name)
        except (OSError, ValueError, RuntimeError):
            pass  # not a syscall on this architecture or for this libseccomp: nothing to deny
    no_net = sc.ERRNO(errno.EACCES)
    f.add_rule(no_net, "socket")
    # The only sockets left come from socketpair(); a datagram one could still address a unix
    # socket by path or abstract name (Landlock has no rule for those): no connect, no addressed
    # sendto (send() passes a NULL address), no sendmsg/sendmmsg (their address hides in a struct).
    for name in ("connect", "sendmsg", "sendmmsg"):
        f.add_rule(no_net, name)
    f.add_rule(no_net, "sendto", sc.Arg(4, sc.NE, 0))
    f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    for flag in CLONE_NEW_FLAGS:
        f.add_rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    if restrict_signals:
        for name in ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"):  # pid/tgid is arg 0
            f.add_rule(deny, name, sc.Arg(0, sc.LT, PID_SLOT))
            f.add_rule(deny, name, sc.Arg(0, sc.GT, PID_SLOT))
        f.add_rule(deny, "tkill")
        f.add_rule(deny, "pidfd_send_signal")
    with tempfile.TemporaryFile() as t:
        f.export_bpf(t)
        t.seek(0)
        bpf = t.read()
    if restrict_signals and struct.pack("<I", PID_SLOT) not in bpf:
        return b"", "seccomp filter has no pid placeholder to patch"
    return bpf, ""
