"""Layer attribution across models: teacher vs student layer-score curves on a common
relative-depth axis (`compare_layer_attribution`), and how stable the located neurons are between
two examples (`locate_stability`) — docs/SCIENCE.md §6.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..locate import LocateResult
from .common import nan_to_none
from .parametric import select_layers


def relative_depth(n_layers: int) -> np.ndarray:
    """Layer centres on [0, 1]: (layer + 0.5) / L, so models of different depths share an axis."""
    return (np.arange(n_layers) + 0.5) / n_layers


def _ranks(a: np.ndarray) -> np.ndarray:
    """Ranks with ties sharing their average rank (as Spearman's ρ needs)."""
    ranks = np.empty(len(a))
    ranks[np.argsort(a, kind="stable")] = np.arange(len(a))
    _, inverse = np.unique(a, return_inverse=True)
    return (np.bincount(inverse, ranks) / np.bincount(inverse))[inverse]


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2:
        return float("nan")
    ra, rb = _ranks(a), _ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


@dataclass(frozen=True)
class LayerPair:
    """One layer of LaTen's mapping: teacher layer → student layer, with their relative depths."""
    teacher_layer: int
    student_layer: int
    teacher_depth: float
    student_depth: float


@dataclass(frozen=True)
class LayerComparison:
    """Teacher vs student layer scores of one kind on the relative-depth axis (see
    `compare_layer_attribution`); `as_dict()` is the JSON form."""
    kind: str  # 'ffn' | 'attn'
    teacher_depth: list[float]  # [L_T] relative depth of each teacher layer
    teacher_scores: list[float]  # [L_T]
    student_depth: list[float]  # [L_S]
    student_scores: list[float]  # [L_S]
    # [L_S] the teacher's curve interpolated at the student's depths
    teacher_at_student_depth: list[float]
    profile_spearman: float | None  # None when undefined (a constant curve, or a single layer)
    top_k: int
    top_overlap: float  # share of the student's top-k layers among the interpolated teacher's top-k
    # LaTen's mapping, one per student layer (fewer if the teacher is shallower)
    pairs: list[LayerPair]
    mean_depth_shift: float  # mean |teacher depth − student depth| over `pairs`

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StabilityResult:
    """How many top-k neurons per layer two locate results share (see `locate_stability`)."""
    kind: str  # 'ffn' | 'attn'
    k: int  # neurons compared per layer
    width: int  # neurons per layer
    per_layer: list[float]  # [L] shared fraction of the top k, per layer
    mean: float  # mean of per_layer
    chance: float  # k / width: the expected overlap of two random picks

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _located(result: Any, name: str) -> LocateResult:
    if not isinstance(result, LocateResult):
        raise TypeError(f"{name} must be a LocateResult, got {type(result).__name__} "
                        "(a to_json()/to_state() dict reads back with LocateResult.from_json)")
    return result


def compare_layer_attribution(teacher: LocateResult, student: LocateResult, kind: str = "ffn",
                              top_k: int | None = None) -> LayerComparison:
    """Teacher vs student layer scores of two locate results on the relative-depth axis.

    - `profile_spearman`: rank correlation between the student's layer scores and the teacher's
      curve linearly interpolated at the student's relative depths (does the task live at the
      same depth?);
    - `top_overlap`: the fraction of the student's top-k layers that are also among the top-k of
      that interpolated teacher curve (k = `top_k`, default max(1, L_S // 4));
    - `pairs` / `mean_depth_shift`: LaTen's mapping (top L_S teacher layers by score, depth order,
      i-th → student layer i) and how far, in relative depth, it moves layers on average.
    Neuron positions are not compared across models: index j means nothing across widths — see
    `locate_stability` for the neuron-level question that is well posed.
    """
    t = np.asarray(_located(teacher, "teacher").layer_scores(kind), dtype=float)
    s = np.asarray(_located(student, "student").layer_scores(kind), dtype=float)
    t_depth, s_depth = relative_depth(len(t)), relative_depth(len(s))
    t_at_s = np.interp(s_depth, t_depth, t)
    k = min(top_k or max(1, len(s) // 4), len(s))
    top_s, top_t = set(select_layers(s.tolist(), k)), set(select_layers(t_at_s.tolist(), k))
    chosen = select_layers(t.tolist(), min(len(s), len(t)))
    pairs = [LayerPair(tl, i, float(t_depth[tl]), float(s_depth[i])) for i, tl in enumerate(chosen)]
    return LayerComparison(
        kind, t_depth.tolist(), t.tolist(), s_depth.tolist(), s.tolist(), t_at_s.tolist(),
        nan_to_none(_spearman(t_at_s, s)), k, len(top_s & top_t) / k, pairs,
        float(np.mean([abs(p.teacher_depth - p.student_depth) for p in pairs])))


def locate_stability(result_a: LocateResult, result_b: LocateResult, kind: str = "ffn",
                     rate: float = 0.1, k: int | None = None) -> StabilityResult:
    """How many of one model's top-k neurons per layer two locate results (e.g. two examples) share.

    LaTen re-locates with every example, so this is the stability of what it transfers. k defaults
    to ⌊rate·width⌋ (LaTen's transfer rate); `chance` is the overlap two random picks would give.
    Ranking is on raw scores with ties broken by index, as LaTen's ranking here does.
    """
    a = np.asarray(_located(result_a, "result_a").neuron_scores(kind), dtype=float)
    b = np.asarray(_located(result_b, "result_b").neuron_scores(kind), dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"the two locate results differ in shape: {a.shape} vs {b.shape}")
    width = a.shape[1]
    k = min(k or max(1, int(rate * width)), width)
    top_a = np.argsort(-a, axis=1, kind="stable")[:, :k]
    top_b = np.argsort(-b, axis=1, kind="stable")[:, :k]
    per_layer = [len(set(x.tolist()) & set(y.tolist())) / k for x, y in zip(top_a, top_b)]
    return StabilityResult(kind, k, width, per_layer, float(np.mean(per_layer)), k / width)
