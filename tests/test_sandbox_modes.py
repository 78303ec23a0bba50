"""The sandbox's modes (probed, labelled, forced, falling back) and ordinary programs in each mode:
correct ones pass, wrong ones fail or error as they should, in an empty workdir removed after.
tests/sandbox_modes.py says which modes these run in."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from pkt_core import sandbox
from pkt_core.sandbox import (MODES, SandboxResult, SandboxUnavailable, _policy, available_modes,
                              isolation_adequate, isolation_label, isolation_mode, run_program)
from tests.sandbox_modes import HERE

pytest_plugins = ["tests.sandbox_fixtures"]
pytestmark = pytest.mark.usefixtures("nonroot_run")  # the re-run as uid 65534 runs alongside


# --- modes ----------------------------------------------------------------------------------------

def test_modes_are_probed_and_labelled():
    assert HERE and HERE[-1] == "rlimits" and HERE == [m for m in MODES if m in HERE]
    assert isolation_mode() == HERE[0] or os.environ.get("PKT_SANDBOX_MODE")
    for m in HERE:
        assert isolation_adequate(m) == (m != "rlimits")
        assert run_program("x = 1", "assert x == 1", mode=m).isolation == isolation_label(m)
    assert "inadequate" in isolation_label("rlimits") and not isolation_adequate("rlimits")
    if "landlock" in HERE:
        assert f"abi {_policy.landlock_abi()}" in isolation_label("landlock")
    if os.geteuid() != 0 and "namespaces" in HERE:
        assert "user," in isolation_label("namespaces")


def test_every_mode_whose_prerequisites_exist_works():
    """A mode failing its probe would silently drop out of every parametrized test: catch that."""
    if _policy.landlock_abi() > 0 and _policy.seccomp_filter(True)[0]:
        assert "landlock" in HERE, sandbox._problem("landlock")
    if shutil.which("unshare"):
        user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
        bare = subprocess.run(["unshare", *user, "--pid", "--fork", "--net", "--mount", "true"],
                              capture_output=True)
        if bare.returncode == 0:
            assert "namespaces" in HERE, sandbox._problem("namespaces")


def test_environment_variable_forces_a_mode(monkeypatch):
    for m in HERE:
        monkeypatch.setenv("PKT_SANDBOX_MODE", m)
        assert isolation_mode() == m and isolation_adequate() == (m != "rlimits")
        assert run_program("x = 1", "assert x == 1").isolation == isolation_label(m)


def test_without_namespaces_the_next_strongest_mode_is_chosen(monkeypatch):
    real = sandbox._problem
    monkeypatch.delenv("PKT_SANDBOX_MODE", raising=False)
    monkeypatch.setattr(sandbox, "_problem",
                        lambda m: "simulated" if m == "namespaces" else real(m))
    assert isolation_mode() == [m for m in HERE if m != "namespaces"][0]
    assert "namespaces" not in available_modes()
    assert isolation_adequate() == ("landlock" in HERE)
    monkeypatch.setattr(sandbox, "_problem", lambda m: None if m == "rlimits" else "simulated")
    assert isolation_mode() == "rlimits" and not isolation_adequate()


def test_a_forced_mode_that_cannot_work_fails_clearly(monkeypatch):
    real = sandbox._problem
    monkeypatch.setattr(sandbox, "_problem",
                        lambda m: "simulated: no Landlock" if m == "landlock" else real(m))
    with pytest.raises(SandboxUnavailable,
                       match="'landlock' does not work on this machine: simulated"):
        run_program("x = 1", "", mode="landlock")
    monkeypatch.setenv("PKT_SANDBOX_MODE", "landlock")
    with pytest.raises(SandboxUnavailable, match="simulated"):
        isolation_mode()
    # The lead refuses code tasks rather than running them unconfined.
    assert not isolation_adequate()
    with pytest.raises(ValueError, match="unknown sandbox mode"):
        run_program("x = 1", "", mode="chroot")


# --- ordinary programs -------------------------------------------------------------------------

def test_correct_program_passes(mode):
    r = run_program("def f(x):\n    return x * 2", "assert f(2) == 4\nassert f(-1) == -2",
                    mode=mode)
    assert isinstance(r, SandboxResult)
    assert r.passed and r.status == "passed" and r.detail == ""
    assert r.isolation == isolation_label(mode) and r.duration_s < 5


def test_humaneval_style_check(mode):
    tests = "def check(candidate):\n    assert candidate([1, 2]) == 3\n\ncheck(total)"
    assert run_program("def total(xs):\n    import math\n    return math.fsum(xs)", tests,
                       mode=mode).passed


def test_programs_may_use_temp_files_threads_and_subprocesses(mode):
    program = ("import tempfile, threading, subprocess, sys\n"
               "with tempfile.TemporaryFile() as f:\n    f.write(b'x')\n"
               "t = threading.Thread(target=print)\nt.start()\nt.join()\n"
               "out = subprocess.run(['echo', 'hi'], capture_output=True, text=True).stdout")
    r = run_program(program, "assert out == 'hi\\n'", mode=mode)
    assert r.passed, r


def test_failing_assert_is_failed(mode):
    r = run_program("def f(x):\n    return x + 1", "assert f(2) == 4, 'f(2) should be 4'",
                    mode=mode)
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
    r = run_program("import os\nprint(os.getcwd())\nprint(os.listdir('.'))\n"
                    "open('x', 'w').write('ok')", "", mode=mode)
    assert r.passed, r
    cwd, listing = r.stdout.splitlines()
    assert listing == "[]" and not os.path.exists(cwd)
