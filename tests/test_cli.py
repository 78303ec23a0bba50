"""The command line as a user runs it: subprocesses, JSON output, one-line errors."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

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
            assert row["role"] in ("teacher", "student", "middle", "sibling")
            assert row["available"] is True


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
    out = run_cli("locate", "--model", str(tiny_models["llama"]),
                  "--prompt", "The capital of Velora is", "--answer", " Amrit.", "--json")
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
                  str(tiny_models["llama"]),
                  "--text", "The capital of Velora is Amrit, by the river.",
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
    evaluated = run_cli("evaluate", "--model", str(out_dir), "--task", "jsonl",
                        "--source", str(data), "--limit", "1", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    again = run_cli("transfer", "--paradigm", "laten", "--teacher", str(tiny_models["llama_deep"]),
                    "--student", str(tiny_models["llama"]), "--data", str(data),
                    "--out", str(out_dir))
    assert again.returncode != 0 and "already holds a run" in again.stderr
    bad = run_cli("transfer", "--paradigm", "laten", "--teacher", str(tiny_models["llama_deep"]),
                  "--student", str(tiny_models["llama"]), "--data", str(data),
                  "--transfer-rate", "2")
    assert bad.returncode != 0 and "transfer rate" in bad.stderr and "Traceback" not in bad.stderr


def test_out_of_range_counts_are_refused_by_the_parser():
    out = run_cli("locate", "--model", "pkt-tiny-student", "--top-k", "-1")
    assert out.returncode == 2 and "--top-k: must be at least 1 (got -1)" in out.stderr
    out = run_cli("evaluate", "--model", "pkt-tiny-student", "--task", "facts", "--limit", "0")
    assert out.returncode == 2 and "--limit" in out.stderr


def test_a_missing_run_folder_is_a_path_not_a_hub_id(tmp_path):
    (tmp_path / "runs").mkdir()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "pkt_core", "evaluate",
                          "--model", "runs/does-not-exist", "--task", "facts"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "no model directory 'runs/does-not-exist'" in out.stderr
    assert "not available offline" not in out.stderr and "Traceback" not in out.stderr


def test_public_mode_applies_to_the_cli(tiny_models):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PKT_PUBLIC": "1"}
    out = subprocess.run([sys.executable, "-m", "pkt_core", "pair", "--teacher", "pkt-tiny-teacher",
                          "--student", str(tiny_models["llama"])], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "public lab" in out.stderr + out.stdout


# ---- the teacher's report: locate's chat format, evaluate's item log, help texts, bar order ----
def _located(out: subprocess.CompletedProcess) -> dict:
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_locate_wraps_the_prompt_in_the_chat_format_as_the_lab_does():
    """On the same example, `locate` (chat by default) reports the layers the lab's Locate tab
    reports; the teacher's FFN order is where the two once differed ([0, 6, 7] against
    [6, 0, 5])."""
    import numpy as np

    from pkt_core.lab import locate_pair, task_example
    from pkt_core.locate import LocateResult

    prompt, answer = task_example("facts", 0)
    view = locate_pair("pkt-tiny-teacher", "pkt-tiny-student", prompt, answer)
    # The student's example is typed with stray whitespace: the lab strips it, and so must the CLI.
    for role, typed in (("student", (f"  {prompt}\n", f" {answer} ")),
                        ("teacher", (prompt, answer))):
        lab = LocateResult.from_json(view.state[f"{role}_result"])
        cli = _located(run_cli("locate", "--model", f"pkt-tiny-{role}", "--prompt", typed[0],
                               "--answer", typed[1], "--json"))
        assert cli["top_ffn_layers"] == lab.top_layers("ffn"), role
        assert cli["top_attn_layers"] == lab.top_layers("attn"), role
        for kind, shown in (("ffn", "FFN"), ("attn", "attention")):  # the page's top-neuron table
            rows = [row[2] for row in view.top_rows if row[:2] == [role, shown]]
            assert list(dict.fromkeys(rows)) == cli[f"top_{kind}_layers"][:3], (role, kind)
            assert np.allclose(cli[f"{kind}_layer_scores"], lab.layer_scores(kind),
                               rtol=1e-4, atol=1e-7)
        assert cli["target_token_id"] == lab.target_token_id


def test_locate_no_chat_reads_the_prompt_as_typed():
    from pkt_core.lab import task_example
    from pkt_core.locate import locate
    from pkt_core.models.provider import MODELS
    from pkt_core.tasks import render_chat

    prompt, answer = task_example("facts", 0)
    raw = _located(run_cli("locate", "--model", "pkt-tiny-teacher", "--prompt", prompt,
                           "--answer", answer, "--no-chat", "--json"))
    loaded = MODELS.get("pkt-tiny-teacher")
    before = locate(loaded.model, loaded.tokenizer, loaded.spec, [(prompt, answer)])  # the old CLI
    chat = locate(loaded.model, loaded.tokenizer, loaded.spec, [(render_chat(prompt), answer)])
    assert raw["top_ffn_layers"] == before.top_ffn_layers
    assert raw["top_attn_layers"] == before.top_attn_layers
    assert raw["top_ffn_layers"] != chat.top_ffn_layers  # so the check can tell the two apart
    out = run_cli("locate", "--model", "pkt-tiny-student", "--prompt", " ", "--answer", "x")
    assert out.returncode == 2 and out.stderr.strip() == "error: the prompt is empty"


def test_evaluate_items_prints_one_line_per_item_in_text_mode():
    from pkt_core.evaluate import evaluate

    args = ("evaluate", "--model", "pkt-tiny-student", "--task", "facts", "--limit", "3")
    expected = evaluate("pkt-tiny-student", "facts", limit=3)
    plain = run_cli(*args)
    logged = run_cli(*args, "--items")
    assert plain.returncode == 0 and logged.returncode == 0, plain.stderr + logged.stderr
    summary, *lines = logged.stdout.splitlines()
    assert plain.stdout.splitlines() == [summary]
    assert summary.startswith("pkt-tiny-student on facts")
    assert len(lines) == 3
    for line, item in zip(lines, expected.items):
        ident, mark, answer = line.split()[:3]
        assert ident == item["id"] and mark == ("✓" if item["correct"] else "✗")
        assert answer == "ABCD"[item["chosen"]]  # the likeliest option, which facts scores
        assert f'vs "{item["reference"]}"' in line and len(line) < 160
    as_json = run_cli(*args, "--items", "--json")  # JSON mode as before: every item, no log lines
    data = json.loads(as_json.stdout)
    assert [i["id"] for i in data["items"]] == [i["id"] for i in expected.items]
    assert [i["correct"] for i in data["items"]] == [i["correct"] for i in expected.items]


def test_item_lines_are_short_single_lines_for_every_kind_of_task():
    from pkt_core.evaluate import item_line as _item_line

    number = {"id": "arith-1", "correct": False, "extracted": "241", "status": "ok", "detail": "",
              "reference": "9 * 21 = 189. 700 - 572 = 128.\n#### 128", "output": "…"}
    assert _item_line(number, "number", 9) == '  arith-1    ✗  "241" vs "128"'
    code = {"id": "write-2", "correct": False, "status": "failed", "detail": "AssertionError",
            "output": "```python\ndef solve(xs):\n"
                      "    return sorted(xs)[::-1][:3] + [x * 2 for x in xs]\n```",
            "extracted": "def solve(xs): …",
            "reference": "```python\ndef solve(xs):\n    return xs\n```"}
    line = _item_line(code, "code_write")
    # The output is cut at 40 characters.
    assert line.startswith('  write-2  ✗  "def solve(xs): return sorted(xs)[::-1][…" vs ')
    assert line.endswith('"def solve(xs): return xs"  [failed: AssertionError]')
    assert "\n" not in line
    exact = {"id": "j", "correct": True, "extracted": "", "reference": "3", "status": "ok"}
    assert _item_line(exact, "exact") == '  j  ✓  "" vs "3"'


def _all_parsers(parser, path="pkt"):
    import argparse

    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _all_parsers(sub, f"{path} {name}")


def test_every_flag_of_every_subcommand_has_help():
    import argparse

    from pkt_core.__main__ import build_parser

    parsers = dict(_all_parsers(build_parser()))
    assert {"pkt locate", "pkt zoo build", "pkt zoo add-members", "pkt zoo examples",
            "pkt runs list", "pkt transfer"} <= set(parsers)
    missing, flags = [], 0
    for path, parser in parsers.items():
        parser.format_help()  # renders: no stray '%' in a help text
        for action in parser._actions:
            if action.option_strings and not isinstance(action, argparse._HelpAction):
                flags += 1
                if not (action.help or "").strip() or action.help == argparse.SUPPRESS:
                    missing.append(f"{path} {'/'.join(action.option_strings)}")
    assert not missing, missing
    assert flags > 100  # the paradigm settings' flags of transfer and reproduce are among them


# ---- zoo add-members: reaches zoo.add_members, refuses what would lose a family ----------------
def _zoo_builds(tmp_path: Path) -> tuple[Path, Path]:
    """Two folders that look like `zoo build` outputs (their record only: nothing is trained)."""
    built, family = tmp_path / "extra", tmp_path / "family"
    for folder in (built, family):
        folder.mkdir()
        (folder / "build_results.json").write_text("{}")
    return built, family


SUMMARY = {"out": "family", "tokens": 20000, "seconds": 3.0, "models": {
    "pkt-micro-student": {"params": 12345, "train_seconds": 1.0, "scores": {"facts": 0.25}},
    "pkt-micro-sibling": {"params": 12345, "train_seconds": 1.0, "scores": {"facts": 0.5}}}}


def test_zoo_add_members_passes_the_parsed_folders(tmp_path, monkeypatch, capsys):
    from pkt_core.experiments import zoo
    from pkt_core.__main__ import main

    built, family = _zoo_builds(tmp_path)
    calls = []
    monkeypatch.setattr(zoo, "add_members", lambda *args: calls.append(args) or SUMMARY)
    assert main(["zoo", "add-members", "--built", str(built), "--out", str(family),
                 "--json"]) == 0
    assert calls == [(str(built), str(family))]
    assert json.loads(capsys.readouterr().out) == SUMMARY
    assert main(["zoo", "add-members", "--built", str(built), "--out", str(family)]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0] == "the family in family now has 2 members:" and len(text) == 3
    assert "pkt-micro-sibling" in text[2] and "12,345 params" in text[2]
    assert "facts 0.500" in text[2]


def test_zoo_add_members_refuses_a_non_build_and_the_family_itself(tmp_path, monkeypatch,
                                                                    capsys):
    from pkt_core.experiments import zoo
    from pkt_core.__main__ import main

    built, family = _zoo_builds(tmp_path)
    monkeypatch.setattr(zoo, "add_members", lambda *args: pytest.fail("add_members was called"))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["zoo", "add-members", "--built", str(empty), "--out", str(family)]) == 2
    assert "--built" in capsys.readouterr().err
    assert main(["zoo", "add-members", "--built", str(built), "--out", str(empty)]) == 2
    assert "--out" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:  # --built is required: argparse refuses
        main(["zoo", "add-members", "--out", str(family)])
    assert exit_info.value.code == 2 and "--built" in capsys.readouterr().err
    # As a user runs it: one readable line, nothing copied onto itself.
    out = run_cli("zoo", "add-members", "--built", str(family), "--out", str(family / "."))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip() == "error: --built and --out are the same folder: there is " \
                                 "nothing to add"
    assert (family / "build_results.json").read_text() == "{}"


BAR = re.compile(r"\d+/\d+ \[\d\d:\d\d")  # tqdm's "39/39 [00:00<00:00, …]"


@pytest.mark.parametrize("unbuffered", ["1", ""], ids=["unbuffered", "buffered"])
@pytest.mark.parametrize("args, first_result", [
    (("evaluate", "--model", "pkt-tiny-student", "--task", "facts", "--limit", "3"),
     "pkt-tiny-student on facts/test:"),
    (("locate", "--model", "pkt-tiny-student", "--prompt", "Where was Detro Kishoun born?",
      "--answer", "A. Graidur"), "target token id"),
], ids=["evaluate", "locate"])
def test_progress_bars_precede_the_results_in_one_stream(args, first_result, unbuffered):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    for name in ("HF_HUB_DISABLE_PROGRESS_BARS", "TQDM_DISABLE", "PYTHONUNBUFFERED"):
        env.pop(name, None)  # conftest turns the hub's bars off; here they must draw
    if unbuffered:
        env["PYTHONUNBUFFERED"] = unbuffered  # as in Docker images and Spaces
    out = subprocess.run([sys.executable, "-m", "pkt_core", *args], cwd=ROOT, env=env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    assert out.returncode == 0, out.stdout
    lines = [line for line in out.stdout.splitlines() if line.strip()]  # "\r" ends a line too
    bars = [line for line in lines if BAR.search(line)]
    assert any("Loading weights" in line for line in bars), lines  # transformers' bar and ours
    start = next((i for i, line in enumerate(lines) if first_result in line), None)
    assert start is not None, lines
    assert not [line for line in lines[start:] if BAR.search(line)], lines  # no bar from here on
