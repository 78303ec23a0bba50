"""The dashboard launched for the tests: build_app() in a child process on a free port, over a
micro build of the embedded family (built once per session), driven with gradio_client.

A plugin of the tests/test_app_*.py modules (`pytest_plugins = ["tests.app_server"]`), so they
share one server and one pair of runs made through the page: `server` (per module: it points
this process at the server's family and run folders while the module runs), `client` (one
visitor for the whole session) and `my_runs`. test_browser.py and test_public_app.py start
servers of their own with `LabServer`.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
import torch

from pkt_core.paradigms import compared_paradigms

ROOT = Path(__file__).resolve().parents[1]
TINY = {"laten": {"steps": 2}, "seeking": {"epochs": 0.01, "batch_size": 8},
        "lora": {"epochs": 0.01, "batch_size": 8}, "pissa": {"epochs": 0.01, "batch_size": 8}}


def micro_family(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The micro family, built once per test session (every app test module reuses it)."""
    out = tmp_path_factory.getbasetemp() / "pkt-micro-family"
    if not (out / "build_summary.json").is_file():
        from pkt_core.experiments.zoo import build_zoo

        # One single-threaded process per size whose idle OpenMP threads sleep: on a busy 2-core
        # machine this takes ~20 s, where one 2-thread process that spin-waits can take minutes.
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("OMP_WAIT_POLICY", "PASSIVE")
            build_zoo(out, micro=True, progress=False, parallel=True, sizes=("student", "teacher"))
    return out


def examples_dir(tmp_path_factory: pytest.TempPathFactory, family: Path) -> Path:
    """The example runs are read-only to the app: one build per family and test session."""
    return tmp_path_factory.getbasetemp() / f"example-runs-{abs(hash(str(family))):x}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# build_app() launched with prevent_thread_lock in a child process: the test process never
# imports gradio (tests/test_figures.py checks that pkt_core alone does not pull it in), and the
# child gets OMP_WAIT_POLICY=PASSIVE before torch loads, as `python app.py` does.
LAUNCH = """
import json, sys, time
import app
from pkt_core import lab
started = time.perf_counter()
demo = app.build_app()
fns = {fn.api_name: [fn.concurrency_id, fn.concurrency_limit, fn.api_visibility]
       for fn in demo.fns.values() if fn.name != "session_closed"}  # unload has no api_name
info = {"build_s": time.perf_counter() - started, "models_loaded": lab.MODELS.loads,
        "fns": fns, "max_size": demo._queue.max_size}
demo.launch(server_name="127.0.0.1", server_port=int(sys.argv[1]), prevent_thread_lock=True,
            quiet=True, **app.launch_options())
print("PKT-APP-INFO " + json.dumps(info), flush=True)
demo.block_thread()
"""


class LabServer:
    """build_app() on a free port (in a child process) with its own family and run folders."""

    def __init__(self, family: Path, work: Path, examples: Path | None = None) -> None:
        """`examples`: where the example runs are (built there when missing); None = none."""
        self.family, self.work = family, work
        self.runs = work / "runs"
        self.examples = examples if examples is not None else work / "no-example-runs"
        self.build_examples = examples is not None
        self.mp = pytest.MonkeyPatch()
        self.threads = torch.get_num_threads()

    def patch(self) -> None:
        """Point this process at the server's family and folders (its own lab calls see what
        the server sees)."""
        self.mp.setenv("PKT_EMBEDDED_DIR", str(self.family))  # read at call time
        self.mp.setenv("PKT_RUNS_DIR", str(self.runs))
        self.mp.setenv("PKT_EXAMPLE_RUNS_DIR", str(self.examples))
        # conftest asks for 2 threads; with OpenMP's default spin-waiting on a busy 2-core machine
        # every tiny matmul then stalls. One thread is plenty for the micro models.
        self.threads = torch.get_num_threads()
        torch.set_num_threads(1)

    def unpatch(self) -> None:
        from pkt_core import lab

        lab.MODELS.clear()
        torch.set_num_threads(self.threads)
        self.mp.undo()

    @contextmanager
    def patched(self) -> Iterator["LabServer"]:
        self.patch()
        try:
            yield self
        finally:
            self.unpatch()

    def _ensure_examples(self) -> None:
        if self.build_examples and not (self.examples / "summary.json").is_file():
            from pkt_core.experiments.example_runs import build_example_runs

            summary = build_example_runs(self.examples, self.teacher, self.student,
                                         settings=TINY, eval_limit=3, progress=None)
            (self.examples / "summary.json").write_text(json.dumps(summary))
        self.example_summary = json.loads((self.examples / "summary.json").read_text()) \
            if self.build_examples else None

    def _start(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "GRADIO_ANALYTICS_ENABLED": "False",
               "PYTHONUNBUFFERED": "1"}
        self.log = self.work / "server.log"
        self.proc = subprocess.Popen([sys.executable, "-c", LAUNCH, str(self.port)], cwd=ROOT,
                                     env=env, stdout=subprocess.PIPE,
                                     stderr=self.log.open("w"), text=True)
        line = self.proc.stdout.readline()  # printed once the server answers
        if not line.startswith("PKT-APP-INFO "):
            self.proc.kill()
            raise RuntimeError(f"the app did not start: {line}\n{self.log.read_text()[-3000:]}")
        self.info = json.loads(line.split(" ", 1)[1])
        with urllib.request.urlopen(self.url, timeout=30) as response:
            assert response.status == 200

    def __enter__(self) -> "LabServer":
        from pkt_core import lab

        self.patch()
        try:
            self.teacher, self.student = lab.default_pair()
            self._ensure_examples()
            self._start()
        except BaseException:
            self.unpatch()
            raise
        return self

    def client(self):
        from gradio_client import Client

        return Client(self.url, verbose=False)

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except Exception:  # noqa: BLE001
            self.proc.kill()
        self.unpatch()


