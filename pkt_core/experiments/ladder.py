"""The scale ladder: is neural incompatibility about scale, or about separate training?

The research compares one pair (Llama-2 13B → 7B), so it cannot tell whether incompatibility grows
with the scale gap, nor whether two independently trained models of the *same* size are as
incompatible. The embedded family can: every member is trained on the same tokens in the same
order, and `pkt-tiny-sibling` has the student's exact shape with another initialisation seed.

For every pair of members (larger → smaller, plus sibling → student) `build_ladder` measures:
    param_ratio   teacher parameters / student parameters (1.0 for the sibling pair)
    cka, cosine   mean linear CKA and signed cosine per module (up/down/v/o) over every
                  student-layer × teacher-layer cell, on the task's test texts
    parametric    mean cos(BA, W) of a Seeking-style rank-r piece of the teacher with the
                  student's own W, per module (≈ 0: the piece shares nothing with the student)
    locate        agreement of the two models' logit-lens layer profiles over a few examples
                  (Spearman on relative depth; share of top layers in common), per FFN/attention
    transfer      score changes with their 95 % intervals where a shipped results file has
                  this pair (assets/results/RESULTS.json); empty otherwise
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..infra import paths
from ..analyse import (REPR_MODULES, compare_layer_attribution, parametric_similarity,
                      representation_similarity)
from ..locate import LocateConfig, locate
from ..models import embedded_models, embedded_role
from ..models.provider import MODELS
from ..paradigms import get_paradigm, paradigm_names
from .reproduce import Row, row_title
from ..tasks import get_task, render_chat


def transfer_rows() -> dict[str, str]:
    """Rows of the shipped results quoted per pair → their titles: each paradigm that declares a
    `ladder_preset`, then its shuffled-teacher control."""
    rows = [Row(name, get_paradigm(name).ladder_preset) for name in paradigm_names()
            if get_paradigm(name).ladder_preset is not None]
    rows += [Row(r.paradigm, r.preset, True) for r in rows]
    return {r.name: row_title(r.name) for r in rows}


@dataclass
class LadderPair:
    teacher: str
    student: str
    teacher_params: int
    student_params: int
    param_ratio: float
    same_size: bool
    cka: dict[str, float]
    cosine: dict[str, float]
    parametric: dict[str, float]
    locate: dict[str, dict[str, float | None]]
    transfer: dict[str, Any] = field(default_factory=dict)


def family() -> list[tuple[str, int]]:
    """The embedded members with their parameter counts, largest first."""
    sizes = [(name, MODELS.shape(name).n_params or 0) for name in embedded_models()]
    return sorted(sizes, key=lambda item: -item[1])


def ladder_pairs(members: list[tuple[str, int]]) -> list[tuple[str, str]]:
    """Every larger → smaller pair, plus sibling → student (the same size, separately trained)."""
    pairs = [(a, b) for a, pa in members for b, pb in members if pa > pb]
    roles = {embedded_role(name): name for name, _ in members}
    if "sibling" in roles and "student" in roles:
        pairs.append((roles["sibling"], roles["student"]))
    return pairs


def _located(ref: str, examples: list[tuple[str, str]], cache: dict[str, list[Any]]) -> list[Any]:
    """One model's locate results on the examples, computed once per ladder (each member is in
    several pairs)."""
    if ref not in cache:
        loaded = MODELS.get(ref)
        cache[ref] = [locate(loaded.model, loaded.tokenizer, loaded.spec, [ex], LocateConfig())
                      for ex in examples]
    return cache[ref]


def _locate_agreement(teacher: str, student: str, examples: list[tuple[str, str]],
                      cache: dict[str, list[Any]]) -> dict[str, dict[str, float | None]]:
    """Mean layer-profile agreement of the two models over `examples` (as the Locate tab runs)."""
    pairs = list(zip(_located(teacher, examples, cache), _located(student, examples, cache)))
    out: dict[str, dict[str, float | None]] = {}
    for kind in ("ffn", "attn"):
        comparisons = [compare_layer_attribution(t, s, kind) for t, s in pairs]
        rho = [c.profile_spearman for c in comparisons if c.profile_spearman is not None]
        out[kind] = {"spearman": round(float(np.mean(rho)), 4) if rho else None,
                     "top_overlap": round(float(np.mean([c.top_overlap for c in comparisons])), 4)}
    return out


def shipped_transfer(teacher: str, student: str,
                     results_dir: Path | None = None) -> dict[str, Any]:
    """The pair's score changes and 95 % intervals per task from a shipped results file
    (`reproduce --json` output saved as assets/results/RESULTS*.json; `results_dir` defaults to
    `paths.results_dir()`), or {} when none has this pair."""
    folder = paths.results_dir() if results_dir is None else results_dir
    for path in sorted(folder.glob("RESULTS*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if (data.get("teacher"), data.get("student")) != (teacher, student):
            continue
        rows = data.get("rows", {})
        return {"source": paths.shown(path), "seeds": len(data.get("seeds", [])),
                "rows": {row: {task: {"change": cell["change"], "ci95": cell["change_ci95"]}
                               for task, cell in rows[row].items()}
                         for row in transfer_rows() if row in rows}}
    return {}


def measure_pair(teacher: str, student: str, texts: list[str], examples: list[tuple[str, str]],
                 params: dict[str, int], rank: int = 16,
                 located: dict[str, list[Any]] | None = None) -> LadderPair:
    t, s = MODELS.get(teacher), MODELS.get(student)
    means = {metric: representation_similarity(t, s, texts, metric=metric, max_tokens=768).mean
             for metric in ("cka", "cosine")}
    summary = parametric_similarity(t, s, rank=rank, modules=REPR_MODULES).summary()["teacher_piece"]
    return LadderPair(
        teacher, student, params[teacher], params[student],
        round(params[teacher] / params[student], 3), params[teacher] == params[student],
        {m: round(v, 4) for m, v in means["cka"].items()},
        {m: round(v, 4) for m, v in means["cosine"].items()},
        {m: round(v["vs_original"], 4) for m, v in summary.items()},
        _locate_agreement(teacher, student, examples, {} if located is None else located),
        shipped_transfer(teacher, student))


def build_ladder(task: str = "facts", n_texts: int = 24, n_examples: int = 4, rank: int = 16,
                 progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The ladder over the embedded family on one task, as a JSON-ready dict."""
    started = time.perf_counter()
    members = family()
    if len(members) < 2:
        raise ValueError("the ladder needs at least two embedded models (python -m pkt_core zoo build)")
    task_obj = get_task(task)
    texts = [task_obj.full_text(ex) for ex in task_obj.split("test")[:n_texts]]
    examples = [(render_chat(ex.prompt), ex.answer) for ex in task_obj.split("extract")[:n_examples]]
    params, located = dict(members), {}
    pairs = []
    for teacher, student in ladder_pairs(members):
        if progress:
            progress(f"{teacher} → {student}")
        pairs.append(asdict(measure_pair(teacher, student, texts, examples, params, rank, located)))
    return {"task": task, "n_texts": n_texts, "n_examples": n_examples, "rank": rank,
            "members": [{"name": n, "params": p, "role": embedded_role(n)} for n, p in members],
            "transfers": transfer_rows(),
            "pairs": pairs, "seconds": round(time.perf_counter() - started, 1)}


def shipped_ladder(task: str = "facts") -> dict[str, Any] | None:
    """The precomputed ladder shipped for the page (assets/ladder/TASK.json), if any."""
    try:
        return json.loads((paths.ladder_dir() / f"{task}.json").read_text())
    except (OSError, ValueError):
        return None
