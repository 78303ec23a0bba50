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


def test_generate_prints_text(tiny_models):
    out = run_cli("generate", "--model", str(tiny_models["llama"]), "--prompt", "hello",
                  "--max-new-tokens", "4")
    assert out.returncode == 0, out.stderr


def test_errors_are_one_readable_line_without_traceback():
    out = run_cli("evaluate", "--model", "nobody/nothing-here", "--task", "facts")
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: ") and "not available offline" in lines[-1]
    assert len(lines) == 1, out.stderr
