"""The zoo builder end to end in micro mode, plus the shipped family when it is present."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pkt_core.experiments.zoo import (DEFAULT_OUT, FAMILY, NOTES, Size, build_zoo, lr_at, model_card,
                          train_tokenizer)


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


OLD_HISTORY = ["History 0 (a previous build): facts 1.0 / 2.0."]


@pytest.fixture(scope="module")
def micro_zoo(tmp_path_factory):
    from pkt_core import evaluate  # noqa: F401  (build_zoo scores through it: broken fails)

    out = tmp_path_factory.mktemp("zoo")
    # A build already in the folder: its build history must survive the rebuild.
    (out / "build_results.json").write_text(json.dumps(
        {"build": {"notes": ["stale note"], "history": OLD_HISTORY}, "results": {}}))
    summary = build_zoo(out, micro=True, progress=False)
    return out, summary


def test_micro_build_end_to_end(micro_zoo):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, summary = micro_zoo
    assert len(summary["models"]) == 4  # student, sibling, middle, teacher
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
        assert "stale note" not in card and all(f"- {note}" in card for note in NOTES)
        assert card.index("## Notes") < card.index("## Build history") < card.index(OLD_HISTORY[0])
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(path)
        enc = tok("<|user|>\nWhat is the capital of Velora?\n\n<|assistant|>\n",
                  add_special_tokens=False, return_tensors="pt")
        gen = model.generate(**enc, max_new_tokens=5, do_sample=False,
                             pad_token_id=tok.pad_token_id)
        assert gen.shape[1] > enc["input_ids"].shape[1]
    build = json.loads((Path(out) / "build_results.json").read_text())["build"]
    assert build["notes"] == NOTES and build["history"] == OLD_HISTORY


def test_the_sibling_is_the_students_shape_from_another_start(micro_zoo):
    """Same shape, same tokens in the same order, another initialisation: different weights."""
    from safetensors.torch import load_file

    out, summary = micro_zoo
    student, sibling = (Path(out) / "pkt-micro-student", Path(out) / "pkt-micro-sibling")
    config = {p: json.loads((p / "config.json").read_text()) for p in (student, sibling)}
    for key in ("num_hidden_layers", "hidden_size", "intermediate_size", "num_attention_heads"):
        assert config[student][key] == config[sibling][key], key
    a, b = load_file(student / "model.safetensors"), load_file(sibling / "model.safetensors")
    assert a.keys() == b.keys() and any(not torch.equal(a[k], b[k]) for k in a)
    sizes = {name: m["params"] for name, m in summary["models"].items()}
    assert sizes["pkt-micro-student"] == sizes["pkt-micro-sibling"] \
        < sizes["pkt-micro-middle"] < sizes["pkt-micro-teacher"]


def test_card_has_a_build_history_only_when_there_is_one():
    size = FAMILY["student"]
    log = {"tokens": 10, "steps": 1, "seconds": 6.0, "tokens_per_s": 2, "loss_first": 9.0,
           "loss_curve": {"100%": 1.0}}
    build = {"vocab": 300, "threads": 2, "seed": 0, "world_size": 1.0, "notes": ["a note"]}
    card = model_card(size, 1000, log, {}, {size.name: {}}, build)
    assert "- a note" in card and "Build history" not in card
    card = model_card(size, 1000, log, {}, {size.name: {}}, {**build, "history": ["build one"]})
    assert card.rstrip().endswith(
        "## Build history\n\nFrom the lab notebook: the family's builds, oldest first, and what "
        "each showed (scores in %).\n\n- build one")


def _shipped(name: str) -> Path:
    path = DEFAULT_OUT / name
    if not (path / "scores.json").is_file():
        pytest.skip(f"{name} is not built")
    return path


def test_shipped_cards_are_what_the_builder_writes_from_build_results():
    """The cards carry the source's notes and the lab notebook's build history, and regenerating
    them from build_results.json changes nothing (so the two cannot drift apart)."""
    _shipped(FAMILY["student"].name)
    saved = json.loads((DEFAULT_OUT / "build_results.json").read_text())
    build, results = saved["build"], saved["results"]
    assert build["notes"] == NOTES
    assert not any(note.startswith(("History", "SHIPPED", "ADDED")) for note in NOTES)
    assert [h.split(" (")[0] for h in build["history"]] == \
        ["History 1", "History 2-4", "History 5", "History 6", "SHIPPED", "ADDED"]
    others = {name: r["scores"] for name, r in results.items()}
    for name, r in results.items():
        card = (DEFAULT_OUT / name / "README.md").read_text()
        assert card == model_card(Size(**r["size"]), r["params"], r["train"], r["scores"], others,
                                  build)
        assert all(f"- {entry}" in card.split("## Build history")[1] for entry in build["history"])


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
    for key in FAMILY:
        saved = json.loads((_shipped(FAMILY[key].name) / "scores.json").read_text())
        assert saved["split"] == "test" and saved["training_tokens"] > 0
        for task in ("facts", "arith", "complete", "write"):
            assert saved["scores"][task]["n"] >= 300
            assert 0.0 <= saved["scores"][task]["score"] <= 1.0


@pytest.mark.parametrize("key", list(FAMILY))
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


def test_members_trained_in_another_run_join_the_family(tmp_path):
    """`add_members` adopts a second run's members (same seed, world, tokens) and rewrites every
    card; a run on another seed is refused (its tokens differ)."""
    from pkt_core.experiments.zoo import add_members

    family, extra, other = tmp_path / "family", tmp_path / "extra", tmp_path / "other"
    build_zoo(family, micro=True, progress=False, sizes=("student", "teacher"))
    build_zoo(extra, micro=True, progress=False, sizes=("sibling",))
    summary = add_members(extra, family)
    assert set(summary["models"]) == {"pkt-micro-student", "pkt-micro-teacher", "pkt-micro-sibling"}
    saved = json.loads((family / "build_results.json").read_text())
    card = (family / "pkt-micro-student" / "README.md").read_text()
    assert "pkt-micro-sibling" in card and set(saved["results"]) == set(summary["models"])
    assert "another random start" in (family / "pkt-micro-sibling" / "README.md").read_text()
    build_zoo(other, micro=True, progress=False, sizes=("middle",), seed=1)
    with pytest.raises(ValueError, match="differ"):
        add_members(other, family)
