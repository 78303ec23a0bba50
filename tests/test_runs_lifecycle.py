"""A run's life on disk: a crashed run reads `interrupted`, never `running` forever; the runs
folder stays under a size cap; deletion never leaves the runs folder; LaTen can keep two
checkpoints instead of one per step."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from pkt_core.infra import runs
from pkt_core.paradigms.base import TransferError
from pkt_core.infra.runs import (FINISHED, INTERRUPTED_MESSAGE, NOT_A_RUN, RUN_MARKER, UNFINISHED,
                           RunDir, RunDirError, delete_run, list_runs, mark_interrupted,
                           owner_alive, process_identity, prune_runs, run_owner, run_size_bytes)
from tests.app_server import micro_family

ROOT = Path(__file__).resolve().parents[1]


def _fake_run(root: Path, name: str, status: str = "complete", size: int = 0,
              started: float | None = None) -> RunDir:
    """A run directory as transfer.py writes it, with `size` bytes of payload; `started` sets
    config.json's time (what pruning orders by)."""
    run = RunDir.create(root / name, "lora", "facts")
    run.write_json("config.json", {RUN_MARKER: True, "paradigm": "lora", "task": "facts"})
    run.set_status(status)
    (run.path / "payload.bin").write_bytes(b"x" * size)
    if started is not None:
        os.utime(run.path / "config.json", (started, started))
    return run


def _dead_pid() -> int:
    """The pid of a process that has ended and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# ---- interrupted runs ----------------------------------------------------------------------------
def test_a_running_run_of_this_process_stays_running(tmp_path):
    run = _fake_run(tmp_path, "live", status="running")
    stored = run.read_json("status.json")
    assert stored["status"] == "running" and stored["process"]["pid"] == os.getpid()
    assert stored["process"]["start_time"] is not None and stored["process"]["boot_id"]
    assert owner_alive(stored["process"]) and run.status == "running"
    [row] = list_runs(tmp_path)
    assert row["status"] == "running" and not row["finished"]
    assert mark_interrupted(tmp_path) == [] and run.read_json("status.json")["status"] == "running"


@pytest.mark.parametrize("process", [
    lambda: {**process_identity(), "boot_id": "another-boot"},  # the machine restarted
    lambda: process_identity(_dead_pid()),  # the process ended (a dead pid reads like this)
    lambda: {"pid": _dead_pid(), "boot_id": None, "start_time": None},
    lambda: {**process_identity(), "start_time": process_identity()["start_time"] - 1},  # reused
    lambda: None,  # written before runs named their process
], ids=["other-boot", "dead-pid", "dead-pid-no-proc-info", "reused-pid", "no-owner"])
def test_a_running_run_whose_process_is_gone_reads_interrupted(tmp_path, process):
    run = _fake_run(tmp_path, "crashed", status="running")
    run.set_status("running", process=process())  # what the dead process had written
    assert run.read_json("status.json")["status"] == "running"
    assert run.status == "interrupted"
    [row] = list_runs(tmp_path)
    assert row["status"] == "interrupted" and not row["finished"]
    assert mark_interrupted(tmp_path) == [run.path]
    stored = run.read_json("status.json")
    assert stored["status"] == "interrupted" and stored["message"] == INTERRUPTED_MESSAGE
    assert run.status == "interrupted" and mark_interrupted(tmp_path) == []


def test_without_proc_the_pid_alone_decides(tmp_path, monkeypatch):
    """macOS has no /proc: no boot id or start time is recorded, liveness is the pid's."""
    monkeypatch.setattr(runs, "_PROC", tmp_path / "no-proc")
    me = process_identity()
    assert me == {"pid": os.getpid(), "boot_id": None, "start_time": None}
    assert owner_alive(me) and not owner_alive(process_identity(_dead_pid()))
    run = _fake_run(tmp_path / "runs", "live", status="running")
    assert run.status == "running"


