"""Hostile programs that attack the harness's resources rather than escape: an infinite loop, a
memory bomb, a fork bomb, killing the runner, a flood of output, and all of them in a row. Each
run must end with the right status, within bounds, leaving no process behind and the harness
working. Runs in every mode this machine offers (tests/sandbox_modes.py)."""
from __future__ import annotations

import os
import resource
import time
import uuid

import pytest

from pkt_core.sandbox import MAX_PROCS, READ_BYTES, drops_uid, isolation_adequate, run_program

pytest_plugins = ["tests.sandbox_fixtures"]
pytestmark = pytest.mark.usefixtures("nonroot_run")  # the re-run as uid 65534 runs alongside

T = 1.0  # timeout for hostile programs: long enough for python startup, short enough for the suite


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


def process_cap(mode: str) -> int | None:
    """The most processes a run may fork, as the sandbox sets it (None: not bounded, root)."""
    if mode == "namespaces" or drops_uid(mode):
        return MAX_PROCS  # a throwaway uid or a fresh user namespace: the count is this run's alone
    # The user's other tasks shift the count a little.
    return None if os.geteuid() == 0 else MAX_PROCS + 16


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
        "            os.setsid()\n            time.sleep(30)\n            os._exit(0)\n"
        "        n += 1\n"
        "    except OSError:\n        pass\nprint('forked', n, flush=True)\ntime.sleep(30)\n")
    r = run_program(bomb, "", timeout=T, mode=mode)
    assert r.status in ("timeout", "killed", "failed") and not r.passed, r
    assert alive(mark) == []
    cap = process_cap(mode)
    if cap is not None:
        assert int(r.stdout.split()[1]) < cap, r.stdout


def test_killing_the_parent_leaves_harness_alive(mode):
    r = run_program("import os, signal", "os.kill(os.getppid(), signal.SIGKILL)", mode=mode)
    if isolation_adequate(mode):
        # Refused (EPERM), or ignored: SIGKILL from inside a pid namespace cannot kill its pid 1.
        assert r.status in ("failed", "passed") and "runner killed" not in r.detail, r
    else:
        assert not r.passed and r.status in ("failed", "killed"), r
    assert run_program("x = 1", "assert x == 1", mode=mode).passed  # we are alive and still working


def test_huge_output_is_capped_fast(mode):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    r = run_program("import sys\nchunk = 'x' * 2**20\nfor _ in range(100):\n"
                    "    sys.stdout.write(chunk)", "", mode=mode)
    assert r.status in ("output_limit", "failed") and not r.passed, r
    assert time.monotonic() - start < 5
    assert len(r.stdout) <= READ_BYTES
    # ru_maxrss is in KiB: the harness grew by less than 50 MB.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50 * 1024


def test_harness_keeps_going_through_mixed_hostile_programs(mode):
    cases = [
        ("def f():\n    return 1", "assert f() == 1", {"passed"}),
        ("while True:\n    pass", "", {"timeout"}),
        ("x = [0] * (2**40)", "", {"memory"}),
        ("def f(:", "", {"error"}),
        ("import os, signal", "os.kill(os.getppid(), signal.SIGKILL)",
         {"failed", "killed", "passed"}),
        ("import sys", "sys.stdout.write('y' * 2**23)", {"output_limit", "failed"}),
        ("import os", "os.kill(os.getpid(), 9)", {"killed"}),
        ("def g():\n    return 2", "assert g() == 3", {"failed"}),
        ("def h():\n    return 3", "assert h() == 3", {"passed"}),
    ]
    for program, tests, expected in cases:
        r = run_program(program, tests, timeout=T, mode=mode)
        assert r.status in expected, (program, tests, r)
        assert r.passed == (r.status == "passed")
