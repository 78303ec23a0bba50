"""benchmarks/gpu_check.sh and benchmarks/bench_scale.py in their tiny CPU modes, so they cannot rot."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1"}


def _bench_scale_module():
    spec = importlib.util.spec_from_file_location("bench_scale", ROOT / "benchmarks" / "bench_scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_check_tiny_writes_its_json(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--tiny"], cwd=ROOT,
                          env={**ENV, "OUT": str(out)}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "gpu_check.json").read_text())
    assert summary["tiny"] is True and summary["device"] == "cpu" and summary["ok"] is True
    steps = summary["steps"]
    assert steps["cuda_tests"]["status"] == "skipped"
    assert steps["bench_scale"]["status"] == "passed"
    bench = steps["bench_scale"]["result"]
    assert bench["failed"] == [] and bench["skipped"] == {}
    for name in ("smollm2", "qwen25", "llama2"):
        assert bench[name]["locate"]["seconds_per_example"] > 0
        run = bench["runs"][name]
        assert run["temp_dir_removed"] is True and not Path(run["temp_dir"]).exists()
    transfer = steps["transfer_check"]["result"]
    assert transfer["ok"] is True
    for paradigm in ("laten", "seeking"):
        assert transfer[paradigm]["status"] == "complete"
        assert transfer[paradigm]["same_outputs"] is True
    assert transfer["two_gpu_laten"]["status"] == "skipped"


def test_bench_scale_tiny_json_and_temp_folder_removed(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_scale.py"), "--tiny",
                           "--only", "smollm2,qwen25", "--examples", "2", "--out", str(tmp_path)],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["device"] == "cpu" and report["skipped"] == {} and "llama2" not in report
    for name in ("smollm2", "qwen25"):
        shape = report[name]
        assert shape["locate"]["seconds_per_example"] > 0
        assert shape["locate"]["unavoidable_seconds_per_example"] > 0
        assert shape["laten_step_seconds_without_locate"] > 0
        assert shape["seeking_sensitivity_seconds"] > 0 and shape["lora_tokens_per_second"] > 0
        assert shape["peak_rss_mb"] > 0 and shape["load_seconds"] >= 0
    assert report["qwen25"]["shapes"]["teacher"]["kv_heads"] < report["qwen25"]["shapes"]["teacher"]["heads"]
    assert report["temp_dir_removed"] is True
    assert list(tmp_path.iterdir()) == []  # the temporary models are gone


def test_bench_scale_removes_its_temp_folder_on_error(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_scale.py"), "--tiny",
                           "--only", "smollm2", "--examples", "0", "--out", str(tmp_path)],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert list(tmp_path.iterdir()) == []


def test_bench_scale_shapes_and_skipping():
    bench = _bench_scale_module()
    # the published parameter counts (untied embeddings here: Llama-2 has them untied too)
    assert abs(bench.param_count(bench.SHAPES["llama2"][2]) / 1e9 - 6.74) < 0.01
    assert abs(bench.param_count(bench.SHAPES["llama2"][1]) / 1e9 - 13.02) < 0.01
    assert bench.skip_reason(bench.TINY_SHAPES["smollm2"], "cpu") is None
    huge = ("llama", (400, 51200, 400, 400, 138240, 32000), (1, 64, 4, 4, 172, 3000))
    assert "GiB" in bench.skip_reason(huge, "cpu")


def test_bench_scale_removes_its_temp_folder_when_terminated(tmp_path):
    import signal
    import time

    proc = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "bench_scale.py"), "--tiny",
                             "--only", "smollm2,qwen25,llama2", "--out", str(tmp_path)],
                            cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not any(tmp_path.glob("bench-scale-*/*")) and time.monotonic() < deadline:
        time.sleep(0.05)  # until the first temporary model is being written
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) != 0
    assert list(tmp_path.iterdir()) == []
