"""Run untrusted generated code (HumanEval/MBPP-style program + tests) outside the app's process.

Every `run_program` call starts a trusted runner (`python -I -S`, see _runner.py) that forks; the
child confines itself and runs program then tests in an empty temp workdir with a scrubbed
environment (no API keys or tokens), stdout/stderr going to files capped by RLIMIT_FSIZE. A run
passes only if the child hands the runner a per-run token after the last test, so `os._exit(0)`
before the tests cannot pass. The runner enforces the deadline and, as a child subreaper that
every orphan is re-parented to, kills every descendant (setsid or not) before it exits.

The strongest mode that works here is probed once and used (`isolation_mode`); PKT_SANDBOX_MODE
or `run_program(mode=...)` force one, and a forced mode that cannot work raises SandboxUnavailable.

* "namespaces" (adequate): new pid, net, mount, ipc and uts namespaces; as root the program runs
  under a throwaway uid, otherwise in a new user namespace (`unshare --user --map-root-user`) as
  its root with every capability dropped. The runner pivots into a new root holding only the
  system dirs and the Python install (read-only), a few devices, a private /tmp (gone after the
  run), /proc of the new pid namespace and the workdir: the project, runs and home folders and
  the host's processes are simply absent. The network is a downed loopback. When the runner
  (pid 1) exits, the kernel kills everything left in the namespace. Plus seccomp (below) when
  libseccomp is there, and rlimits.
* "landlock" (adequate): the same view enforced by Landlock on the real filesystem (read and
  execute only in the system dirs and the Python install, writes only in the workdir, no /proc at
  all); ABI >= 4 denies every TCP bind/connect, ABI >= 6 stops signals and abstract unix sockets
  leaving the sandbox (and Landlock always stops ptrace of processes outside it). Plus a seccomp
  filter (libseccomp via pyseccomp): no socket() at all (socketpair stays, but cannot address
  another socket by path or name: no connect, sendmsg or addressed sendto), no ptrace/process_vm_*, no new
  namespaces, mounts, io_uring, BPF or keyrings; on ABI < 6 kill-type calls may only target the
  program's own pid. Plus rlimits, the scrubbed environment and the subreaper kill. No private
  /tmp or /dev/shm here (TMPDIR is the workdir): multiprocessing's locks and pools fail.
* "rlimits" (NOT adequate, `isolation_adequate` says False): rlimits, the scrubbed environment,
  the subreaper kill and a session kill + /proc sweep; as root a throwaway uid when the Python
  install is reachable to it. As an ordinary user the program runs as that user: it can read
  /proc/<pid>/environ of the user's processes, write wherever the user can, reach any TCP port,
  signal the user's processes (the runner too, which then cannot clean up).

Never guaranteed, in any mode: total memory (RLIMIT_AS is per process: up to MAX_PROCS *
memory_mb); CPU and disk bandwidth while the run lasts; reads of the system dirs and the Python
install (world-readable files such as /etc/passwd); a token dug out of memory on purpose (program
and tests share a process); kernel bugs; a process cap where root keeps uid 0 (RLIMIT_NPROC does
not bind root; only when the Python install is unreachable to a throwaway uid, outside the
namespaces mode). The namespaces mode without libseccomp leaves the kernel's user-namespace attack
surface open to the program.
"""
from __future__ import annotations

import functools
import os
import shutil

from pkt_core.sandbox import _policy
from pkt_core.sandbox._harness import (DEFAULT_MEMORY_MB, MAX_OUTPUT_BYTES, MAX_PROCS, READ_BYTES, SandboxResult,
                                       drops_uid, execute)

__all__ = ["DEFAULT_MEMORY_MB", "MAX_OUTPUT_BYTES", "MAX_PROCS", "MODES", "READ_BYTES", "SandboxResult",
           "SandboxUnavailable", "available_modes", "isolation_adequate", "isolation_label", "isolation_mode",
           "run_program"]

MODES = ("namespaces", "landlock", "rlimits")  # strongest first
ADEQUATE = frozenset({"namespaces", "landlock"})
ENV_VAR = "PKT_SANDBOX_MODE"

