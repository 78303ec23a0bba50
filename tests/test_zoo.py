"""The zoo builder end to end in micro mode, plus the shipped family when it is present."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pkt_core.zoo import DEFAULT_OUT, FAMILY, lr_at, train_tokenizer


def test_tokenizer_splits_digits_and_keeps_chat_markers():
    texts = ["The capital of Velora is Tamsik. 123 + 45 = 168."] * 50
    tok = train_tokenizer(texts, vocab_size=300)
    ids = tok("<|user|>\n12345\n\n<|assistant|>\n", add_special_tokens=False)["input_ids"]
    pieces = tok.convert_ids_to_tokens(ids)
    assert pieces[0] == "<|user|>" and "<|assistant|>" in pieces
    assert [p for p in pieces if p.isdigit()] == list("12345")
    assert tok.eos_token == "<|endoftext|>" and tok.pad_token_id == tok.eos_token_id
    assert tok.decode(tok("x = 7 * 12\n    return xs")["input_ids"]) == "x = 7 * 12\n    return xs"


def test_lr_schedule_warms_up_and_decays():
    assert lr_at(0, 100, 1.0) < lr_at(2, 100, 1.0) <= 1.0
    assert lr_at(99, 100, 1.0) == pytest.approx(0.1, abs=0.01)


@pytest.fixture(scope="module")
def micro_zoo(tmp_path_factory):
    pytest.importorskip("pkt_core.evaluate")
    from pkt_core.zoo import build_zoo

    out = tmp_path_factory.mktemp("zoo")
    summary = build_zoo(out, micro=True, progress=False)
    return out, summary


def test_micro_build_end_to_end(micro_zoo):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, summary = micro_zoo
    assert len(summary["models"]) == 2
    for name in summary["models"]:
        path = Path(out) / name
        for f in ("config.json", "model.safetensors", "tokenizer.json", "README.md", "scores.json"):
            assert (path / f).is_file(), f
        scores = json.loads((path / "scores.json").read_text())["scores"]
        assert set(scores) == {"facts", "arith", "complete", "write"}
        assert all(0.0 <= s["score"] <= 1.0 for s in scores.values())
        assert "letter_score" in scores["facts"]
        card = (path / "README.md").read_text()
        assert "Loss" in card and "facts" in card
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(path)
        enc = tok("<|user|>\nWhat is the capital of Velora?\n\n<|assistant|>\n",
                  add_special_tokens=False, return_tensors="pt")
        gen = model.generate(**enc, max_new_tokens=5, do_sample=False,
                             pad_token_id=tok.pad_token_id)
        assert gen.shape[1] > enc["input_ids"].shape[1]


def _shipped(name: str) -> Path:
    path = DEFAULT_OUT / name
    if not (path / "scores.json").is_file():
        pytest.skip(f"{name} is not built")
    return path


def test_shipped_family_meets_the_bar():
    """The shipped scores: teacher ≥ 50% and ≥ 15 points above the student on every task."""
    teacher = json.loads((_shipped(FAMILY["teacher"].name) / "scores.json").read_text())["scores"]
    student = json.loads((_shipped(FAMILY["student"].name) / "scores.json").read_text())["scores"]
    assert student["facts"]["score"] > 0.25
    for task in ("facts", "arith", "complete", "write"):
        assert teacher[task]["n"] >= 300
        assert teacher[task]["score"] >= 0.5, task
        assert teacher[task]["score"] - student[task]["score"] >= 0.15, task
        assert student[task]["score"] > 0, task


def test_shipped_assets_fit_the_budget():
    _shipped(FAMILY["student"].name)
    total = sum(f.stat().st_size for f in DEFAULT_OUT.parent.rglob("*") if f.is_file())
    assert total < 40 * 2**20


def test_shipped_scores_are_well_formed():
    for key in ("student", "teacher"):
        saved = json.loads((_shipped(FAMILY[key].name) / "scores.json").read_text())
        assert saved["split"] == "test" and saved["training_tokens"] > 0
        for task in ("facts", "arith", "complete", "write"):
            assert saved["scores"][task]["n"] >= 300
            assert 0.0 <= saved["scores"][task]["score"] <= 1.0


@pytest.mark.parametrize("key", ["student", "teacher"])
@pytest.mark.parametrize("task", ["facts", "arith"])
def test_shipped_scores_reproduce_through_the_cli(key, task, capsys):
    """scores.json is what `python -m pkt_core evaluate --split test` prints (± 1 point); the
    two fast tasks are re-run here, the code tasks take minutes."""
    from pkt_core.__main__ import main

    path = _shipped(FAMILY[key].name)
    saved = json.loads((path / "scores.json").read_text())["scores"][task]["score"]
    assert main(["evaluate", "--model", FAMILY[key].name, "--task", task, "--split", "test",
                 "--json"]) == 0
    out = capsys.readouterr().out
    score = json.loads(out[out.index("{"):])["score"]
    assert abs(score - saved) <= 0.01, (score, saved)
