"""The harness side of one run: write the job, start the runner, wait, classify, clean up.

The runner (_runner.py) enforces the deadline and kills every descendant itself; the harness only
steps in (kills the runner's session and sweeps /proc) when the runner does not finish in time
or was killed, which a program can only do in the rlimits mode.
"""
from __future__ import annotations

import marshal
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pkt_core.sandbox import _policy

DEFAULT_MEMORY_MB = 1024
MAX_OUTPUT_BYTES = 4 * 2**20  # RLIMIT_FSIZE: stdout/stderr live in files, so this caps them too
READ_BYTES = 64 * 2**10  # at most this much of each stream is ever read back into the harness
MAX_PROCS = 16  # RLIMIT_NPROC budget of one run (threads count too)
GRACE_S = 1.0  # how long after the deadline the harness waits for the runner before killing it
_UID_BASE, _UID_SPAN = 2_000_000_000, 100_000_000
# Runner exit codes (see _runner.py); 64+N means the child died of signal N.
_PASS, _ERROR, _FAILED, _MEMORY, _EARLY_EXIT, _OTHER_EXIT, _TIMEOUT, _SETUP, _SIGNALLED = 0, 3, 4, 5, 6, 7, 8, 9, 64
_NAMESPACES = ["--pid", "--fork", "--kill-child", "--net", "--ipc", "--uts", "--mount", "--propagation", "private"]
RUNNER = Path(__file__).with_name("_runner.py").read_text(encoding="utf-8")


@dataclass(frozen=True)
class SandboxResult:
    passed: bool
    status: str  # passed | failed | error | timeout | memory | killed | output_limit
    detail: str  # short human-readable reason ("" when passed)
    duration_s: float
    isolation: str  # which containment was actually used (isolation_label of the mode)
    stdout: str = ""  # first READ_BYTES of the program's stdout
    returncode: int | None = None


def drops_uid(mode: str) -> bool:
    """As root, run the program under a throwaway uid: kill(2), ptrace and RLIMIT_NPROC then reach
    only this run. Outside the namespaces mode (no new root to re-expose it) only when others can
    reach the Python install (not, e.g., a Python under root's 0700 home folder)."""
    if os.geteuid() != 0:
        return False
    return mode == "namespaces" or not any(map(_policy.private_ancestor, (sys.base_prefix, sys.prefix)))


