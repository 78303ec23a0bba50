"""The sandbox contains hostile generated code. Every test runs in each mode this machine offers
(`available_modes()`, each forced), and the five escapes a probe found on a public Space (secrets
from the environment or /proc, writes into the project/runs folders, a detached exec'd child
outliving the call, TCP to the app's port, killing a process of the same user) run in extra
variants that switch one protection layer off, so each layer is shown to hold on its own. The
rlimits mode cannot stop most escapes: those are expected failures, and it must still run benign
programs. `test_whole_suite_passes_as_an_unprivileged_user` re-runs this file as uid 65534, which
is what a Hugging Face Space is: the tests must hold as root (CI) and as an ordinary user."""
from __future__ import annotations

import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from pkt_core import sandbox
from pkt_core.sandbox import (MAX_PROCS, MODES, READ_BYTES, SandboxResult, SandboxUnavailable, _policy,
                              available_modes, drops_uid, isolation_adequate, isolation_label, isolation_mode,
                              run_program)

HERE = available_modes()
T = 1.0  # timeout for hostile programs: long enough for python startup, short enough for the suite
NONROOT_RUN = "PKT_SANDBOX_NONROOT_RUN"  # set in the re-run as uid 65534
HARNESS_SECRET = os.environ.get("PKT_SANDBOX_TEST_SECRET", "")  # in this process's initial environ, if set
NOBODY = 65534


def _variants() -> list[str]:
    """The modes, plus layer-by-layer variants: 'X-noseccomp' runs mode X without its seccomp filter
    (namespaces alone, Landlock alone); 'landlock@abi3' pretends the kernel is older (Landlock fs
    rules only: seccomp must stop TCP and signals)."""
    out = list(HERE)
    for mode in ("namespaces", "landlock"):
        if mode in HERE and _policy.seccomp_filter(False)[0]:
            out.append(f"{mode}-noseccomp")
    if "landlock" in HERE and _policy.landlock_abi() > 3:
        out.append("landlock@abi3")
    return out


@pytest.fixture(params=HERE)
def mode(request) -> str:
    return request.param


@pytest.fixture(params=_variants())
def hostile_mode(request, monkeypatch) -> str:
    name = request.param
    if name.endswith("-noseccomp"):
        monkeypatch.setattr(_policy, "seccomp_filter", lambda restrict_signals: (b"", "off for this test"))
        return name.removesuffix("-noseccomp")
    if "@abi" in name:
        monkeypatch.setattr(_policy, "LANDLOCK_ABI_CAP", int(name.split("@abi")[1]))
        return name.split("@")[0]
    return name


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
    return None if os.geteuid() == 0 else MAX_PROCS + 16  # the user's other tasks shift the count a little


def contained(mode: str, escaped: list, what: str) -> None:
    """Adequate modes must hold. The rlimits mode cannot stop every escape (a documented
    weakness): what it must do is still run a benign program and call itself inadequate, which
    is what makes public mode refuse the code tasks and local runs warn."""
    benign = run_program("def f(x):\n    return x + 1", "assert f(1) == 2", mode=mode)
    assert benign.passed, benign
    if mode == "rlimits":
        assert not isolation_adequate(mode) and "inadequate" in isolation_label(mode), escaped
        return
    assert not escaped, f"{what} escaped in mode {mode}: {escaped}"


# --- modes -----------------------------------------------------------------------------------------

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
        bare = subprocess.run(["unshare", *user, "--pid", "--fork", "--net", "--mount", "true"], capture_output=True)
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
    monkeypatch.setattr(sandbox, "_problem", lambda m: "simulated" if m == "namespaces" else real(m))
    assert isolation_mode() == [m for m in HERE if m != "namespaces"][0]
    assert "namespaces" not in available_modes()
    assert isolation_adequate() == ("landlock" in HERE)
    monkeypatch.setattr(sandbox, "_problem", lambda m: None if m == "rlimits" else "simulated")
    assert isolation_mode() == "rlimits" and not isolation_adequate()


