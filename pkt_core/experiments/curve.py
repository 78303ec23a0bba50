"""The incompatibility curve: how a student's score moves with the size of a transfer's update,
from the real teacher and from its shuffled control (`shuffled:REF`).

If the teacher's parameters carry knowledge the student can use, the teacher's series should sit
above the control's at the same update size: each teacher point carries `vs_shuffled`, the paired
interval of (teacher's result − control's result) over the same items and seeds. If both fall
alike as the update grows, what the update does is noise of that size — neural incompatibility,
measured. Each paradigm on the curve declares its size knob (`Paradigm.curve_knob`: the setting
varied and its range); each point is one value of it, run over several seeds; x is the measured
relative update ‖ΔW‖/‖W‖ (mean over the moved modules), y the score change against the untouched
student with a 95 % interval paired over test items and seeds. Series are named `NAME` (from the
teacher) and `NAME@shuffled` (from its control), as the rows of `reproduce` are.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..models.controls import PREFIX as CONTROL_PREFIX
from ..models.provider import MODELS
from ..paradigms import curve_paradigms, get_paradigm
from ..stats import METHOD, paired_change_ci
from ..tasks import get_task
from ..transfer import TransferRequest, run_transfer, score_on_test

Progress = Callable[[int, int, str], None]
CONTROL_SUFFIX = "@shuffled"  # a series from the shuffled teacher, as reproduce names its rows


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


def curve_plan(paradigms: Sequence[str] | None, points: int) -> dict[str, dict[str, Any]]:
    """Each paradigm on the curve → its knob's setting, values, meaning, preset and title. None:
    the paradigms that declare `curve_default`. A paradigm without a knob is refused."""
    names = list(paradigms) if paradigms is not None else curve_paradigms(default_only=True)
    if not names:
        raise ValueError("the curve needs at least one paradigm")
    plan = {}
    for name in names:
        spec = get_paradigm(name)
        if spec.curve_knob is None:
            raise ValueError(f"{spec.title} has no curve knob; the curve can vary "
                             f"{', '.join(curve_paradigms())}")
        knob = spec.curve_knob
        plan[name] = {"title": spec.title, "setting": knob.setting, "meaning": knob.meaning,
                      "values": knob.values(points), "preset": knob.preset}
    return plan


def incompatibility_curve(teacher: str, student: str, task: str = "facts", points: int = 5,
                          seeds: int = 3, eval_limit: int = 150, preset: str = "lab",
                          paradigms: Sequence[str] | None = None,
                          progress: Progress | None = None,
                          cancelled: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Each paradigm (default: those declaring `curve_default`) at `points` values of its knob ×
    `seeds`, from the teacher and from its shuffled control. `preset` starts every setting but the
    knob, unless the knob names its own preset."""
    if seeds < 1 or eval_limit < 1:
        raise ValueError("the curve needs at least one seed and one test item")
    started = time.perf_counter()
    plan = curve_plan(paradigms, points)
    total, done = 2 * sum(len(p["values"]) for p in plan.values()) * seeds, [0]

    def say(message: str) -> None:
        if progress:
            progress(done[0], total, message)
        done[0] += 1

    loaded = MODELS.get(student)
    base = score_on_test(loaded.model, loaded.tokenizer, get_task(task), eval_limit, name=student)
    series: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="pkt-curve-") as tmp:
        for name, knob in plan.items():
            for key, ref in ((name, teacher), (name + CONTROL_SUFFIX, CONTROL_PREFIX + teacher)):
                series[key] = [run_seeds(name, {knob["setting"]: v}, ref, student, task,
                                         range(seeds), base, eval_limit,
                                         knob["preset"] or preset, Path(tmp), say, cancelled)
                               for v in knob["values"]]
    for name in plan:
        for real, control in zip(series[name], series[name + CONTROL_SUFFIX]):
            # the teacher against its control on the same items and seeds: the test that matters
            ci = paired_change_ci(control.pop("items"), real.pop("items"))
            real["vs_shuffled"] = {"change": ci.change, "ci95": ci.as_list()}
    return {"teacher": teacher, "student": student, "task": task, "preset": preset,
            "seeds": list(range(seeds)), "eval_limit": eval_limit, "base_score": base["score"],
            "paradigms": {name: {k: v for k, v in knob.items() if k != "values"}
                          for name, knob in plan.items()},
            "interval": METHOD,
            "series": series, "seconds": round(time.perf_counter() - started, 1)}
