"""The incompatibility curve: how a student's score moves with the size of a LaTen update, from
the real teacher and from its shuffled control (`shuffled:REF`).

If the teacher's parameters carry knowledge the student can use, the teacher's series should sit
above the control's at the same update size: each teacher point carries `vs_shuffled`, the paired
interval of (teacher's result − control's result) over the same items and seeds. If both fall alike as the update grows, what the
update does is noise of that size — neural incompatibility, measured. Each point is one
hypernetwork learning rate, run over several seeds; x is the measured relative update
‖ΔW‖/‖W‖ (mean over the moved modules), y the score change against the untouched student with a
95 % interval paired over test items and seeds.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .models.controls import PREFIX as CONTROL_PREFIX
from .models.provider import MODELS
from .stats import METHOD, paired_change_ci
from .tasks import get_task
from .transfer import TransferRequest, run_transfer, score_on_test

Progress = Callable[[int, int, str], None]
LR_RANGE = (3e-4, 3e-2)  # the research's lr up to where the update is as large as the weights


def curve_lrs(points: int) -> list[float]:
    """`points` learning rates, evenly spaced on a log axis over LR_RANGE."""
    if points < 2:
        raise ValueError("the curve needs at least 2 points")
    return [float(x) for x in np.geomspace(*LR_RANGE, points)]


# Seeking's update comes from fine-tuning (its init leaves the student's function unchanged:
# W − BA + BA), so its honest size knob is the fine-tuning budget: epochs over the train split.
EPOCH_RANGE = (0.1, 3.0)


def curve_epochs(points: int) -> list[float]:
    return [float(x) for x in np.geomspace(*EPOCH_RANGE, points)]


def run_seeds(paradigm: str, settings: dict[str, Any], teacher: str, student: str, task: str,
              seeds: Sequence[int], base: dict, eval_limit: int, preset: str, out: Path,
              say: Callable[[str], None] = lambda message: None,
              cancelled: Callable[[], bool] | None = None) -> dict[str, Any]:
    """One setting over several seeds against the same `base` (score_on_test of the untouched
    student): the score change with its paired interval, the mean relative update and the share
    of changed answers. `items` (per seed, per item, right or not) is kept for pairing."""
    scores, updates, changed, after = [], [], [], []
    label = ", ".join(f"{k} {v:.2g}" if isinstance(v, float) else f"{k} {v}" for k, v in settings.items())
    for seed in seeds:
        say(f"{paradigm} from {teacher}: {label}, seed {seed}")
        name = "-".join(f"{k}{v:g}" for k, v in settings.items())
        result = run_transfer(TransferRequest(
            paradigm=paradigm, teacher=teacher, student=student, task=task, settings=settings,
            preset=preset, seed=seed, eval_limit=eval_limit,
            out=str(out / f"{paradigm}-{abs(hash(teacher))}-{name}-{seed}")),
            cancelled=cancelled, base_metrics=base)
        effects = result.metrics["effects"]
        rel = [u["relative"] for u in effects["relative_update"].values()]
        updates.append(float(np.mean(rel)) if rel else 0.0)
        changed.append(effects["changed_outputs"])
        scores.append(result.metrics["result"]["score"])
        after.append([float(i["correct"]) for i in result.metrics["result"]["items"]])
    ci = paired_change_ci([float(i["correct"]) for i in base["items"]], after)
    return {**settings, "relative_update": float(np.mean(updates)), "change": ci.change,
            "ci95": ci.as_list(), "changed_outputs": float(np.mean(changed)), "scores": scores,
            "items": after}


def incompatibility_curve(teacher: str, student: str, task: str = "facts", points: int = 5,
                          seeds: int = 3, eval_limit: int = 150, preset: str = "lab",
                          with_seeking: bool = False, progress: Progress | None = None,
                          cancelled: Callable[[], bool] | None = None) -> dict[str, Any]:
    """LaTen at `points` update sizes × `seeds`, from the teacher and from its shuffled control;
    with `with_seeking`, Seeking too (its fine-tuning epochs varied, the research's settings)."""
    if seeds < 1 or eval_limit < 1:
        raise ValueError("the curve needs at least one seed and one test item")
    started = time.perf_counter()
    lrs = curve_lrs(points)
    runs = [("teacher", "laten", "lr", lrs, teacher, preset),
            ("shuffled", "laten", "lr", lrs, f"{CONTROL_PREFIX}{teacher}", preset)]
    if with_seeking:
        epochs = curve_epochs(points)
        runs += [("seeking", "seeking", "epochs", epochs, teacher, "research"),
                 ("seeking_shuffled", "seeking", "epochs", epochs, f"{CONTROL_PREFIX}{teacher}",
                  "research")]
    total, done = sum(len(r[3]) for r in runs) * seeds, [0]

    def say(message: str) -> None:
        if progress:
            progress(done[0], total, message)
        done[0] += 1

    loaded = MODELS.get(student)
    base = score_on_test(loaded.model, loaded.tokenizer, get_task(task), eval_limit, name=student)
    series: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="pkt-curve-") as tmp:
        for name, paradigm, knob, values, ref, start in runs:
            series[name] = [run_seeds(paradigm, {knob: v}, ref, student, task, range(seeds), base,
                                      eval_limit, start, Path(tmp), say, cancelled) for v in values]
    for real, control in (("teacher", "shuffled"), ("seeking", "seeking_shuffled")):
        for r, c in zip(series.get(real, []), series.get(control, [])):
            # the teacher against its control on the same items and seeds: the test that matters
            ci = paired_change_ci(c.pop("items"), r.pop("items"))
            r["vs_shuffled"] = {"change": ci.change, "ci95": ci.as_list()}
    return {"teacher": teacher, "student": student, "task": task, "preset": preset,
            "seeds": list(range(seeds)), "eval_limit": eval_limit, "base_score": base["score"],
            "varied": "LaTen's hypernetwork learning rate; Seeking's fine-tuning epochs (log-spaced)",
            "interval": METHOD,
            "series": series, "seconds": round(time.perf_counter() - started, 1)}
