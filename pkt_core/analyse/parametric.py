"""Parametric similarity and the pieces Seeking cuts from a teacher (docs/SCIENCE.md §4, §6).

Per student layer, the cosine between a LoRA product BA and the student's W and W − BA, for a
PiSSA init (the student's own top singular directions) and for a Seeking-style init taken from
the teacher. `subblock_lora_init` is Seeking's "teacher sub-block → SVD → LoRA B, A" step
itself: the Seeking paradigm (pkt_core.paradigms.seeking) and `parametric_similarity` both call
it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ..models.architectures import PROJECTIONS, ArchSpec, block_part, decoder_layers
from .common import ModelLike, nan_to_none, unpack_model

MEASURES = ("vs_original", "vs_remainder", "norm_ratio")


def svd_lora_init(weight: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """B = U_r Σ_r [out, r] and A = V_rᵀ [r, in] (docs/SCIENCE.md §4): BA is W's best rank-r
    part."""
    u, s, vh = torch.linalg.svd(weight.detach().float(), full_matrices=False)
    r = min(rank, s.numel())
    return u[:, :r] * s[:r], vh[:r]


def largest_subblock(score: torch.Tensor, rows: int, cols: int) -> tuple[int, int]:
    """Top-left corner (r0, c0) of the rows×cols block of `score` with the largest sum.

    A summed-area table gives every block's sum from four lookups, so the whole search is O(RC)
    and vectorised; float64 because neighbouring blocks of a large matrix differ by little.
    Ties go to the first block in row-major order.
    """
    n_rows, n_cols = score.shape
    if not (0 < rows <= n_rows and 0 < cols <= n_cols):
        raise ValueError(f"a {rows}×{cols} block does not fit in a {n_rows}×{n_cols} matrix")
    table = torch.zeros(n_rows + 1, n_cols + 1, dtype=torch.float64, device=score.device)
    table[1:, 1:] = score.detach().double().cumsum(0).cumsum(1)
    nr, nc = n_rows - rows + 1, n_cols - cols + 1
    sums = table[rows:, cols:] - table[:nr, cols:] - table[rows:, :nc] + table[:nr, :nc]
    r0, c0 = divmod(int(torch.argmax(sums)), nc)
    return r0, c0


@dataclass(frozen=True)
class SubblockLoRA:
    """One teacher matrix cut to a student matrix's shape, as LoRA factors: BA approximates the
    block teacher[row0:row0 + rows, col0:col0 + cols] at rank r."""
    row0: int
    col0: int
    lora_b: torch.Tensor  # [rows, r] = U_r Σ_r, fp32
    lora_a: torch.Tensor  # [r, cols] = V_rᵀ, fp32


def subblock_lora_init(teacher_weight: torch.Tensor, score: torch.Tensor | None,
                       shape: tuple[int, int], rank: int,
                       device: torch.device | str | None = None) -> SubblockLoRA | None:
    """Seeking's extraction of one matrix (docs/SCIENCE.md §4, steps 3–4): the `shape` block of
    `teacher_weight` with the largest summed `score` (default |W_T|), then its rank-`rank` SVD.

    The factors are fp32 on `device` (default: the teacher's). None when the teacher's matrix is
    smaller than `shape` in either dimension: there is no block to cut.
    """
    rows, cols = shape
    if teacher_weight.shape[0] < rows or teacher_weight.shape[1] < cols:
        return None
    with torch.no_grad():
        score = teacher_weight.float().abs() if score is None else score.to(teacher_weight.device)
        row0, col0 = largest_subblock(score, rows, cols)
        block = teacher_weight[row0:row0 + rows, col0:col0 + cols].float()
        b, a = svd_lora_init(block if device is None else block.to(device), rank)
    return SubblockLoRA(row0, col0, b, a)


def depth_layer_map(n_student: int, n_teacher: int) -> list[int]:
    """Student layer i → teacher layer round(i·(L_T−1)/(L_S−1)) (half up); one layer → the
    middle."""
    if n_student == 1:
        return [(n_teacher - 1) // 2]
    return [int(math.floor(i * (n_teacher - 1) / (n_student - 1) + 0.5)) for i in range(n_student)]


def select_layers(scores: Sequence[float], k: int) -> list[int]:
    """The k best-scoring layers (ties → lower index), in depth order — Seeking's and LaTen's
    rule."""
    return sorted(sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))[:k])


def _sensitivity_of(sens: Mapping[Any, torch.Tensor] | None, spec: ArchSpec, layer: int,
                    name: str) -> torch.Tensor | None:
    """Look up by (layer, 'up_proj') or by parameter name ('model.layers.3.mlp.up_proj.weight')."""
    if sens is None:
        return None
    if (layer, name) in sens:
        return sens[(layer, name)]
    return sens.get(f"{spec.layers}.{layer}.{spec.block_module(name)}.weight")


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double().flatten(), b.double().flatten()
    denom = float(a.norm() * b.norm())
    return float(a @ b) / denom if denom > 0 else float("nan")


@dataclass
class ParametricResult:
    rank: int
    modules: list[str]
    layer_map: list[int]  # student layer i ← teacher layer layer_map[i] (the Seeking-style init)
    layer_map_rule: str
    # method ('pissa' | 'seeking') → module → {'vs_original', 'vs_remainder', 'norm_ratio'} → per
    # student layer: cos(BA, W), cos(BA, W − BA) and ‖BA‖/‖W‖.
    curves: dict[str, dict[str, dict[str, list[float]]]]
    subblocks: dict[str, list[list[int] | None]]  # module → teacher (r0, c0) per student layer
    teacher: str = ""
    student: str = ""
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, dict[str, dict[str, float]]]:
        """Mean over student layers: method → module → measure → value."""
        return {meth: {m: {k: float(np.nanmean(np.array(v, dtype=float))) for k, v in c.items()}
                       for m, c in per.items()} for meth, per in self.curves.items()}

    def to_json(self) -> dict[str, Any]:
        return {"kind": "parametric_similarity", "rank": self.rank, "modules": list(self.modules),
                "layer_map": list(self.layer_map), "layer_map_rule": self.layer_map_rule,
                "curves": nan_to_none(self.curves), "summary": nan_to_none(self.summary()),
                "subblocks": self.subblocks, "teacher": self.teacher, "student": self.student,
                "notes": list(self.notes)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ParametricResult:
        curves = {meth: {m: {k: [float("nan") if x is None else x for x in v] for k, v in c.items()}
                         for m, c in per.items()} for meth, per in data["curves"].items()}
        return cls(int(data["rank"]), list(data["modules"]), list(data["layer_map"]),
                   data["layer_map_rule"], curves, dict(data["subblocks"]),
                   data.get("teacher", ""), data.get("student", ""), list(data.get("notes", [])))


def _teacher_layers(n_student: int, n_teacher: int, t_spec: ArchSpec, modules: Sequence[str],
                    layer_map: Sequence[int] | None,
                    sensitivity: Mapping[Any, torch.Tensor] | None) -> tuple[list[int], str]:
    """The teacher layer of each student layer and the rule that chose it (see
    `parametric_similarity`)."""
    if layer_map is not None:
        chosen, rule = layer_map, "given"
    elif sensitivity is not None:
        scores = [sum(float(t.sum()) for name in modules
                      if (t := _sensitivity_of(sensitivity, t_spec, layer, name)) is not None)
                  for layer in range(n_teacher)]
        chosen, rule = select_layers(scores, n_student), "top teacher layers by summed sensitivity"
    else:
        chosen, rule = depth_layer_map(n_student, n_teacher), "proportional depth"
    chosen = [int(x) for x in chosen]
    if len(chosen) != n_student or not all(0 <= x < n_teacher for x in chosen):
        raise ValueError(f"layer_map needs {n_student} teacher layers in 0..{n_teacher - 1}, "
                         f"got {chosen}")
    return chosen, rule


def _record(into: dict[str, list[float]], ba: torch.Tensor | None, w: torch.Tensor) -> None:
    """Append cos(BA, W), cos(BA, W − BA) and ‖BA‖/‖W‖ (NaN each without a BA)."""
    if ba is None:
        for k in MEASURES:
            into[k].append(float("nan"))
        return
    into["vs_original"].append(_cos(ba, w))
    into["vs_remainder"].append(_cos(ba, w - ba))
    into["norm_ratio"].append(float(ba.double().norm() / w.double().norm()))


def parametric_similarity(teacher: ModelLike | tuple | torch.nn.Module,
                          student: ModelLike | tuple | torch.nn.Module, rank: int = 16,
                          modules: Sequence[str] = PROJECTIONS,
                          layer_map: Sequence[int] | None = None,
                          sensitivity: Mapping[Any, torch.Tensor] | None = None
                          ) -> ParametricResult:
    """Cosines of LoRA inits BA with the student's W and with W − BA, per student layer.

    'own_top_r' (PiSSA's init): BA = rank-r SVD of the student's own W. 'teacher_piece'
    (Seeking's init): the teacher layer mapped to the
    student layer (explicit `layer_map`; else the top-L_S teacher layers by summed `sensitivity`;
    else proportional depth), reduced to W's shape by the sub-block with the largest summed score
    (`sensitivity`, keyed by (layer, module) or parameter name; default |W_T|), then rank-r SVD.
    """
    t_model, _, t_spec, t_name = unpack_model(teacher)
    s_model, _, s_spec, s_name = unpack_model(student)
    n_s = len(decoder_layers(s_model, s_spec))
    layer_map, rule = _teacher_layers(n_s, len(decoder_layers(t_model, t_spec)), t_spec, modules,
                                      layer_map, sensitivity)
    curves = {meth: {m: {k: [] for k in MEASURES} for m in modules}
              for meth in ("own_top_r", "teacher_piece")}
    subblocks: dict[str, list[list[int] | None]] = {m: [] for m in modules}
    notes: list[str] = []
    with torch.no_grad():
        for i in range(n_s):
            for name in modules:
                w = block_part(s_model, s_spec, i, name).weight.detach().float()
                b, a = svd_lora_init(w, rank)
                _record(curves["own_top_r"][name], b @ a, w)
                wt = block_part(t_model, t_spec, layer_map[i], name).weight.detach()
                score = _sensitivity_of(sensitivity, t_spec, layer_map[i], name)
                piece = subblock_lora_init(wt, score, tuple(w.shape), rank, device=w.device)
                if piece is None:
                    notes.append(f"{name} layer {i}: teacher {tuple(wt.shape)} is smaller than "
                                 f"student {tuple(w.shape)}; no sub-block")
                _record(curves["teacher_piece"][name],
                        None if piece is None else piece.lora_b @ piece.lora_a, w)
                subblocks[name].append(None if piece is None else [piece.row0, piece.col0])
    return ParametricResult(rank, list(modules), layer_map, rule, curves, subblocks, t_name,
                            s_name, notes)
