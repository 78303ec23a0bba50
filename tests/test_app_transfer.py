"""The Transfer tab over HTTP: runs made through the page are saved in their own directories,
and a cancelled transfer keeps the runs saved before it."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

# The shared server of the test_app*.py modules (`server`, `client`, `my_runs`) and its helpers,
# imported here before pytest loads it as a plugin: registered first, so its asserts still report.
pytest.register_assert_rewrite("tests.app_server")
pytest_plugins = ["tests.app_server"]
from tests.app_server import TRANSFER_OUT, transfer_args  # noqa: E402


def test_transfers_are_saved_in_unique_run_directories(my_runs, server):
    from pkt_core.infra.runs import list_runs

    rows = {r["path"]: r for r in list_runs(server.runs)}
    for paradigm, path in my_runs.items():
        assert Path(path).parent == server.runs.resolve()
        assert rows[path]["status"] == "complete" and rows[path]["finished"]
        assert rows[path]["paradigm"] == paradigm
    assert len(set(my_runs.values())) == 2


def test_cancel_stops_a_transfer_and_keeps_saved_runs(server, my_runs):
    client = server.client()
    before = {p: (Path(p) / "model" / "model.safetensors").stat().st_mtime
              for p in my_runs.values()}
    job = client.submit(**transfer_args(server, "laten", steps=400), api_name="/transfer")
    deadline = time.time() + 60
    while time.time() < deadline:
        outs = job.outputs()
        if outs and "LaTen step" in str(outs[-1][0]):
            break
        time.sleep(0.2)
    note = client.predict(api_name="/cancel_transfer")
    assert "Cancelling" in note
    final = dict(zip(TRANSFER_OUT, job.result()))
    assert "cancelled" in final["status"]
    run_dir = Path(final["run_pick"]["value"])
    assert json.loads((run_dir / "status.json").read_text())["status"] == "cancelled"
    assert not (run_dir / "model").exists() and list((run_dir / "checkpoints").glob("*.pt"))
    after = {p: (Path(p) / "model" / "model.safetensors").stat().st_mtime for p in my_runs.values()}
    assert before == after
    # another session has nothing to cancel
    assert "Nothing to cancel" in server.client().predict(api_name="/cancel_transfer")