def test_a_forced_mode_that_cannot_work_fails_clearly(monkeypatch):
    real = sandbox._problem
    monkeypatch.setattr(sandbox, "_problem", lambda m: "simulated: no Landlock" if m == "landlock" else real(m))
    with pytest.raises(SandboxUnavailable, match="'landlock' does not work on this machine: simulated"):
        run_program("x = 1", "", mode="landlock")
    monkeypatch.setenv("PKT_SANDBOX_MODE", "landlock")
    with pytest.raises(SandboxUnavailable, match="simulated"):
        isolation_mode()
    assert not isolation_adequate()  # the lead refuses code tasks rather than running them unconfined
    with pytest.raises(ValueError, match="unknown sandbox mode"):
        run_program("x = 1", "", mode="chroot")


# --- ordinary programs -------------------------------------------------------------------------

def test_correct_program_passes(mode):
    r = run_program("def f(x):\n    return x * 2", "assert f(2) == 4\nassert f(-1) == -2", mode=mode)
    assert isinstance(r, SandboxResult)
    assert r.passed and r.status == "passed" and r.detail == ""
    assert r.isolation == isolation_label(mode) and r.duration_s < 5


def test_humaneval_style_check(mode):
    tests = "def check(candidate):\n    assert candidate([1, 2]) == 3\n\ncheck(total)"
    assert run_program("def total(xs):\n    import math\n    return math.fsum(xs)", tests, mode=mode).passed


def test_programs_may_use_temp_files_threads_and_subprocesses(mode):
    program = ("import tempfile, threading, subprocess, sys\n"
               "with tempfile.TemporaryFile() as f:\n    f.write(b'x')\n"
               "t = threading.Thread(target=print)\nt.start()\nt.join()\n"
               "out = subprocess.run(['echo', 'hi'], capture_output=True, text=True).stdout")
    r = run_program(program, "assert out == 'hi\\n'", mode=mode)
    assert r.passed, r


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


# --- the five escapes found on a public Space ---------------------------------------------------

def test_secrets_do_not_leak(hostile_mode, monkeypatch):
    mode, secret = hostile_mode, "s3cret" + uuid.uuid4().hex
    monkeypatch.setenv("PKT_SECRET_TOKEN", secret)  # what a Space's secrets are: the app's environment
    snoop = ("import os\nseen = [k + '=' + v for k, v in os.environ.items() if 'SECRET' in k]\n"
             "pids = {os.getppid(), %d, %d}\n"
             "try:\n    pids |= {int(p) for p in os.listdir('/proc') if p.isdigit()}\nexcept OSError:\n    pass\n"
             "for pid in pids:\n    try:\n        env = open('/proc/%%d/environ' %% pid, 'rb').read()\n"
             "    except OSError:\n        continue\n"
             "    seen += [e.decode() for e in env.split(bytes(1)) if b'SECRET' in e]\nprint(seen)")
    with subprocess.Popen(["sleep", "30"]) as holder:  # a process of the same user, started with it
        try:
            r = run_program(snoop % (os.getpid(), holder.pid), "", mode=mode)
        finally:
            holder.kill()
    assert r.passed, r
    leaked = [s for s in (secret, HARNESS_SECRET) if s and s in r.stdout + r.detail]
    contained(mode, leaked, "a secret of the harness's environment")


def test_cannot_write_outside_workdir(hostile_mode, tmp_path):
    mode, name = hostile_mode, f"pkt_sbx_escape_{uuid.uuid4().hex}"
    runs = tmp_path / "runs"  # stands in for the project and runs folders: the harness user's own
    runs.mkdir(mode=0o755)
    targets = [runs / name, Path(tempfile.gettempdir()) / name, Path("/dev/shm") / name]
    if os.environ.get("PKT_SANDBOX_TEST_PROJECT"):  # the non-root re-run: a project copy it owns
        targets.append(Path(os.environ["PKT_SANDBOX_TEST_PROJECT"]) / name)
    home = Path.home() / f".{name}"  # a harness-owned folder outside every temp dir
    try:
        home.mkdir(mode=0o755)
        targets.append(home / name)
    except OSError:
        pass
    try:
        program = "import os\nfor t in %r:\n    try:\n        open(t, 'w').write('escaped')\n" \
                  "    except OSError as e:\n        print(t, type(e).__name__)" % [str(t) for t in targets]
        r = run_program(program, "", mode=mode)
        assert r.passed, r
        escaped = [str(t) for t in targets if t.exists()]
    finally:
        for t in targets:
            if t.is_file():
                t.unlink()
        shutil.rmtree(home, ignore_errors=True)
    contained(mode, escaped, "a write outside the workdir")


