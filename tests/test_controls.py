"""Controls and effect measures: a shuffled teacher keeps no matrix as it was; changed outputs and
flips agree with the per-item logs; intervals cover a known true effect."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pkt_core.effects import output_effects
from pkt_core.models import inspect_model, load_model, resolve_ref
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
