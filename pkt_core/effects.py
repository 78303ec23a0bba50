"""What a transfer did to the student, beyond its score: which answers changed, which flipped,
how far the right option's likelihood moved, how large the weight update was, and the interval
of the score change. Computed from the per-item logs of the before/after evaluations and from the
student's weights on disk, so it needs no second copy of the model in memory.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from .models import LoadedModel, block_part
from .models.architectures import PROJECTIONS
from .models.loading import local_path
from .stats import METHOD, paired_change_ci


def _answer(item: dict[str, Any]) -> Any:
    """What an item's score rests on: the chosen option for multiple choice, else the output."""
    return item["chosen"] if "chosen" in item else item["output"]


def output_effects(before: Sequence[dict[str, Any]], after: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """changed_outputs, flips and (multiple choice) the mean change in the right option's
    log-likelihood, from two per-item logs of the same test items in the same order."""
    if [i["id"] for i in before] != [i["id"] for i in after]:
        raise ValueError("the before/after logs hold different test items")
    n = len(before)
    changed = sum(_answer(b) != _answer(a) for b, a in zip(before, after))
    flips = {"wrong_to_right": sum(not b["correct"] and a["correct"] for b, a in zip(before, after)),
             "right_to_wrong": sum(b["correct"] and not a["correct"] for b, a in zip(before, after))}
    out: dict[str, Any] = {"n": n, "changed_outputs": changed / n if n else 0.0, "flips": flips}
    if n and all("option_logprobs" in i and "correct_option" in i for i in (*before, *after)):
        moves = [a["option_logprobs"][a["correct_option"]] - b["option_logprobs"][b["correct_option"]]
                 for b, a in zip(before, after)]
        out["right_option_logprob_change"] = sum(moves) / n
    interval = paired_change_ci([float(i["correct"]) for i in before],
                                [float(i["correct"]) for i in after])
    out["change_ci95"] = interval.as_list()
    out["interval_method"] = METHOD
    return out


@torch.no_grad()
def relative_update(student: LoadedModel, model: torch.nn.Module) -> dict[str, dict[str, float]]:
    """Per module type: ‖W_after − W_before‖_F / ‖W_before‖_F over the layers that changed, with
    W_before read tensor by tensor from the student's files (no second copy in memory)."""
    from safetensors import safe_open

    if student.ref.shuffled:
        return {}  # a control student has no file of its own weights to compare with
    files = sorted(Path(local_path(student.ref)).glob("*.safetensors"))
    where = {}
    for file in files:
        with safe_open(str(file), framework="pt") as handle:
            where.update({key: file for key in handle.keys()})
    spec, sums = student.spec, {}
    for module in PROJECTIONS:
        delta2 = base2 = 0.0
        changed = 0
        for layer in range(student.shape.n_layers):
            key = f"{spec.layers}.{layer}.{spec.block_module(module)}.weight"
            if key not in where:
                continue
            with safe_open(str(where[key]), framework="pt") as handle:
                before = handle.get_tensor(key).float()
            after = block_part(model, spec, layer, module).weight.detach().float().cpu()
            d2 = float((after - before).pow(2).sum())
            if d2 > 0:
                delta2, base2, changed = delta2 + d2, base2 + float(before.pow(2).sum()), changed + 1
        if changed:
            sums[module] = {"relative": (delta2 / base2) ** 0.5 if base2 else float("inf"),
                            "layers_changed": changed}
    return sums
