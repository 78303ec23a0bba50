"""The five escapes a probe found on a public Space: secrets from the environment or /proc, writes
into the project/runs folders, a detached exec'd child outliving the call, TCP to the app's port,
killing a process of the same user; plus a datagram to a unix socket outside. Each runs in every
mode and in the variants that switch one protection layer off (tests/sandbox_modes.py), so each
layer is shown to hold on its own. The rlimits mode cannot stop most escapes: those are expected
failures, and it must still run benign programs. Every hostile program attacks only what its test
created: its own sleeping processes, its own sockets, files in its own folders."""
from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from pkt_core.sandbox import isolation_adequate, isolation_label, run_program

pytest_plugins = ["tests.sandbox_fixtures"]
pytestmark = pytest.mark.usefixtures("nonroot_run")  # the re-run as uid 65534 runs alongside

# In this process's initial environ, if set (by the re-run as uid 65534).
HARNESS_SECRET = os.environ.get("PKT_SANDBOX_TEST_SECRET", "")


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


def test_secrets_do_not_leak(hostile_mode, monkeypatch):
    mode, secret = hostile_mode, "s3cret" + uuid.uuid4().hex
    # What a Space's secrets are: the app's environment.
    monkeypatch.setenv("PKT_SECRET_TOKEN", secret)
    snoop = ("import os\nseen = [k + '=' + v for k, v in os.environ.items() if 'SECRET' in k]\n"
             "pids = {os.getppid(), %d, %d}\n"
             "try:\n    pids |= {int(p) for p in os.listdir('/proc') if p.isdigit()}\n"
             "except OSError:\n    pass\n"
             "for pid in pids:\n    try:\n"
             "        env = open('/proc/%%d/environ' %% pid, 'rb').read()\n"
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
                  "    except OSError as e:\n        print(t, type(e).__name__)" \
                  % [str(t) for t in targets]
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
        program = ("import socket\ntry:\n"
                   f"    socket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
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
            program = ("import os, signal\nfor sig in (signal.SIGKILL, signal.SIGTERM):\n"
                       f"    try:\n        os.kill({sibling.pid}, sig)\n"
                       "    except OSError as e:\n        print(e)")
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
                   "    for send in (lambda: a.sendto(b'hi', addr),"
                   " lambda: (a.connect(addr), a.send(b'hi'))):\n"
                   "        try:\n            send()\n"
                   "        except OSError as e:\n            print(e)")
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
