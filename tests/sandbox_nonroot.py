"""The sandbox tests re-run by pytest as uid 65534, which is what a Hugging Face Space is: the
tests must hold as root (CI) and as an ordinary user. tests/sandbox_fixtures.py starts the re-run
(`nonroot_run`), test_sandbox_unprivileged.py checks its outcome."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from pkt_core.sandbox import _policy

NONROOT_RUN = "PKT_SANDBOX_NONROOT_RUN"  # set in the re-run as uid 65534
NOBODY = 65534
TESTS = Path(__file__).resolve().parent
# What the re-run needs of tests/: the package marker, these helpers and the sandbox test modules.
RERUN_PATTERNS = ("__init__.py", "sandbox_*.py", "test_sandbox*.py")

# Run as root in a private mount namespace: covers directories uid 65534 cannot traverse (a Python
# under root's 0700 home folder) with a tmpfs and binds the Python install back, then execs.
_REVEAL = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
keep, cover, cmd = sys.argv[1].split(":"), sys.argv[2].split(":"), sys.argv[3:]
fds = [os.open(k, os.O_RDONLY | os.O_DIRECTORY) for k in keep]
for c in cover:
    if libc.mount(b"tmpfs", c.encode(), b"tmpfs", 0, b"mode=0755") != 0:
        raise OSError(ctypes.get_errno(), "cover " + c)
for k, fd in zip(keep, fds):
    os.makedirs(k, exist_ok=True)
    if libc.mount(("/proc/self/fd/%d" % fd).encode(), k.encode(), None, 4096 | 16384, None) != 0:
        raise OSError(ctypes.get_errno(), "bind " + k)
os.execv(cmd[0], cmd)
"""


def _python_cover() -> tuple[list[str], list[str]]:
    """(the Python install and pytest, the directories above them that uid 65534 cannot
    traverse)."""
    keep = sorted({os.path.realpath(p)
                   for p in (sys.base_prefix, sys.prefix, os.path.dirname(pytest.__file__))})
    keep = [k for k in keep if not any(k.startswith(o + "/") for o in keep)]
    return keep, sorted({a for a in map(_policy.private_ancestor, keep) if a})


def _rerun_files() -> list[Path]:
    return sorted({p for pattern in RERUN_PATTERNS for p in TESTS.glob(pattern)})


def _nonroot_command(home: Path) -> list[str]:
    test_modules = [home / "repo" / "tests" / p.name
                    for p in _rerun_files() if p.name.startswith("test_")]
    cmd = [shutil.which("setpriv") or "setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY),
           "--clear-groups", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           *map(str, test_modules)]
    keep, cover = _python_cover()
    if not cover:
        return cmd
    return [shutil.which("unshare") or "unshare", "--mount", "--propagation", "private",
            sys.executable, "-I", "-S", "-c", _REVEAL, ":".join(keep), ":".join(cover), *cmd]


class NonrootRun:
    """The sandbox test modules re-run by pytest as uid 65534, started in the background as soon as
    the first sandbox test begins, so the two runs share the wall clock instead of adding up."""

    def __init__(self) -> None:
        # mkdtemp makes it 0700; it is chowned to uid 65534 below.
        self.home = Path(tempfile.mkdtemp(prefix="pkt_sbx_nonroot_"))
        root, repo = TESTS.parent, self.home / "repo"
        # A copy it owns: the repository may not be readable by others, and the project folder
        # the escape test aims at must belong to the harness's user.
        shutil.copytree(root / "pkt_core" / "sandbox", repo / "pkt_core" / "sandbox",
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(root / "pkt_core" / "__init__.py", repo / "pkt_core" / "__init__.py")
        (repo / "tests").mkdir()
        for path in _rerun_files():
            shutil.copy(path, repo / "tests" / path.name)
        (self.home / "tmp").mkdir()
        for p in [self.home, *self.home.rglob("*")]:
            os.chown(p, NOBODY, NOBODY)
        # In the re-run's initial environ, where a hostile program could read /proc/<pid>/environ.
        secret = "harness-s3cret" + uuid.uuid4().hex
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home),
               "LANG": "C.UTF-8", "TMPDIR": str(self.home / "tmp"), "PYTHONPATH": str(repo),
               "PYTHONDONTWRITEBYTECODE": "1", NONROOT_RUN: "1",
               "PKT_SANDBOX_TEST_SECRET": secret, "PKT_SANDBOX_TEST_PROJECT": str(repo)}
        self.out = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(_nonroot_command(self.home), cwd=repo, env=env,
                                     stdout=self.out, stderr=subprocess.STDOUT, text=True)

    def result(self, timeout: float) -> tuple[int, str]:
        self.proc.wait(timeout)
        self.out.seek(0)
        return self.proc.returncode, self.out.read()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.out.close()
        shutil.rmtree(self.home, ignore_errors=True)


def nonroot_skip_reason() -> str | None:
    if os.environ.get(NONROOT_RUN):
        return "this is the re-run as uid 65534"
    if os.geteuid() != 0:
        return "already an ordinary user: this run is the unprivileged one"
    if not shutil.which("setpriv"):
        return "setpriv (util-linux) is missing: cannot switch to an unprivileged uid"
    if _python_cover()[1] and not shutil.which("unshare"):
        return (f"uid {NOBODY} cannot reach this Python (under {_python_cover()[1]}) and unshare "
                "is missing")
    return None
