"""The Runs tab over HTTP: the list (this visitor's runs, others', the examples), one run's
details and downloads, and the shipped example runs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

# The shared server of the test_app*.py modules (`server`, `client`, `my_runs`) and its helpers,
# imported here before pytest loads it as a plugin: registered first, so its asserts still report.
pytest.register_assert_rewrite("tests.app_server")
pytest_plugins = ["tests.app_server"]
from tests.app_server import error_text  # noqa: E402


def test_runs_list_detail_and_downloads(client, server, my_runs):
    runs, chart, seek_dd, laten_dd, run_dd, _ = client.predict(server.student, None, None,
                                                            api_name="/runs")
    sources = {row[0] for row in runs["data"]}
    assert {"this session", "example"} <= sources  # this client made the transfers
    other = server.client().predict(server.student, None, None, api_name="/runs")[0]
    assert {"saved", "example"} == {row[0] for row in other["data"]}  # another visitor sees "saved"
    names = {row[1] for row in runs["data"]}
    assert {f"example-{p}-facts" for p in ("laten", "seeking", "lora", "pissa")} <= names
    assert json.loads(chart["plot"])["data"]
    assert any(v == my_runs["laten"] for _, v in laten_dd["choices"])
    detail, loss, config, loss_caption = client.predict(my_runs["laten"], api_name="/run_detail")
    assert "How to read" in loss_caption
    assert "LaTen" in detail and config["paradigm"] == "laten"
    files = client.predict(my_runs["laten"], api_name="/run_files")
    names = {Path(f).name for f in files}
    assert {"config.json", "metrics.json", "loss_figure.html", "loss_figure.json",
            "model.zip"} <= names
    with pytest.raises(Exception) as err:
        client.predict("/etc", api_name="/run_files")
    assert "not a saved run" in error_text(err)


def test_example_runs_are_small_and_usable(server):
    summary = server.example_summary
    for paradigm in ("laten", "seeking", "lora", "pissa"):
        run = Path(summary["runs"][paradigm]["path"])
        assert not (run / "checkpoints").exists() and not (run / "adapter").exists()
        assert json.loads((run / "status.json").read_text())["status"] == "complete"
        has_model = (run / "model").is_dir()
        assert has_model == (paradigm in ("laten", "seeking"))
        if has_model:
            from safetensors import safe_open

            with safe_open(str(run / "model" / "model.safetensors"), "pt") as f:
                assert all(f.get_tensor(k).dtype == torch.bfloat16 for k in list(f.keys())[:3])
            metrics = json.loads((run / "metrics.json").read_text())
            assert metrics["stored_weights"]["dtype"] == "bfloat16"