def test_detached_exec_child_is_dead_after_the_call(hostile_mode):
    mode, arg = hostile_mode, f"{random.randint(5000, 9000)}.{random.randint(10**8, 10**9)}"
    sleep = shutil.which("sleep") or "/bin/sleep"
    # Double fork, new session, exec with an empty environment: no session, parent or marker ties
    # it to the run any more.
    program = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
               f"        os.execve({sleep!r}, ['sleep', {arg!r}], {{}})\n    os._exit(0)\n"
               "time.sleep(0.3)\nprint('spawned')")
    r = run_program(program, "", mode=mode)
    want = b"sleep\0" + arg.encode() + b"\0"
    survivors = []
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                if f.read() == want:
                    survivors.append(int(p))
        except OSError:
            pass
    for p in survivors:
        os.kill(p, signal.SIGKILL)
    assert r.passed and "spawned" in r.stdout, r
    contained(mode, survivors, "a setsid + execve child")


def test_no_tcp_connection_to_the_apps_port(hostile_mode):
    mode, got = hostile_mode, []
    with socket.create_server(("127.0.0.1", 0)) as server:  # stands in for the app's HTTP port
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
        program = (f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
                   "    print('connected')\nexcept OSError as e:\n    print('refused', e)")
        r = run_program(program, "", mode=mode)
        stop.set()
        thread.join(2)
    for conn in got:
        conn.close()
    assert r.passed, r
    contained(mode, got, "a TCP connection to 127.0.0.1")


def test_cannot_kill_a_process_of_the_same_user(hostile_mode):
    mode = hostile_mode
    with subprocess.Popen(["sleep", "30"]) as sibling:
        try:
            program = (f"import os, signal\nfor sig in (signal.SIGKILL, signal.SIGTERM):\n    try:\n"
                       f"        os.kill({sibling.pid}, sig)\n    except OSError as e:\n        print(e)")
            r = run_program(program, "", mode=mode)
            time.sleep(0.05)
            died = [sibling.pid] if sibling.poll() is not None else []
        finally:
            sibling.kill()
    assert r.passed, r
    contained(mode, died, "a signal to another process of the same user")


def test_no_unix_socket_outside_is_reachable(mode, tmp_path):
    """socket() is denied, but a socketpair() datagram socket could still address a unix socket by
    path (e.g. a daemon's) or by abstract name: the sandbox must not let it reach either."""
    path, name = str(tmp_path / "app.sock"), f"pkt_sbx_{uuid.uuid4().hex}"
    tmp_path.chmod(0o755)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as by_path, \
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as by_name:
        by_path.bind(path)
        os.chmod(path, 0o777)
        by_name.bind("\0" + name)
        program = ("import socket\na, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
                   "a.send(b'x')\nassert b.recv(1) == b'x'\n"
                   f"for addr in ({path!r}, '\\0{name}'):\n"
                   "    for send in (lambda: a.sendto(b'hi', addr), lambda: (a.connect(addr), a.send(b'hi'))):\n"
                   "        try:\n            send()\n        except OSError as e:\n            print(e)")
        r = run_program(program, "", mode=mode)
        got = []
        for sock in (by_path, by_name):
            sock.setblocking(False)
            try:
                got.append(sock.recv(16))
            except BlockingIOError:
                pass
    assert r.passed, r
    contained(mode, got, "a datagram to a unix socket outside")


# --- other hostile programs ----------------------------------------------------------------------

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
        ("import os, signal", "os.kill(os.getppid(), signal.SIGKILL)", {"failed", "killed", "passed"}),
        ("import sys", "sys.stdout.write('y' * 2**23)", {"output_limit", "failed"}),
        ("import os", "os.kill(os.getpid(), 9)", {"killed"}),
        ("def g():\n    return 2", "assert g() == 3", {"failed"}),
        ("def h():\n    return 3", "assert h() == 3", {"passed"}),
    ]
    for program, tests, expected in cases:
        r = run_program(program, tests, timeout=T, mode=mode)
        assert r.status in expected, (program, tests, r)
        assert r.passed == (r.status == "passed")


