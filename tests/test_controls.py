"""Controls and effect measures: a shuffled teacher keeps no matrix as it was; changed outputs and
flips agree with the per-item logs; intervals cover a known true effect."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pkt_core.effects import output_effects
from pkt_core.models import inspect_model, load_model
from pkt_core.models.provider import ModelProvider
from pkt_core.stats import paired_change_ci


def test_a_shuffled_control_permutes_every_matrix_and_keeps_its_statistics(tiny_models):
    ref = str(tiny_models["llama_deep"])
    real, control = load_model(ref), load_model(f"shuffled:{ref}")
    assert control.ref.shuffled and control.ref.text == f"shuffled:{ref}"
    real_params = dict(real.model.named_parameters())
    for name, p in control.model.named_parameters():
        q = real_params[name]
        assert p.shape == q.shape, name
        if p.ndim >= 2:
            assert not torch.equal(p, q), f"{name} was left as it was"
            assert torch.equal(p.flatten().sort().values, q.flatten().sort().values), name
        else:
            assert torch.equal(p, q), name  # norms' gains are not matrices: kept
    again = load_model(f"shuffled:{ref}")  # one fixed control per model
    assert all(torch.equal(a, b) for a, b in zip(again.model.parameters(), control.model.parameters()))
    assert inspect_model(f"shuffled:{ref}") == inspect_model(ref)
    models = ModelProvider()
    assert models.get(ref) is not models.get(f"shuffled:{ref}") and models.loads == 2


def _item(i, chosen, correct_option, logprobs):
    return {"id": f"t{i}", "output": "ABCD"[chosen], "chosen": chosen, "correct_option": correct_option,
            "correct": chosen == correct_option, "option_logprobs": logprobs}


def test_changed_outputs_and_flips_follow_the_per_item_logs():
    before = [_item(0, 0, 0, [-1, -2]), _item(1, 1, 0, [-3, -1]), _item(2, 1, 1, [-2, -1]),
              _item(3, 0, 1, [-1, -4])]
    after = [_item(0, 0, 0, [-1, -2]), _item(1, 0, 0, [-1, -3]), _item(2, 0, 1, [-1, -2]),
             _item(3, 0, 1, [-1, -5])]
    effects = output_effects(before, after)
    assert effects["changed_outputs"] == 0.5  # items 1 and 2 chose another option
    assert effects["flips"] == {"wrong_to_right": 1, "right_to_wrong": 1}
    assert effects["right_option_logprob_change"] == pytest.approx((0 + 2 - 1 - 1) / 4)
    lo, hi = effects["change_ci95"]
    assert lo <= 0 <= hi
    with pytest.raises(ValueError, match="different test items"):
        output_effects(before, after[::-1])


def test_a_transfer_reports_effects_that_match_its_own_item_logs(tiny_models, tmp_path):
    from pkt_core.transfer import TransferRequest, run_transfer

    result = run_transfer(TransferRequest(
        paradigm="laten", teacher=str(tiny_models["llama_deep"]), student=str(tiny_models["llama"]),
        task="facts", settings={"steps": 2, "lr": 0.05, "init_std": 0.05, "transfer_rate": 0.5},
        out=str(tmp_path / "run"), eval_limit=8), models=ModelProvider())
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    base, after = metrics["base"]["items"], metrics["result"]["items"]
    effects = metrics["effects"]
    changed = sum(b["chosen"] != a["chosen"] for b, a in zip(base, after)) / len(base)
    assert effects["changed_outputs"] == changed
    assert effects["flips"]["wrong_to_right"] == sum(not b["correct"] and a["correct"]
                                                     for b, a in zip(base, after))
    assert effects["flips"]["right_to_wrong"] == sum(b["correct"] and not a["correct"]
                                                     for b, a in zip(base, after))
    # LaTen moves up/down/v/o rows and columns and nothing else
    assert set(effects["relative_update"]) == {"up_proj", "down_proj", "v_proj", "o_proj"}
    assert all(0 < u["relative"] < 10 for u in effects["relative_update"].values())
    assert result.metrics["effects"] == effects


def test_the_interval_covers_a_known_true_effect():
    rng = np.random.default_rng(1)
    true_change, n, covered = 0.1, 200, 0
    for rep in range(120):
        before = (rng.random(n) < 0.5).astype(float)
        after = (rng.random((3, n)) < 0.5 + true_change).astype(float)
        ci = paired_change_ci(before, after, n_boot=1000, seed=rep)
        covered += ci.lo <= true_change <= ci.hi
    assert covered / 120 >= 0.88  # nominal 95 %
    strong = paired_change_ci(np.zeros(300), np.ones((2, 300)) * (rng.random((2, 300)) < 0.3))
    assert strong.excludes_zero and strong.lo > 0.2
    null = paired_change_ci(np.ones(50), np.ones(50))
    assert (null.change, null.lo, null.hi) == (0.0, 0.0, 0.0) and not null.excludes_zero


def test_intervals_refuse_unpaired_data():
    with pytest.raises(ValueError, match="pair them"):
        paired_change_ci([1, 0, 1], [[1, 0]])
    with pytest.raises(ValueError, match="seed by seed"):
        paired_change_ci([[1, 0], [0, 1]], [[1, 0], [1, 1], [0, 0]])
    two = paired_change_ci([[0, 0], [0, 0]], [[1, 1], [1, 1]])  # two transfers, seed by seed
    assert (two.change, two.n_seeds) == (1.0, 2)


def test_presets_start_from_named_defaults_and_are_recorded(tiny_models, tmp_path):
    from pkt_core.paradigms import TransferError, get_paradigm
    from pkt_core.transfer import TransferRequest, prepare

    request = dict(paradigm="laten", teacher=str(tiny_models["llama_deep"]),
                   student=str(tiny_models["llama"]), task="facts", eval_limit=2)
    lab_preset = get_paradigm("laten").presets["lab"]
    prepared = prepare(TransferRequest(**request, preset="lab", settings={"steps": 2}))
    assert prepared.config.lr == lab_preset["lr"] and prepared.config.init_std == lab_preset["init_std"]
    assert prepared.config.steps == 2  # a setting given overrides the preset
    research = prepare(TransferRequest(**request)).config
    assert research.lr == 3e-4 and research.init_std == 1e-5  # the published launch script's
    with pytest.raises(TransferError, match="no preset 'huge'"):
        prepare(TransferRequest(**request, preset="huge"))
    with pytest.raises(TransferError, match="no preset 'lab'"):
        prepare(TransferRequest(**{**request, "paradigm": "lora"}, preset="lab"))


def test_reproduce_pairs_each_transfer_with_its_shuffled_control_and_an_interval(tiny_models,
                                                                                tmp_path):
    from pkt_core.experiments.reproduce import markdown_table, reproduce

    table = reproduce(str(tiny_models["llama_deep"]), str(tiny_models["llama"]), ["facts"], [0, 1],
                      tmp_path / "out", paradigms=["laten-lab", "laten-lab@shuffled"], eval_limit=6,
                      settings={"laten": {"steps": 2}})
    assert list(table["rows"]) == ["student", "teacher", "laten-lab", "laten-lab@shuffled"]
    for row in ("laten-lab", "laten-lab@shuffled"):
        cell = table["rows"][row]["facts"]
        assert len(cell["values"]) == 2 and len(cell["change_ci95"]) == 2
        assert cell["change_ci95"][0] <= cell["change"] <= cell["change_ci95"][1]
    assert "change_ci95" not in table["rows"]["student"]["facts"]
    controls = [r for r in table["runs"] if r["row"] == "laten-lab@shuffled"]
    config = json.loads((tmp_path / "out" / controls[0]["run_dir"] / "config.json").read_text())
    assert config["teacher"].startswith("shuffled:") and config["preset"] == "lab"
    text = markdown_table(table)
    assert "lab preset · from the shuffled teacher" in text and "95 % interval" in text


def test_the_curve_runs_from_the_teacher_and_its_control(tiny_models):
    from pkt_core.experiments.curve import incompatibility_curve
    from pkt_core.figures import incompatibility_curve_figure

    curve = incompatibility_curve(str(tiny_models["llama_deep"]), str(tiny_models["llama"]),
                                  "facts", points=2, seeds=1, eval_limit=4,
                                  paradigms=["laten", "seeking"])
    assert set(curve["series"]) == {"laten", "laten@shuffled", "seeking", "seeking@shuffled"}
    assert [p["epochs"] for p in curve["series"]["seeking"]] == [0.1, 3.0]
    assert curve["paradigms"]["laten"]["setting"] == "lr"
    for real in curve["series"]["laten"] + curve["series"]["seeking"]:
        lo, hi = real["vs_shuffled"]["ci95"]
        assert lo <= real["vs_shuffled"]["change"] <= hi
    for points in curve["series"].values():
        knob = "lr" if "lr" in points[0] else "epochs"
        assert len(points) == 2 and points[0][knob] < points[1][knob]
        assert all("items" not in p for p in points)  # per-item data stays out of the JSON
        for p in points:
            assert {"relative_update", "change", "ci95"} <= set(p) and p["relative_update"] > 0
            assert p["ci95"][0] <= p["change"] <= p["ci95"][1]
    fig = incompatibility_curve_figure(curve)
    assert len(fig.data) == 4 and fig.layout.xaxis.type == "log"


def test_compares_default_example_separates_the_shipped_pair():
    """The first prompt on the Compare tab is one where the shipped teacher is right by likelihood
    and the shipped student wrong (so a visitor sees a difference at once)."""
    from pkt_core import lab

    slots = lab.lineup("pkt-tiny-student", {}, "pkt-tiny-teacher", True)
    notes = lab.likelihood_view(slots, lab.default_prompt()).likelihood_notes
    rows = {line.split("|")[1].strip(): line.split("|")[3].strip()
            for line in notes.splitlines() if line.startswith("| ") and "pick" not in line}
    assert rows == {"base student": "✗", "teacher": "✓"}


def test_the_curve_job_reports_progress_and_can_be_cancelled(tiny_models):
    from pkt_core import lab

    teacher, student = str(tiny_models["llama_deep"]), str(tiny_models["llama"])
    job = lab.start_curve(teacher, student, "facts", points=2, seeds=1, eval_limit=10, session="c1")
    views = list(lab.curve_views(job, every=0.05))
    assert isinstance(views[-1], lab.CurveView) and "shuffled control" in views[-1].curve_notes
    lab.JOBS.remove("c1", job)
    job = lab.start_curve(teacher, student, "facts", points=2, seeds=1, eval_limit=10, session="c2")
    with pytest.raises(lab.LabError, match="a job is already running"):
        lab.start_curve(teacher, student, "facts", session="c2")
    assert lab.JOBS.cancel("c2")
    with pytest.raises(lab.LabError, match="(?i)cancelled"):
        list(lab.curve_views(job, every=0.05))
    lab.JOBS.remove("c2", job)
    with pytest.raises(lab.LabError, match="between 2 and 8"):
        lab.start_curve(teacher, student, "facts", points=50)
