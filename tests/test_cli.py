"""The command line as a user runs it: subprocesses, JSON output, one-line errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "pkt_core", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_help_lists_subcommands():
    out = run_cli("--help")
    assert out.returncode == 0
    for sub in ("models", "evaluate", "generate", "pair", "zoo"):
        assert sub in out.stdout


def test_models_json_lists_embedded_and_presets():
    out = run_cli("models", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert all({"name", "kind", "role", "available"} <= row.keys() for row in rows)
    presets = [r for r in rows if r["kind"] == "preset"]
    assert len(presets) >= 3 and all(r["role"] is None for r in presets)
    llama2 = next(r for r in presets if "Llama-2" in r["name"])
    assert llama2["available"] is False and llama2["availability"] == "needs network"
    for row in rows:
        if row["kind"] == "embedded":
            assert row["role"] in ("teacher", "student", "middle") and row["available"] is True


def test_evaluate_json_on_user_data(tiny_models, tmp_path):
    for split in ("extract", "align", "train", "test"):
        (tmp_path / f"{split}.jsonl").write_text("".join(
            json.dumps({"id": f"{split}{i}", "messages": [
                {"role": "user", "content": f"Say {i}"}, {"role": "assistant", "content": str(i)}]})
            + "\n" for i in range(3)))
    out = run_cli("evaluate", "--model", str(tiny_models["llama"]), "--task", "jsonl",
                  "--source", str(tmp_path), "--limit", "2", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["n"] == 2 and 0.0 <= result["score"] <= 1.0
    assert result["task"].startswith("jsonl") and len(result["items"]) == 2
    assert {"prompt", "output", "extracted", "correct"} <= result["items"][0].keys()


def test_generate_prints_the_greedy_continuation_of_the_chat_prompt(tiny_models):
    from pkt_core.evaluate import generate
    from pkt_core.models import load_model
    from pkt_core.tasks import render_chat

    out = run_cli("generate", "--model", str(tiny_models["llama"]), "--prompt", "hello",
                  "--max-new-tokens", "4")
    assert out.returncode == 0, out.stderr
    loaded = load_model(str(tiny_models["llama"]))
    expected = generate(loaded.model, loaded.tokenizer, [render_chat("hello")], 4)[0]
    raw = generate(loaded.model, loaded.tokenizer, ["hello"], 4)[0]
    longer = generate(loaded.model, loaded.tokenizer, [render_chat("hello")], 8)[0]
    # The check can tell: the continuation is not blank, and the chat wrapping and the token
    # budget each change it.
    assert expected.strip() and expected != raw and expected != longer
    # Text mode turns a "\r" the random model may emit into "\n"; print adds one line end.
    assert out.stdout == expected.replace("\r\n", "\n").replace("\r", "\n") + "\n"


def test_errors_are_one_readable_line_without_traceback():
    out = run_cli("evaluate", "--model", "nobody/nothing-here", "--task", "facts")
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: ") and "not available offline" in lines[-1]
    assert len(lines) == 1, out.stderr


def test_locate_json_has_the_documented_keys(tiny_models):
    out = run_cli("locate", "--model", str(tiny_models["llama"]), "--prompt", "The capital of Velora is",
                  "--answer", " Amrit.", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for key in ("target_token_id", "attn_layer_scores", "ffn_layer_scores", "ffn_neuron_scores",
                "attn_neuron_scores", "top_attn_layers", "top_ffn_layers"):
        assert key in data
    assert len(data["ffn_layer_scores"]) == 2 and len(data["ffn_neuron_scores"][0]) == 172
    assert len(data["attn_neuron_scores"][0]) == 64


def test_locate_bad_input_is_one_line():
    out = run_cli("locate", "--model", "nobody/nothing", "--prompt", "", "--answer", "x")
    assert out.returncode != 0 and "Traceback" not in out.stderr


def test_similarity_json_and_html(tiny_models, tmp_path):
    html = tmp_path / "sim.html"
    out = run_cli("similarity", "--teacher", str(tiny_models["llama_deep"]), "--student",
                  str(tiny_models["llama"]), "--text", "The capital of Velora is Amrit, by the river.",
                  "--metric", "cosine", "--json", "--html", str(html))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert html.is_file() and html.with_suffix(".json").is_file()
    assert "matrices" in data and len(data["matrices"]["up_proj"]) == 2
    assert len(data["matrices"]["up_proj"][0]) == 4


def test_transfer_then_runs_list_then_evaluate_the_run(tiny_models, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for split, n in (("extract", 3), ("align", 6), ("train", 8), ("test", 2)):
        (data / f"{split}.jsonl").write_text("".join(json.dumps({"id": f"{split}{i}", "messages": [
            {"role": "user", "content": f"Say {i}"}, {"role": "assistant", "content": str(i)}]})
            + "\n" for i in range(n)))
    out_dir = tmp_path / "runs" / "laten-run"
    out = run_cli("transfer", "--paradigm", "laten", "--teacher", str(tiny_models["llama_deep"]),
                  "--student", str(tiny_models["llama"]), "--data", str(data), "--steps", "2",
                  "--eval-limit", "2", "--out", str(out_dir), "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["status"] == "complete" and summary["run_dir"] == str(out_dir)
    listed = run_cli("runs", "list", "--root", str(tmp_path / "runs"), "--json")
    rows = json.loads(listed.stdout)
    assert len(rows) == 1 and rows[0]["paradigm"] == "laten" and rows[0]["finished"]
    evaluated = run_cli("evaluate", "--model", str(out_dir), "--task", "jsonl", "--source", str(data),
                        "--limit", "1", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    again = run_cli("transfer", "--paradigm", "laten", "--teacher", str(tiny_models["llama_deep"]),
                    "--student", str(tiny_models["llama"]), "--data", str(data), "--out", str(out_dir))
    assert again.returncode != 0 and "already holds a run" in again.stderr
    bad = run_cli("transfer", "--paradigm", "laten", "--teacher", str(tiny_models["llama_deep"]),
                  "--student", str(tiny_models["llama"]), "--data", str(data), "--transfer-rate", "2")
    assert bad.returncode != 0 and "transfer rate" in bad.stderr and "Traceback" not in bad.stderr


def test_out_of_range_counts_are_refused_by_the_parser():
    out = run_cli("locate", "--model", "pkt-tiny-student", "--top-k", "-1")
    assert out.returncode == 2 and "--top-k: must be at least 1 (got -1)" in out.stderr
    out = run_cli("evaluate", "--model", "pkt-tiny-student", "--task", "facts", "--limit", "0")
    assert out.returncode == 2 and "--limit" in out.stderr


def test_a_missing_run_folder_is_a_path_not_a_hub_id(tmp_path):
    (tmp_path / "runs").mkdir()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "pkt_core", "evaluate", "--model", "runs/does-not-exist",
                          "--task", "facts"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode != 0 and "no model directory 'runs/does-not-exist'" in out.stderr
    assert "not available offline" not in out.stderr and "Traceback" not in out.stderr


def test_public_mode_applies_to_the_cli(tiny_models):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PKT_PUBLIC": "1"}
    out = subprocess.run([sys.executable, "-m", "pkt_core", "pair", "--teacher", "pkt-tiny-teacher",
                          "--student", str(tiny_models["llama"])], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "public lab" in out.stderr + out.stdout
