"""The sandbox contains hostile generated code, and each test asserts only what this machine truly
guarantees: checks that need namespaces (network, writes to /tmp) skip with a reason in the
fallback mode. Every hostile test runs in each mode available here (unshare and/or fallback)."""
from __future__ import annotations

import os
import resource
import socket
import subprocess
import threading
import time
import uuid

import pytest

from pkt_core.sandbox import MAX_PROCS, READ_BYTES, SandboxResult, isolation_label, isolation_mode, run_program

MODES = ["unshare", "fallback"] if isolation_mode() == "unshare" else ["fallback"]
T = 1.5  # timeout for hostile programs: long enough for python startup, short enough for the suite


@pytest.fixture(params=MODES)
def mode(request) -> str:
    return request.param


def tag(mark: str) -> str:
    """Program prelude naming the process (and every fork of it) `mark`, for the leftover scan."""
    return f"import ctypes\nctypes.CDLL(None).prctl(15, {mark.encode()!r}, 0, 0, 0)\n"


def alive(mark: str) -> list[int]:
    """Live (non-zombie) processes anywhere on the machine whose name is `mark`."""
    pids = []
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{p}/comm") as f, open(f"/proc/{p}/status") as s:
                if f.read().strip() == mark and "\nState:\tZ" not in s.read():
                    pids.append(int(p))
        except OSError:
            pass
    return pids


def new_mark() -> str:
    return "pkt" + uuid.uuid4().hex[:12]  # comm holds 15 characters


def has(mode: str, guarantee: str) -> bool:
    return guarantee in isolation_label(mode)


# --- ordinary programs -------------------------------------------------------------------------

def test_correct_program_passes(mode):
    r = run_program("def f(x):\n    return x * 2", "assert f(2) == 4\nassert f(-1) == -2", mode=mode)
    assert isinstance(r, SandboxResult)
    assert r.passed and r.status == "passed" and r.detail == ""
    assert r.isolation == isolation_label(mode) and r.duration_s < 5


def test_humaneval_style_check(mode):
    tests = "def check(candidate):\n    assert candidate([1, 2]) == 3\n\ncheck(total)"
    assert run_program("def total(xs):\n    import math\n    return math.fsum(xs)", tests, mode=mode).passed


def test_failing_assert_is_failed(mode):
    r = run_program("def f(x):\n    return x + 1", "assert f(2) == 4, 'f(2) should be 4'", mode=mode)
    assert not r.passed and r.status == "failed" and "f(2) should be 4" in r.detail


def test_exception_in_tests_is_failed(mode):
    r = run_program("def f(x):\n    return 1 / x", "assert f(0) == 0", mode=mode)
    assert r.status == "failed" and "ZeroDivisionError" in r.detail


def test_syntax_error_is_error(mode):
    r = run_program("def f(x) return x", "assert f(1) == 1", mode=mode)
    assert r.status == "error" and "SyntaxError" in r.detail and len(r.detail) <= 300


def test_exception_while_defining_is_error(mode):
    r = run_program("import no_such_module_xyz", "assert True", mode=mode)
    assert r.status == "error" and "ModuleNotFoundError" in r.detail


def test_early_exit_does_not_pass(mode):
    # A program that exits "successfully" before the tests ran must not count as passing.
    for program in ("import os\nos._exit(0)", "import sys\nsys.exit(0)"):
        r = run_program(program, "assert False", mode=mode)
        assert not r.passed and r.status in ("failed", "error"), (program, r)


def test_workdir_is_empty_and_removed(mode):
    r = run_program("import os\nprint(os.getcwd())\nprint(os.listdir('.'))\nopen('x', 'w').write('ok')",
                    "", mode=mode)
    assert r.passed, r
    cwd, listing = r.stdout.splitlines()
    assert listing == "[]" and not os.path.exists(cwd)


# --- hostile programs ----------------------------------------------------------------------------

def test_infinite_loop_times_out_and_leaves_nothing(mode):
    mark = new_mark()
    start = time.monotonic()
    r = run_program(tag(mark) + "while True:\n    pass", "", timeout=T, mode=mode)
    assert r.status == "timeout" and not r.passed
    assert time.monotonic() - start < T + 2
    assert alive(mark) == []


def test_memory_bomb(mode):
    r = run_program("x = ' ' * (8 * 2**30)", "", mode=mode)
    assert r.status == "memory", r
    grow = "chunks = []\nwhile True:\n    chunks.append(bytearray(16 * 2**20))"
    r = run_program(grow, "", timeout=5, memory_mb=256, mode=mode)
    assert r.status == "memory", r