def _start_long_transfer(family: Path, out: Path, log: Path) -> subprocess.Popen:
    """A LaTen transfer of 10,000 steps on the micro family, as a user starts it; stderr goes to
    `log` (a pipe nobody reads could fill up and stall it)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "PKT_EMBEDDED_DIR": str(family), "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "pkt_core", "transfer", "--paradigm", "laten", "--defaults", "lab",
         "--teacher", str(family / "pkt-micro-teacher"), "--student",
         str(family / "pkt-micro-student"), "--task", "facts", "--steps", "10000",
         "--eval-limit", "2", "--out", str(out)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"))


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="no SIGKILL on this platform")
def test_a_sigkilled_transfer_is_interrupted_and_never_a_model(tmp_path, tmp_path_factory):
    from pkt_core.models import ModelNotAvailable, load_model

    family = micro_family(tmp_path_factory)
    out = tmp_path / "runs" / "killed"
    log = tmp_path / "stderr.txt"
    proc = _start_long_transfer(family, out, log)
    try:
        deadline = time.time() + 180
        while not any("step" in r for r in RunDir(out).log_rows()):
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.time() < deadline, "the transfer never logged a step"
            time.sleep(0.2)
        run = RunDir(out)
        assert run.status == "running"  # its process is alive: not interrupted
        assert run.read_json("status.json")["process"]["pid"] == proc.pid
    finally:
        proc.send_signal(signal.SIGKILL)
    # Killed but not yet reaped (nothing here waits for it yet: a zombie whose pid is still
    # taken): already interrupted.
    deadline = time.time() + 30
    while run.status != "interrupted" and time.time() < deadline:
        time.sleep(0.05)
    assert run.status == "interrupted"
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    assert run.read_json("status.json")["status"] == "running"  # nobody could write otherwise
    assert run.status == "interrupted"
    [row] = list_runs(tmp_path / "runs")
    assert row["status"] == "interrupted" and not row["finished"]
    # Killed after model/ was saved but before `complete` (its last scoring): still no model.
    shutil.copytree(family / "pkt-micro-student", out / "model")
    with pytest.raises(ModelNotAvailable, match="not complete"):
        load_model(str(out))
    assert mark_interrupted(tmp_path / "runs") == [out]
    with pytest.raises(ModelNotAvailable, match="interrupted, not complete"):
        load_model(str(out))


# ---- owners ------------------------------------------------------------------------------------
def test_runs_record_an_opaque_owner_tag(tmp_path):
    a, b, c = (_fake_run(tmp_path, n, started=t) for n, t in (("a", 1e9), ("b", 2e9), ("c", 3e9)))
    a.set_owner("session-1")
    c.set_owner("session-1")
    b.set_owner("session-2")
    assert run_owner(a.path) == "session-1" and run_owner(tmp_path / "nothing") is None
    assert [run_owner(r.path) for r in (a, b, c)] == ["session-1", "session-2", "session-1"]
    with pytest.raises(RunDirError, match="non-empty"):
        a.set_owner("  ")


# ---- what a run is: one answer (RunDir.model_ref), asked by the loader and the runs list -------
def test_model_ref_tells_finished_unfinished_and_not_a_run(tmp_path):
    done = _fake_run(tmp_path, "done")
    (done.path / "model").mkdir()
    failed = _fake_run(tmp_path, "failed", status="failed")
    no_weights = _fake_run(tmp_path, "no-weights")  # complete, model/ not kept
    copied = tmp_path / "copied"  # a run's model/ copied without the run's config or status
    (copied / "model").mkdir(parents=True)
    (copied / "model" / "config.json").write_text("{}")
    (tmp_path / "plain").mkdir()
    found = {name: RunDir(tmp_path / name).model_ref()
             for name in ("done", "failed", "no-weights", "copied", "plain")}
    assert found["done"].state == FINISHED and found["done"].model == done.path / "model"
    assert found["copied"].state == FINISHED and found["copied"].status == "unknown"
    assert (found["failed"].state, found["failed"].model) == (UNFINISHED, None)
    assert "failed, not complete" in found["failed"].why_no_model(failed.path)
    assert "without keeping its model" in found["no-weights"].why_no_model(no_weights.path)
    assert found["plain"].state == NOT_A_RUN
    rows = {row["name"]: row["finished"] for row in list_runs(tmp_path)}
    assert rows == {"done": True, "failed": False, "no-weights": False}  # PKT Lab's runs only


def test_the_loader_asks_model_ref(tmp_path):
    from pkt_core.models import ModelNotAvailable, resolve_ref

    _fake_run(tmp_path, "failed", status="failed")
    _fake_run(tmp_path, "no-weights")
    with pytest.raises(ModelNotAvailable, match="failed, not complete"):
        resolve_ref(str(tmp_path / "failed"))
    with pytest.raises(ModelNotAvailable, match="without keeping its model"):
        resolve_ref(str(tmp_path / "no-weights"))


def test_containment_is_strict_and_follows_links(tmp_path):
    from pkt_core.infra.paths import is_inside

    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "run").mkdir(parents=True)
    outside.mkdir()
    os.symlink(outside, root / "link-out")
    os.symlink(root / "run", tmp_path / "link-in")
    assert is_inside(root / "run", root) and is_inside(tmp_path / "link-in", root)
    assert not is_inside(root, root) and not is_inside(root / ".", root)
    assert not is_inside(root / "link-out", root)
    assert not is_inside(root / ".." / "outside", root) and not is_inside(outside, root)


def test_a_visitor_never_sees_a_run_through_a_link_out_of_the_roots(tmp_path, monkeypatch):
    from pkt_core.infra import policy

    monkeypatch.setenv("PKT_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("PKT_EXAMPLE_RUNS_DIR", str(tmp_path / "examples"))
    inside, elsewhere = _fake_run(tmp_path / "runs", "mine"), _fake_run(tmp_path, "elsewhere")
    (tmp_path / "examples").mkdir()
    os.symlink(elsewhere.path, tmp_path / "examples" / "link")
    assert policy.visible_run("mine") == inside.path.resolve()
    assert policy.visible_run("link") is None and policy.visible_run(str(elsewhere.path)) is None
    assert policy.visible_run(str(tmp_path / "runs")) is None  # the root is not a run inside it


# ---- bounded disk ------------------------------------------------------------------------------
def test_run_size_counts_files_and_never_follows_links(tmp_path):
    run = _fake_run(tmp_path / "runs", "r", size=1000)
    outside = tmp_path / "big"
    outside.mkdir()
    (outside / "blob").write_bytes(b"y" * 100_000)
    os.symlink(outside, run.path / "link")
    size = run_size_bytes(run.path)
    assert 1000 < size < 10_000


def test_prune_deletes_oldest_first_down_to_the_cap(tmp_path):
    old, mid, new = (_fake_run(tmp_path, n, size=10_000, started=t)
                     for n, t in (("zz-old", 1e9), ("aa-mid", 2e9), ("mm-new", 3e9)))
    (tmp_path / "not-a-run").mkdir()
    (tmp_path / "not-a-run" / "data").write_bytes(b"z" * 50_000)
    assert prune_runs(tmp_path, 10**9) == []  # under the cap: nothing goes
    each = run_size_bytes(old.path)
    assert prune_runs(tmp_path, 2 * each + 10) == [old.path]
    assert not old.path.exists() and mid.path.exists() and new.path.exists()
    assert prune_runs(tmp_path, 0) == [mid.path, new.path]
    assert (tmp_path / "not-a-run" / "data").exists() and list_runs(tmp_path) == []


def test_prune_never_deletes_a_live_or_kept_run(tmp_path):
    live = _fake_run(tmp_path, "1-live", status="running", size=10_000, started=1e9)
    kept = _fake_run(tmp_path, "2-kept", size=10_000, started=2e9)
    crashed = _fake_run(tmp_path, "3-crashed", status="running", size=10_000, started=3e9)
    crashed.set_status("running", process=process_identity(_dead_pid()))
    done = _fake_run(tmp_path, "4-done", size=10_000, started=4e9)
    elsewhere = _fake_run(tmp_path.parent / f"{tmp_path.name}-elsewhere", "0-linked", size=10_000,
                          started=1.0)
    os.symlink(elsewhere.path, tmp_path / "0-link")  # a run linked in from outside the root
    deleted = prune_runs(tmp_path, 0, keep=[tmp_path / "." / "2-kept"])
    assert deleted == [crashed.path, done.path]
    assert live.path.exists() and kept.path.exists() and elsewhere.path.exists()
    assert live.status == "running"


def test_prune_spares_a_run_that_is_just_starting(tmp_path):
    starting = _fake_run(tmp_path, "starting", size=10_000)
    (starting.path / "status.json").unlink()  # config.json written, status not yet
    assert prune_runs(tmp_path, 0) == [] and starting.path.exists()
    os.utime(starting.path / "config.json", (1e9, 1e9))  # … but a long-abandoned one goes
    assert prune_runs(tmp_path, 0) == [starting.path]


def test_delete_run_refuses_anything_but_a_run_inside_the_root(tmp_path):
    root = tmp_path / "runs"
    inside = _fake_run(root, "inside")
    elsewhere = _fake_run(tmp_path / "elsewhere", "precious")
    (root / "plain").mkdir()
    os.symlink(elsewhere.path, root / "link")
    live = _fake_run(root, "live", status="running")
    refusals = [(elsewhere.path, "not inside"),
                (root / ".." / "elsewhere" / "precious", "not inside"),
                (root / "link", "is a link"), (root, "not inside"), (root / ".", "not inside"),
                (root / "plain", "not a run"), (root / "missing", "not a run"),
                (live.path, "still running")]
    for path, message in refusals:
        with pytest.raises(RunDirError, match=message):
            delete_run(path, root)
    assert elsewhere.path.is_dir() and (root / "link").is_symlink() and live.path.is_dir()
    delete_run(inside.path, root)
    assert not inside.path.exists()
    assert not list(root.glob(".deleted-*"))


# ---- LaTen's checkpoints -----------------------------------------------------------------------
@pytest.fixture()
def micro_laten(tmp_path, tmp_path_factory, monkeypatch):
    """A LaTen request on the micro family (lab preset, 5 steps) writing under tmp_path."""
    from pkt_core.transfer import TransferRequest

    family = micro_family(tmp_path_factory)
    monkeypatch.setenv("PKT_EMBEDDED_DIR", str(family))

    def request(name: str, **settings) -> TransferRequest:
        return TransferRequest(paradigm="laten", teacher=str(family / "pkt-micro-teacher"),
                               student=str(family / "pkt-micro-student"), task="facts",
                               preset="lab", settings={"steps": 5, **settings}, eval_limit=2,
                               out=str(tmp_path / name))
    return request


def test_laten_keeps_every_checkpoint_by_default(micro_laten):
    from pkt_core.transfer import run_transfer

    result = run_transfer(micro_laten("all"))
    assert [p.name for p in RunDir(result.run_dir).checkpoints()] == \
        [f"step-00{i}.pt" for i in range(1, 6)]


def test_laten_runs_where_the_warm_up_is_exactly_one_step(micro_laten):
    """10 steps at the research's warm-up share of 0.1: torch's OneCycleLR divided by zero."""
    from pkt_core.transfer import run_transfer

    result = run_transfer(micro_laten("ten", steps=10, warmup_frac=0.1,
                                      keep_checkpoints="last-best"))
    assert len([r for r in RunDir(result.run_dir).log_rows() if "step" in r]) == 10


def test_laten_last_best_keeps_two_checkpoints(micro_laten, monkeypatch):
    from pkt_core.infra.runs import RunDir as Run
    from pkt_core.transfer import run_transfer

    most = {"n": 0}
    original = Run.save_checkpoint

    def counting(self, name, state):  # never more than two files, at any moment of the run
        original(self, name, state)
        most["n"] = max(most["n"], len(self.checkpoints()))
    monkeypatch.setattr(Run, "save_checkpoint", counting)
    result = run_transfer(micro_laten("last-best", keep_checkpoints="last-best", final_step=3))
    run = RunDir(result.run_dir)
    assert [p.name for p in run.checkpoints()] == ["best.pt", "last.pt"] and most["n"] == 2
    losses = {r["step"]: r["loss"] for r in run.log_rows() if "step" in r}
    last, best = (torch.load(run.path / "checkpoints" / n) for n in ("last.pt", "best.pt"))
    assert last["step"] == 5 and last["loss"] == losses[5]
    assert best["loss"] == min(losses.values()) and losses[best["step"]] == best["loss"]
    assert set(best["hypernetwork"]) and best["located"]["teacher_layers"]["ffn"]
    # final_step's hypernetwork is kept in memory, so it still works without its checkpoint
    assert json.loads((run.path / "artifacts.json").read_text())["used_step"] == 3
    assert run.status == "complete"


def test_an_unknown_checkpoint_policy_is_refused_before_work(micro_laten):
    from pkt_core.transfer import prepare

    with pytest.raises(TransferError, match="checkpoints kept must be one of all, last-best"):
        prepare(micro_laten("bad", keep_checkpoints="some"))