# What each probe program checks, besides passing: that the mode's containment is really in force.
_PROBES = {
    "namespaces": "import os\nassert os.getppid() == 1, 'no pid namespace'\n"
                  "assert not os.path.exists('/sys'), 'not in the new root'",
    "landlock": "import os\ntry:\n    os.listdir('/proc')\nexcept PermissionError:\n    pass\n"
                "else:\n    raise AssertionError('Landlock not enforced')",
    "rlimits": "import resource\nassert resource.getrlimit(resource.RLIMIT_CORE) == (0, 0)",
}


class SandboxUnavailable(RuntimeError):
    """A forced sandbox mode cannot work on this machine (the message says why)."""


def run_program(program: str, tests: str, timeout: float = 5.0, *, memory_mb: int = DEFAULT_MEMORY_MB,
                mode: str | None = None) -> SandboxResult:
    """Run `program` then `tests` in a contained subprocess; never raises for anything they do.

    `mode` ("namespaces", "landlock" or "rlimits") forces a mode and raises SandboxUnavailable if it
    does not work here; None uses `isolation_mode()`.
    """
    chosen = _require(mode) if mode else isolation_mode()
    return execute(program, tests, timeout, memory_mb, chosen, isolation_label(chosen))


def isolation_mode() -> str:
    """The mode runs use: PKT_SANDBOX_MODE if set (it must work here), else the strongest that works."""
    forced = os.environ.get(ENV_VAR, "").strip()
    if forced:
        return _require(forced)
    for mode in MODES:
        if _problem(mode) is None:
            return mode
    raise SandboxUnavailable(f"no sandbox mode works here: {_problem('rlimits')}")


def available_modes() -> list[str]:
    """The modes that actually work on this machine, strongest first (each probed once)."""
    return [mode for mode in MODES if _problem(mode) is None]


def isolation_adequate(mode: str | None = None) -> bool:
    """True when `mode` (default: the one runs use) really contains hostile code: namespaces or
    landlock whose probe passed. False for rlimits, or when the chosen mode does not work here."""
    try:
        mode = mode or isolation_mode()
    except SandboxUnavailable:
        return False
    return mode in ADEQUATE and _problem(mode) is None


def isolation_label(mode: str) -> str:
    """In words, what a run in `mode` is contained by (also each SandboxResult.isolation)."""
    uid = "+setuid" if drops_uid(mode) else ""
    if mode == "namespaces":
        spaces = "pid,net,mount,ipc,uts" if os.geteuid() == 0 else "user,pid,net,mount,ipc,uts"
        seccomp = "+seccomp" if _policy.seccomp_filter(False)[0] else ""
        return f"namespaces({spaces})+new-root{uid}{seccomp}+rlimits"
    if mode == "landlock":
        abi = _policy.landlock_abi()
        rules = "fs" + (",tcp" if abi >= 4 else "") + (",signal,abstract-unix" if abi >= 6 else "")
        return f"landlock(abi {abi}: {rules})+seccomp{uid}+rlimits+subreaper"
    if mode == "rlimits":
        return f"rlimits{uid}+subreaper+session-kill (inadequate)"
    raise ValueError(f"unknown sandbox mode {mode!r}; expected one of {', '.join(MODES)}")


def _require(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"unknown sandbox mode {mode!r}; expected one of {', '.join(MODES)}")
    problem = _problem(mode)
    if problem is not None:
        raise SandboxUnavailable(f"sandbox mode {mode!r} does not work on this machine: {problem}")
    return mode


@functools.cache
def _problem(mode: str) -> str | None:
    """Why `mode` cannot work here (None: it works): its prerequisites, then a real probe run."""
    if mode == "namespaces":
        if not shutil.which("unshare"):
            return "the unshare tool (util-linux) is missing"
        if _policy.namespace_root("") is None:
            return "pivot_root's syscall number is unknown for this architecture"
    elif mode == "landlock":
        if _policy.landlock_problem():
            return _policy.landlock_problem()
        seccomp_problem = _policy.seccomp_filter(False)[1] or _policy.seccomp_filter(True)[1]
        if seccomp_problem:
            return seccomp_problem
    result = execute("pass", _PROBES[mode], 10.0, DEFAULT_MEMORY_MB, mode, mode)
    if not result.passed:
        return f"probe run failed ({result.status}: {result.detail or 'no detail'})"
    return None