# ---- the shared server of the tests/test_app_*.py modules ---------------------------------------
@pytest.fixture(scope="session")
def lab_server(tmp_path_factory):
    """One server for the session; this process is pointed at it only while a module using
    `server` runs (other test modules see their own settings)."""
    family = micro_family(tmp_path_factory)
    with LabServer(family, tmp_path_factory.mktemp("app"),
                   examples_dir(tmp_path_factory, family)) as srv:
        srv.unpatch()  # each module using `server` patches this process again
        yield srv


@pytest.fixture(scope="module")
def server(lab_server):
    with lab_server.patched():
        yield lab_server


@pytest.fixture(scope="session")
def session_client(lab_server):
    """The session's visitor: the one that made `my_runs` (so its Runs tab says "this session")."""
    return lab_server.client()


@pytest.fixture(scope="module")
def client(server, session_client):
    return session_client


# /transfer's outputs: the last ones are Compare's run pickers, one per compared paradigm.
TRANSFER_OUT = ("status", "loss", "result", "cancel_note", "runs", "run_pick",
                *(f"{paradigm}_pick" for paradigm in compared_paradigms()))


def transfer_args(server, paradigm, eval_limit=3, teacher=None, student=None, **settings):
    """/transfer's inputs by name: the form, and `<paradigm>_<setting>` for its settings."""
    args = {"paradigm": paradigm, "teacher": teacher or server.teacher,
            "student": student or server.student, "task": "facts", "seed": 0,
            "eval_limit": eval_limit}
    args |= {f"{paradigm}_{name}": value for name, value in settings.items()}
    return args


def run_transfer(client, server, paradigm, **over):
    """A transfer through the page's API; the outputs by name (TRANSFER_OUT)."""
    small = {"laten": {}, "seeking": {"epochs": 0.01, "batch_size": 8, "rank": 4}}.get(paradigm, {})
    out = client.predict(**transfer_args(server, paradigm, **{**small, **over}),
                         api_name="/transfer")
    return dict(zip(TRANSFER_OUT, out))


def error_text(excinfo) -> str:
    text = str(excinfo.value)
    assert "Traceback" not in text and text.strip()
    return text


@pytest.fixture(scope="session")
def my_runs(lab_server, session_client):
    """A short LaTen and a short Seeking run made through the page by the session's visitor."""
    out = {}
    for paradigm in ("laten", "seeking"):
        got = run_transfer(session_client, lab_server, paradigm,
                           **({"steps": 2} if paradigm == "laten" else {}))
        assert "finished" in got["status"], got["status"]
        assert "base student" in got["result"] and "change" in got["result"]
        assert json.loads(got["loss"]["plot"])["data"], "the loss plot has a curve"
        out[paradigm] = got["run_pick"]["value"]
        assert got[f"{paradigm}_pick"]["value"] == out[paradigm]
        assert any(r[0] == "this session" and r[1] == Path(out[paradigm]).name
                   for r in got["runs"]["data"])
    return out
