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
        assert shape["locate"]["batched_seconds_per_example"] > 0
        assert set(shape["peak_rss_mb_by_phase"]) == set(shape["estimated_mb_by_phase"])
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
    published = {"smollm2": (0.362, 0.135), "qwen25": (1.54, 0.494), "llama2": (13.02, 6.74)}  # B
    for name, (teacher, student) in published.items():
        family, t_shape, s_shape = bench.SHAPES[name]
        assert abs(bench.param_count(family, t_shape) / 1e9 - teacher) < 0.01 * teacher
        assert abs(bench.param_count(family, s_shape) / 1e9 - student) < 0.01 * student
    assert bench.skip_reason(bench.TINY_SHAPES["smollm2"], "cpu") is None
    huge = ("llama", (400, 51200, 400, 400, 138240, 32000, False), (1, 64, 4, 4, 172, 3000, False))
    assert "GiB" in bench.skip_reason(huge, "cpu")


def test_memory_estimate_per_paradigm():
    """budget.memory_phases follows each algorithm: what it loads, what it keeps, what it trains."""
    from pkt_core.infra.budget import activation_bytes, memory_phases, projection_params

    bench = _bench_scale_module()
    family, t_shape, s_shape = bench.SHAPES["llama2"]
    teacher, student = bench.model_shape(family, t_shape), bench.model_shape(family, s_shape)
    both = (teacher.n_params + student.n_params) * 2
    est = bench.estimated_phases(family, t_shape, s_shape, 2)
    assert est["lora"]["weights"] == student.n_params * 2  # no teacher is loaded
    # Seeking: one fp32 sum per teacher projection weight, the weights, one example's activations
    assert est["seeking"]["teacher sensitivity"] == both + 4 * projection_params(teacher) + \
        activation_bytes(teacher, 256, 2)
    assert projection_params(teacher) == 40 * (4 * 5120 * 5120 + 3 * 5120 * 13824)
    # LaTen: 16 examples a step, four hypernetworks trained with AdamW (injection copies nothing)
    hyper = 16 * 4 * 5120 * (5120 + 4096)
    from pkt_core.paradigms.laten import MODULES, HyperNetwork
    assert len(MODULES) * sum(p.numel() for p in HyperNetwork(64, 32, 1e-5).parameters()) == 4 * 64 * 96
    assert est["laten"]["training"] == both + 1024 * 2**20 + hyper + activation_bytes(student, 16 * 256, 2)
    #   (+ two LocateCaches, each up to half of the 1 GiB locate budget, kept through the steps)
    assert est["laten"]["locate"] == both + 1.5 * 1024 * 2**20 + 12 * 256 * 32000  # + a call's working half
    assert max(est["seeking"].values()) / 2**30 < 139  # the paper's pair fits one H200
    # bigger batches and fp32 weights cost more; a pair without locate or sums has no such phase
    from pkt_core.infra.budget import Work
    small = memory_phases(Work(student_train=1, micro_batch=1), student, None, 2)
    assert set(small) == {"weights", "training"}
    assert memory_phases(Work(student_train=64, micro_batch=16), student, None, 4)["training"] > \
        small["training"]


def test_readme_memory_table_is_the_one_bench_scale_prints():
    bench = _bench_scale_module()
    assert bench.memory_table() in (ROOT / "README.md").read_text()


def test_benchmarks_take_temporary_folders_only_from_scratch_dir():
    """No benchmark leaves random models behind: temporary folders come from benchmarks/scratch.py,
    which removes them however the run ends."""
    scripts = [*(ROOT / "benchmarks").glob("*.py"), *(ROOT / "benchmarks").glob("*.sh")]
    offenders = [p.name for p in scripts
                 if p.name != "scratch.py" and ("mkdtemp" in p.read_text() or "mkstemp" in p.read_text())]
    assert offenders == []


def test_scratch_dir_is_removed_on_sigterm_and_on_error(tmp_path):
    script = ("import os, signal, sys, time; sys.path.insert(0, sys.argv[1]);"
              "from benchmarks.scratch import scratch_dir\n"
              "with scratch_dir('x-', parent=sys.argv[2]) as d:\n"
              "    (d / 'model.bin').write_bytes(b'0' * 1000); print(d, flush=True)\n"
              "    if sys.argv[3] == 'error': raise RuntimeError('boom')\n"
              "    time.sleep(60)\n")
    for how in ("sigterm", "error"):
        parent = tmp_path / how
        proc = subprocess.Popen([sys.executable, "-c", script, str(ROOT), str(parent), how],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        folder = Path(proc.stdout.readline().strip())
        assert folder.parent == parent
        if how == "sigterm":
            assert folder.is_dir()
            proc.terminate()
        proc.wait(timeout=30)
        assert proc.returncode != 0 and list(parent.iterdir()) == []