def test_fork_bomb_is_contained(mode):
    mark = new_mark()
    # Bounded even if containment failed: at most 300 sleeping children, each trying to escape the
    # session with setsid.
    bomb = tag(mark) + (
        "import os, time\nn = 0\nfor _ in range(300):\n    try:\n        if os.fork() == 0:\n"
        "            os.setsid()\n            time.sleep(30)\n            os._exit(0)\n        n += 1\n"
        "    except OSError:\n        pass\nprint('forked', n, flush=True)\ntime.sleep(30)\n")
    r = run_program(bomb, "", timeout=T, mode=mode)
    assert r.status in ("timeout", "killed", "failed") and not r.passed, r
    assert alive(mark) == []
    if has(mode, "setuid"):  # RLIMIT_NPROC only binds a non-root uid
        assert int(r.stdout.split()[1]) < MAX_PROCS


def test_cannot_write_outside_workdir(mode):
    if not has(mode, "unshare"):
        pytest.skip("no mount namespace in this mode: a program may write to world-writable dirs like /tmp")
    target = f"/tmp/pkt_sandbox_escape_{uuid.uuid4().hex}"
    try:
        r = run_program(f"open({target!r}, 'w').write('escaped')", "", mode=mode)
        assert not os.path.exists(target), r  # it wrote into the namespace's private tmpfs, now gone
        r = run_program("open('/etc/pkt_sandbox_escape', 'w')", "", mode=mode)
        assert r.status == "error" and "PermissionError" in r.detail
    finally:
        if os.path.exists(target):
            os.remove(target)


def test_environment_secrets_do_not_leak(mode, monkeypatch):
    monkeypatch.setenv("PKT_SECRET_TOKEN", "s3cret")
    r = run_program("import os\nprint(dict(os.environ))", "", mode=mode)
    assert r.passed and "PKT_SECRET_TOKEN" not in r.stdout and "s3cret" not in r.stdout


def test_proc_environ_of_other_processes_is_out_of_reach(mode, monkeypatch):
    if not (has(mode, "unshare") or has(mode, "setuid")):
        pytest.skip("runs as root without a pid namespace: /proc/<pid>/environ of the harness is readable")
    monkeypatch.setenv("PKT_SECRET_TOKEN", "s3cret")  # too late for our own /proc environ; a child's has it
    snoop = ("import os\nfor p in os.listdir('/proc'):\n    try:\n"
             "        env = open('/proc/%s/environ' % p, 'rb').read().split(bytes(1))\n"
             "        print([e for e in env if b'SECRET' in e])\n    except OSError:\n        pass")
    with subprocess.Popen(["sleep", "30"]) as holder:  # a harness-side process whose environ has it
        try:
            r = run_program(snoop, "", mode=mode)
        finally:
            holder.kill()
    assert r.passed and "s3cret" not in r.stdout + r.detail


def test_network_is_unreachable(mode):
    if not has(mode, "unshare"):
        pytest.skip("no network namespace in this mode")
    got: list[object] = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(0.1)
        stop = threading.Event()

        def serve() -> None:
            while not stop.is_set():
                try:
                    got.append(server.accept()[0])
                except OSError:
                    pass

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        port = server.getsockname()[1]
        r = run_program("import socket", f"socket.create_connection(('127.0.0.1', {port}), timeout=1)",
                        mode=mode)
        stop.set()
        thread.join(2)
    assert r.status == "failed" and "OSError" in r.detail, r
    assert got == []


def test_killing_the_parent_leaves_harness_alive(mode):
    r = run_program("import os, signal", "os.kill(os.getppid(), signal.SIGKILL)", mode=mode)
    assert not r.passed and r.status in ("failed", "killed"), r
    if has(mode, "setuid") or has(mode, "unshare"):
        assert r.status == "failed" and "PermissionError" in r.detail
    assert run_program("x = 1", "assert x == 1", mode=mode).passed  # we are alive and still working


def test_huge_output_is_capped_fast(mode):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    r = run_program("import sys\nchunk = 'x' * 2**20\nfor _ in range(100):\n    sys.stdout.write(chunk)", "",
                    mode=mode)
    assert r.status in ("output_limit", "failed") and not r.passed, r
    assert time.monotonic() - start < 5
    assert len(r.stdout) <= READ_BYTES
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50 * 1024  # KiB: < 50 MB grew


def test_harness_keeps_going_through_mixed_hostile_programs(mode):
    cases = [
        ("def f():\n    return 1", "assert f() == 1", {"passed"}),
        ("while True:\n    pass", "", {"timeout"}),
        ("x = [0] * (2**40)", "", {"memory"}),
        ("def f(:", "", {"error"}),
        ("import os, signal", "os.kill(os.getppid(), signal.SIGKILL)", {"failed", "killed"}),
        ("import sys", "sys.stdout.write('y' * 2**23)", {"output_limit", "failed"}),
        ("import os", "os.kill(os.getpid(), 9)", {"killed"}),
        ("def g():\n    return 2", "assert g() == 3", {"failed"}),
        ("def h():\n    return 3", "assert h() == 3", {"passed"}),
    ]
    for program, tests, expected in cases:
        r = run_program(program, tests, timeout=T, mode=mode)
        assert r.status in expected, (program, tests, r)
        assert r.passed == (r.status == "passed")