def execute(program: str, tests: str, timeout: float, memory_mb: int, mode: str, label: str) -> SandboxResult:
    uid = _UID_BASE + secrets.randbelow(_UID_SPAN) if drops_uid(mode) else None
    run_id = secrets.token_hex(8)
    base = tempfile.mkdtemp(prefix="pkt_sbx_")
    start = time.monotonic()
    try:
        os.chmod(base, 0o711)  # others may traverse (to reach work/) but not list or read the job
        work = os.path.join(base, "work")
        os.mkdir(work, 0o700)
        if uid is not None:
            os.chown(work, uid, uid)
        job_path = os.path.join(base, "job")
        with open(os.open(job_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            marshal.dump(_job(program, tests, timeout, memory_mb, mode, uid, base, work), f)
        cmd = [sys.executable, "-I", "-S", "-c", RUNNER, job_path]
        if mode == "namespaces":
            user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
            cmd = [shutil.which("unshare") or "unshare", *user, *_NAMESPACES, *cmd]
        # Scrubbed: nothing inherited (API keys, tokens); the marker lets the sweep find stragglers.
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": work, "TMPDIR": work, "PKT_SANDBOX_RUN": run_id}
        with open(os.path.join(base, "out"), "w+b") as out, open(os.path.join(base, "err"), "w+b") as err:
            proc = subprocess.Popen(cmd, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    start_new_session=True)
            timed_out = True
            try:
                timed_out = not _wait(proc, timeout + GRACE_S)
            finally:
                if timed_out or proc.returncode is None or proc.returncode < 0:
                    _sweep(proc, uid, f"PKT_SANDBOX_RUN={run_id}\0".encode())
            full = any(os.fstat(f.fileno()).st_size >= MAX_OUTPUT_BYTES for f in (out, err))
            stdout, stderr = _read(out), _read(err, tail=True)
        status, detail = _classify(proc.returncode, timed_out, full, stderr, timeout)
        return SandboxResult(status == "passed", status, detail, time.monotonic() - start, label, stdout,
                             proc.returncode)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _job(program: str, tests: str, timeout: float, memory_mb: int, mode: str, uid: int | None, base: str,
         work: str) -> dict:
    cpu = int(timeout) + 1
    limits = [("RLIMIT_CPU", cpu, cpu + 1), ("RLIMIT_AS", memory_mb * 2**20, memory_mb * 2**20),
              ("RLIMIT_FSIZE", MAX_OUTPUT_BYTES, MAX_OUTPUT_BYTES), ("RLIMIT_CORE", 0, 0),
              ("RLIMIT_NOFILE", 256, 256)]
    procs = _process_cap(mode, uid)
    if procs is not None:
        limits.append(("RLIMIT_NPROC", procs, procs))
    job = {"program": program, "tests": tests, "nonce": secrets.token_hex(16), "timeout": float(timeout),
           "uid": uid, "limits": limits, "work": work, "ns": None, "landlock": None, "seccomp": b"",
           "pid_slot": 0}
    if mode == "namespaces":
        staging = os.path.join(base, "root")
        os.mkdir(staging, 0o700)
        job["ns"] = _policy.namespace_root(staging)
        job["seccomp"] = _policy.seccomp_filter(False)[0]  # extra hardening where libseccomp exists
    elif mode == "landlock":
        abi = _policy.landlock_abi()
        job["landlock"] = _policy.landlock_ruleset(work, abi)
        job["seccomp"] = _policy.seccomp_filter(abi < 6)[0]
        job["pid_slot"] = _policy.PID_SLOT if abi < 6 else 0
    return job


def _process_cap(mode: str, uid: int | None) -> int | None:
    """RLIMIT_NPROC counts every task of the real uid, so it means "this run" only for a throwaway
    uid or for root of a fresh user namespace (counted per namespace). For the harness's own uid,
    the limit is what that uid already runs plus this run's budget; root ignores the limit."""
    if uid is not None or mode == "namespaces":
        return MAX_PROCS
    if os.geteuid() == 0:
        return None
    return _user_tasks(os.getuid()) + MAX_PROCS


def _user_tasks(uid: int) -> int:
    n = 0
    for p in filter(str.isdigit, os.listdir("/proc")):
        with suppress(OSError):
            if os.stat(f"/proc/{p}").st_uid == uid:
                n += len(os.listdir(f"/proc/{p}/task"))
    return n


def _classify(rc: int, timed_out: bool, output_full: bool, stderr: str, timeout: float) -> tuple[str, str]:
    last = next((ln.strip() for ln in reversed(stderr.splitlines()) if ln.strip()), "")[:300]
    if timed_out or rc == _TIMEOUT:
        return "timeout", f"no result after {timeout:g}s wall clock"
    if output_full:
        return "output_limit", f"output reached the {MAX_OUTPUT_BYTES // 2**20} MiB cap"
    if rc == _PASS:
        return "passed", ""
    if rc == _SETUP:
        return "error", last or "sandbox setup failed"
    if rc == _MEMORY or "MemoryError" in last:
        return "memory", f"out of memory ({last or 'address-space limit'})"
    if rc == _ERROR:
        return "error", last or "program failed to define"
    if rc == _FAILED:
        return "failed", last or "tests failed"
    if rc in (_EARLY_EXIT, _OTHER_EXIT):  # exit() before the tests finished, or a code of its own
        return "failed", f"program exited early{': ' + last if last else ''} (code {rc})"
    if rc == _SIGNALLED + signal.SIGXCPU:
        return "timeout", "CPU-time limit exceeded"
    if rc > _SIGNALLED:
        return "killed", f"program killed by {_signame(rc - _SIGNALLED)}"
    if rc < 0:  # the runner itself died: only possible if the program could signal it (rlimits mode)
        return "killed", f"sandbox runner killed by {_signame(-rc)}"
    return "failed", last or f"sandbox exit code {rc}"  # e.g. unshare could not set up


def _signame(n: int) -> str:
    try:
        return signal.Signals(n).name
    except ValueError:
        return f"signal {n}"


def _wait(proc: subprocess.Popen, timeout: float) -> bool:
    """Wait for exit without Popen.wait(timeout)'s sleep-polling (it adds up to 50 ms per run)."""
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        try:
            proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if not poller.poll(timeout * 1000):
            return False
        proc.wait()
        return True
    finally:
        os.close(fd)


def _sweep(proc: subprocess.Popen, uid: int | None, marker: bytes) -> None:
    """Kill the run's session and whatever left it (setsid, reparenting); return once all are dead.

    Only needed when the runner could not clean up itself (it was killed, or missed its deadline).
    Candidates are found *before* killing: a dying process loses its environ (the marker) while it
    still exists, so it is tracked by pid until it is a zombie or gone.
    """
    doomed: set[int] = set()
    for attempt in range(400):
        found = {int(p) for p in os.listdir("/proc") if p.isdigit() and _belongs(int(p), uid, marker)}
        if attempt == 0:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        for pid in found:
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        doomed = {pid for pid in doomed | found if _status(pid) and not _dead(_status(pid))}
        if not found and not doomed:
            break
        time.sleep(0.005)
    proc.wait()


def _status(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/status") as f:
            return f.read()
    except OSError:
        return ""


def _dead(status: str) -> bool:
    return "\nState:\tZ" in status or "\nState:\tX" in status  # exited, just not reaped yet


def _belongs(pid: int, uid: int | None, marker: bytes) -> bool:
    st = _status(pid)
    if not st or _dead(st):
        return False
    if uid is not None and f"\nUid:\t{uid}\t" in st:
        return True
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:  # the initial env survives os.environ edits
            return marker in f.read()
    except OSError:
        return False


def _read(f: BinaryIO, tail: bool = False) -> str:
    f.seek(max(0, os.fstat(f.fileno()).st_size - READ_BYTES) if tail else 0)
    return f.read(READ_BYTES).decode("utf-8", "replace")