# --- the same suite as an ordinary user ------------------------------------------------------------

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
    """(the Python install and pytest, the directories above them that uid 65534 cannot traverse)."""
    keep = sorted({os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, os.path.dirname(pytest.__file__))})
    keep = [k for k in keep if not any(k.startswith(o + "/") for o in keep)]
    return keep, sorted({a for a in map(_policy.private_ancestor, keep) if a})


def _nonroot_command(home: Path) -> list[str]:
    cmd = [shutil.which("setpriv") or "setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY), "--clear-groups",
           sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           str(home / "repo" / "tests" / "test_sandbox.py")]
    keep, cover = _python_cover()
    if not cover:
        return cmd
    return [shutil.which("unshare") or "unshare", "--mount", "--propagation", "private", sys.executable, "-I",
            "-S", "-c", _REVEAL, ":".join(keep), ":".join(cover), *cmd]


class _NonrootRun:
    """This file re-run by pytest as uid 65534, started in the background as soon as the module's
    tests begin, so the two runs share the wall clock instead of adding up."""

    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="pkt_sbx_nonroot_"))  # mkdtemp: 0700, chowned below
        root, repo = Path(__file__).resolve().parents[1], self.home / "repo"
        # A copy it owns: the repository may not be readable by others, and the project folder
        # the escape test aims at must belong to the harness's user.
        shutil.copytree(root / "pkt_core" / "sandbox", repo / "pkt_core" / "sandbox",
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(root / "pkt_core" / "__init__.py", repo / "pkt_core" / "__init__.py")
        (repo / "tests").mkdir()
        shutil.copy(Path(__file__), repo / "tests" / "test_sandbox.py")
        (self.home / "tmp").mkdir()
        for p in [self.home, *self.home.rglob("*")]:
            os.chown(p, NOBODY, NOBODY)
        secret = "harness-s3cret" + uuid.uuid4().hex  # in the re-run's initial environ: /proc/<pid>/environ
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home), "LANG": "C.UTF-8",
               "TMPDIR": str(self.home / "tmp"), "PYTHONPATH": str(repo), "PYTHONDONTWRITEBYTECODE": "1",
               NONROOT_RUN: "1", "PKT_SANDBOX_TEST_SECRET": secret, "PKT_SANDBOX_TEST_PROJECT": str(repo)}
        self.out = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(_nonroot_command(self.home), cwd=repo, env=env, stdout=self.out,
                                     stderr=subprocess.STDOUT, text=True)

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


def _nonroot_skip_reason() -> str | None:
    if os.environ.get(NONROOT_RUN):
        return "this is the re-run as uid 65534"
    if os.geteuid() != 0:
        return "already an ordinary user: this run is the unprivileged one"
    if not shutil.which("setpriv"):
        return "setpriv (util-linux) is missing: cannot switch to an unprivileged uid"
    if _python_cover()[1] and not shutil.which("unshare"):
        return f"uid {NOBODY} cannot reach this Python (under {_python_cover()[1]}) and unshare is missing"
    return None


@pytest.fixture(scope="module", autouse=True)
def nonroot_run(request):
    wanted = any(item.name == "test_whole_suite_passes_as_an_unprivileged_user" for item in request.session.items)
    run: _NonrootRun | Exception | None = None
    if wanted and _nonroot_skip_reason() is None:
        try:
            run = _NonrootRun()
        except Exception as err:  # reported by its test, not as an error of every test in the module
            run = err
    yield run
    if isinstance(run, _NonrootRun):
        run.close()


def test_whole_suite_passes_as_an_unprivileged_user(nonroot_run):
    reason = _nonroot_skip_reason()
    if reason:
        pytest.skip(reason)
    if isinstance(nonroot_run, Exception):
        raise nonroot_run
    code, output = nonroot_run.result(timeout=300)
    summary = output.strip().splitlines()[-1] if output.strip() else ""
    assert code == 0 and " passed" in summary, output[-8000:]
