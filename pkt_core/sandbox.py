"""Run untrusted generated code (HumanEval/MBPP-style program + tests) outside the app's process.

Every `run_program` call starts `python -I -S` running the trusted `_RUNNER` below, which forks; only
the forked child sets rlimits (CPU, address space, file size, processes, no cores), drops to a
throwaway uid (when we are root) with no-new-privs, and exec's the untrusted code in an empty temp
workdir with a scrubbed environment. Stdout/stderr go to files capped by RLIMIT_FSIZE.
* "unshare" mode (root, probed once per process): new pid/net/ipc/uts/mount namespaces. The runner is
  pid 1, so when it exits the kernel kills all the program spawned; the network has only a downed
  loopback; every world-writable dir and any private dir above the Python install (e.g. /root, 0700)
  is covered by a private 16 MiB tmpfs, so every write outside the workdir vanishes with the run.
* "fallback" mode: a new session killed afterwards, plus a /proc sweep for whatever escaped it
  (setsid), found by uid or by a per-run marker in its initial environment.
Why a throwaway uid: as root RLIMIT_NPROC is not enforced and kill(2) reaches anything. A fresh uid
makes NPROC count only this run, makes `os.kill(os.getppid(), 9)` fail (the parent is the root-owned
runner, never the harness: that is why the runner is an intermediate) and lets the sweep find every
straggler. A run passes only if the child hands the runner a per-run token after the last test, so
`os._exit(0)` before the tests cannot pass.
Not guaranteed: reads of world-readable files; total memory (RLIMIT_AS is per process: up to
MAX_PROCS * memory_mb); a token dug out of memory on purpose (program and tests share a process).
Without a throwaway uid (non-root, or fallback with a private Python install) the program runs as the
harness's user: no process cap but timeout + sweep, and it could read /proc/<harness>/environ or
signal the harness by pid. `isolation` on each result says which containment was used.
"""
from __future__ import annotations

import functools
import marshal
import os
import secrets
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass
from typing import BinaryIO

DEFAULT_MEMORY_MB = 1024
MAX_OUTPUT_BYTES = 4 * 2**20  # RLIMIT_FSIZE: stdout/stderr live in files, so this caps them too
READ_BYTES = 64 * 2**10  # at most this much of each stream is ever read back into the harness
MAX_PROCS = 16  # RLIMIT_NPROC for the throwaway uid (threads count too)
_UID_BASE, _UID_SPAN = 2_000_000_000, 100_000_000
_WORLD_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
_UNSHARE_FLAGS = ["--pid", "--fork", "--kill-child", "--mount-proc", "--net", "--ipc", "--uts", "--mount"]
# Runner exit codes (the child's code is passed through; 64+N means the child died of signal N).
_PASS, _ERROR, _FAILED, _MEMORY, _EARLY_EXIT, _OTHER_EXIT, _SIGNALLED = 0, 3, 4, 5, 6, 7, 64

# Trusted runner: sets up mounts (namespace mode), forks; the child drops privileges and runs the
# job. Kept tiny and import-light because it is paid for on every program: -S skips site (~40 ms),
# marshal instead of json skips `re` (~5 ms).
_RUNNER = r"""
import ctypes, marshal, os, resource, sys
with open(sys.argv[1], "rb") as f:
    job = marshal.load(f)
libc = ctypes.CDLL(None, use_errno=True)
def ok(rc, what):
    if rc != 0:
        raise OSError(ctypes.get_errno(), what)
if job["ns"]:
    keep = {p: os.open(p, os.O_RDONLY | os.O_DIRECTORY) for p in job["keep"]}
    for d in job["cover"]:  # MS_NOSUID|MS_NODEV|MS_NOEXEC; propagation is private (unshare default)
        ok(libc.mount(b"tmpfs", d.encode(), b"tmpfs", 14, b"size=16m,mode=1777"), "mount " + d)
    for p, fd in keep.items():  # re-expose what the covers hid: the workdir and the Python install
        if not os.path.isdir(p):
            os.makedirs(p, 0o755)
            ok(libc.mount(("/proc/self/fd/%d" % fd).encode(), p.encode(), None, 4096, None), "bind " + p)
        os.close(fd)
    os.chdir(job["keep"][0])
nonce = job["nonce"].encode()
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    for name, soft, hard in job["limits"]:
        resource.setrlimit(getattr(resource, name), (soft, hard))
    ok(libc.prctl(38, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS")
    if job["uid"] is not None:
        os.setgroups([]); os.setgid(job["uid"]); os.setuid(job["uid"])
    code, g = 3, {"__name__": "__main__"}
    try:
        exec(compile(job.pop("program"), "<program>", "exec"), g)
        code = 4
        exec(compile(job.pop("tests"), "<tests>", "exec"), g)
        sys.stdout.flush()
        os.write(w, nonce)
        code = 0
    except MemoryError:
        code = 5
        with open(2, "w", closefd=False) as e:
            e.write("\nMemoryError\n")
    except BaseException:
        try:
            import traceback; traceback.print_exc()
        except BaseException:
            pass
    try:
        sys.stdout.flush(); sys.stderr.flush()
    finally:
        os._exit(code)
os.close(w)
_, st = os.waitpid(pid, 0)
os.set_blocking(r, False)
try:
    token = os.read(r, 64)
except BlockingIOError:
    token = b""
if os.WIFSIGNALED(st):
    os._exit(64 + os.WTERMSIG(st))
code = os.WEXITSTATUS(st)  # our own codes pass through; anything else the program chose becomes 7
os._exit((6 if token != nonce else 0) if code == 0 else code if code in (3, 4, 5) else 7)
"""


@dataclass(frozen=True)
class SandboxResult:
    passed: bool
    status: str  # passed | failed | error | timeout | memory | killed | output_limit
    detail: str  # short human-readable reason ("" when passed)
    duration_s: float
    isolation: str  # which containment was actually used
    stdout: str = ""  # first READ_BYTES of the program's stdout
    returncode: int | None = None


def run_program(program: str, tests: str, timeout: float = 5.0, *, memory_mb: int = DEFAULT_MEMORY_MB,
                mode: str | None = None) -> SandboxResult:
    """Run `program` then `tests` in a contained subprocess; never raises for anything they do.

    `mode` is "unshare" or "fallback"; None picks the strongest that works here (probed once).
    """
    return _execute(program, tests, timeout, memory_mb, mode or isolation_mode())


@functools.cache
def isolation_mode() -> str:
    """'unshare' when namespaces (and our mounts inside them) actually work here, else 'fallback'."""
    if os.geteuid() == 0 and shutil.which("unshare"):
        probe = _execute("import json, math", "assert math.sqrt(4) == 2", 10.0, DEFAULT_MEMORY_MB, "unshare")
        if probe.passed:
            return "unshare"
    return "fallback"


def isolation_label(mode: str) -> str:
    if mode == "unshare":
        return "unshare(pid,net,ipc,uts,mount)+setuid+rlimits"
    return "rlimits+setuid+session-kill" if _fallback_drops_uid() else "rlimits+session-kill"


@functools.cache
def _fallback_drops_uid() -> bool:
    # Without a mount namespace we cannot re-expose a Python installed under a private directory
    # (e.g. a Python under root's 0700 home folder): a throwaway uid could not import the stdlib. Stay root then.
    return os.geteuid() == 0 and _private_ancestor(sys.base_prefix) is None


def _private_ancestor(path: str) -> str | None:
    """The first directory above `path` that other users cannot traverse, if any."""
    parts = path.split(os.sep)
    for i in range(2, len(parts)):
        d = os.sep.join(parts[:i])
        if not os.stat(d).st_mode & stat.S_IXOTH:
            return d
    return None


def _execute(program: str, tests: str, timeout: float, memory_mb: int, mode: str) -> SandboxResult:
    ns = mode == "unshare"
    uid = _UID_BASE + secrets.randbelow(_UID_SPAN) if (ns or _fallback_drops_uid()) else None
    run_id = secrets.token_hex(8)
    base = tempfile.mkdtemp(prefix="pkt_sbx_")
    start = time.monotonic()
    try:
        os.chmod(base, 0o711)  # others may traverse (to reach work/) but not list or read the job
        work = os.path.join(base, "work")
        os.mkdir(work, 0o700)
        if uid is not None:
            os.chown(work, uid, uid)
        cpu = int(timeout) + 1
        limits = [("RLIMIT_CPU", cpu, cpu + 1), ("RLIMIT_AS", memory_mb * 2**20, memory_mb * 2**20),
                  ("RLIMIT_FSIZE", MAX_OUTPUT_BYTES, MAX_OUTPUT_BYTES), ("RLIMIT_CORE", 0, 0),
                  ("RLIMIT_NOFILE", 256, 256)]
        if uid is not None:  # NPROC counts every process of the uid: only meaningful for a throwaway one
            limits.append(("RLIMIT_NPROC", MAX_PROCS, MAX_PROCS))
        private = _private_ancestor(sys.base_prefix)
        job = {"program": program, "tests": tests, "nonce": secrets.token_hex(16), "uid": uid, "ns": ns,
               "limits": limits, "keep": [work, sys.base_prefix],
               "cover": [d for d in _WORLD_WRITABLE if os.path.isdir(d)] + ([private] if private else [])}
        job_path = os.path.join(base, "job")
        with open(os.open(job_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            marshal.dump(job, f)
        cmd = [sys.executable, "-I", "-S", "-c", _RUNNER, job_path]
        if ns:
            cmd = [shutil.which("unshare") or "unshare", *_UNSHARE_FLAGS, *cmd]
        # Scrubbed: nothing inherited (API keys, tokens); the marker lets the sweep find stragglers.
        marker = f"PKT_SANDBOX_RUN={run_id}"
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": work, "PKT_SANDBOX_RUN": run_id}
        with open(os.path.join(base, "out"), "w+b") as out, open(os.path.join(base, "err"), "w+b") as err:
            proc = subprocess.Popen(cmd, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    start_new_session=True)
            timed_out = True
            try:
                timed_out = not _wait(proc, timeout)
            finally:
                # With a pid namespace a normal exit already took everything down with its pid 1.
                if timed_out or not ns or proc.returncode is None:
                    _sweep(proc, uid, marker.encode() + b"\0")
            full = any(os.fstat(f.fileno()).st_size >= MAX_OUTPUT_BYTES for f in (out, err))
            stdout, stderr = _read(out), _read(err, tail=True)
        status, detail = _classify(proc.returncode, timed_out, full, stderr, timeout)
        return SandboxResult(status == "passed", status, detail, time.monotonic() - start,
                             isolation_label(mode), stdout, proc.returncode)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _classify(rc: int, timed_out: bool, output_full: bool, stderr: str, timeout: float) -> tuple[str, str]:
    last = next((ln.strip() for ln in reversed(stderr.splitlines()) if ln.strip()), "")[:300]
    if timed_out:
        return "timeout", f"no result after {timeout:g}s wall clock"
    if output_full:
        return "output_limit", f"output reached the {MAX_OUTPUT_BYTES // 2**20} MiB cap"
    if rc == _PASS:
        return "passed", ""
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
    if rc < 0:  # the runner itself died: only possible if the program could signal it (no setuid)
        return "killed", f"sandbox runner killed by {_signame(-rc)}"
    return "failed", last or f"sandbox exit code {rc}"  # e.g. the runner could not set up


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
