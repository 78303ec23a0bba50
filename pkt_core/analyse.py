"""The neural-incompatibility analysis (PAPER_NOTES §6): how alike are a teacher and a student?

- `representation_similarity`: a student-layer × teacher-layer similarity matrix per module
  (outputs of up/down/v/o_proj over the same texts), by linear CKA or by a signed metric.
- `parametric_similarity`: per student layer, the cosine between a LoRA product BA and the
  student's W and W − BA, for a PiSSA init and for a Seeking-style init taken from the teacher.
- `compare_layer_attribution` / `locate_stability`: teacher vs student layer-score curves on a
  common relative-depth axis, and how stable the located neurons are between two examples.

The signed metric (`metric="cosine"`). Linear CKA is the cosine between the centred token×token
Gram matrices K = XcXcᵀ and L = YcYcᵀ; both are positive semidefinite, so ⟨K, L⟩ ≥ 0 and CKA can
never go negative, and their diagonals (token norms) dominate it, so a few high-norm tokens decide
its value. The paper's values go negative, so we offer a *signed token-similarity agreement*:
centre each representation over tokens, L2-normalise every token's vector, form the token×token
cosine matrix, drop its diagonal (always 1: it carries no information, and without it the two
matrices are no longer positive semidefinite, so they can disagree), L2-normalise every row, and average over tokens the cosine between the two
models' corresponding rows: s(X, Y) = (1/n) Σ_i cos(K_i,≠i, L_i,≠i). It lives in sample space, so
the widths may differ; it is 1 when the representations agree up to a shift, a rotation/reflection
and an isotropic scale, ≈ 0 for unrelated ones, and negative when tokens one model puts close
together the other puts apart; every token weighs the same whatever its norm. The paper does not
define its metric, so compare with its published numbers by sign and ranking, not digit by digit.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Protocol, Sequence

import numpy as np
import torch

from .locate import LocateResult
from .models.architectures import (NEURON_MODULES, PROJECTIONS, ArchSpec, arch_for_config, block_part,
                                   decoder_layers)
from .models.loading import same_tokenizer

REPR_MODULES = NEURON_MODULES  # the modules the research compares layer by layer
METRICS = ("cka", "cosine")


class ModelLike(Protocol):
    """What the analysis needs: a `LoadedModel` fits; so does a (model, tokenizer, spec) tuple."""
    model: Any
    tokenizer: Any
    spec: ArchSpec


def _unpack(m: Any) -> tuple[Any, Any, ArchSpec, str]:
    """(model, tokenizer or None, spec, display name) from a LoadedModel, a tuple or a bare model."""
    if isinstance(m, torch.nn.Module):  # checked first: a CausalLM also has a `.model` attribute
        model, tok, spec = m, None, None
    elif isinstance(m, (tuple, list)):
        model, tok, spec = (list(m) + [None, None])[:3]
    else:
        model, tok, spec = m.model, getattr(m, "tokenizer", None), getattr(m, "spec", None)
    spec = spec or arch_for_config(model.config)
    name = getattr(m, "name", None) or getattr(model.config, "_name_or_path", "") or \
        f"{spec.family} {len(decoder_layers(model, spec))} layers"
    return model, tok, spec, str(name)


def _clean(values: Any) -> Any:
    """Nested dicts/lists of floats with NaN → None, so the JSON is strict."""
    if isinstance(values, dict):
        return {k: _clean(v) for k, v in values.items()}
    if isinstance(values, (list, tuple)):
        return [_clean(v) for v in values]
    return None if isinstance(values, float) and math.isnan(values) else values


# ---- representation similarity: kernels ------------------------------------------------------
def _gram(x: torch.Tensor, metric: str, unbiased: bool) -> torch.Tensor:
    """The n×n matrix a metric compares, from features x [n, d] (fp32, on x's device)."""
    x = x.float()
    x = x - x.mean(0, keepdim=True)  # centring over tokens makes the Gram matrix HKH already
    if metric == "cosine":
        x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
        k = x @ x.T
        k.fill_diagonal_(0)
        return k / k.norm(dim=1, keepdim=True).clamp_min(1e-12)
    k = x @ x.T
    if unbiased:  # HSIC_1 works on kernels with a zero diagonal
        k.fill_diagonal_(0)
    return k


def _pairwise(gs: torch.Tensor, gt: torch.Tensor, metric: str, unbiased: bool) -> np.ndarray:
    """Similarity of every (a, b) pair from stacked matrices gs [A, n, n], gt [B, n, n] → [A, B]."""
    n = gs.shape[-1]
    fs, ft = gs.flatten(1), gt.flatten(1)
    dots = (fs @ ft.T).double()  # one GEMM; the n² inner dimension is fine in fp32 accumulation
    if metric == "cosine":
        return (dots / n).numpy()
    if not unbiased:
        ns, nt = fs.double().norm(dim=1), ft.double().norm(dim=1)
        return (dots / (ns[:, None] * nt[None, :])).numpy()
    # HSIC_1 (Song et al. 2012; Nguyen et al. 2021), without its 1/(n(n−3)) factor that cancels:
    # tr(KL) + 1ᵀK1·1ᵀL1 / ((n−1)(n−2)) − 2/(n−2) · (K1)·(L1), with zero-diagonal K, L.
    rs, rt = gs.sum(2).double(), gt.sum(2).double()
    ss, st = rs.sum(1), rt.sum(1)

    def hsic(dot: torch.Tensor, sa: torch.Tensor, sb: torch.Tensor, cross: torch.Tensor) -> torch.Tensor:
        return dot + sa * sb / ((n - 1) * (n - 2)) - 2.0 * cross / (n - 2)

    h = hsic(dots, ss[:, None], st[None, :], rs @ rt.T)
    hs = hsic(fs.double().pow(2).sum(1), ss, ss, rs.pow(2).sum(1))
    ht = hsic(ft.double().pow(2).sum(1), st, st, rt.pow(2).sum(1))
    denom = (hs[:, None] * ht[None, :]).clamp_min(0).sqrt()
    return torch.where(denom > 0, h / denom, torch.full_like(h, float("nan"))).numpy()


def linear_cka(x: torch.Tensor, y: torch.Tensor, unbiased: bool = False) -> float:
    """Linear CKA between features x [n, d1] and y [n, d2] of the same n samples."""
    return float(_pairwise(_gram(x, "cka", unbiased)[None], _gram(y, "cka", unbiased)[None],
                           "cka", unbiased)[0, 0])


def signed_similarity(x: torch.Tensor, y: torch.Tensor) -> float:
    """The signed token-similarity agreement defined in the module docstring, in [-1, 1]."""
    return float(_pairwise(_gram(x, "cosine", False)[None], _gram(y, "cosine", False)[None],
                           "cosine", False)[0, 0])


# ---- representation similarity: capture --------------------------------------------------------
def _batch(tokenizer: Any, texts: Sequence[str], total_cap: int | None,
           per_text_cap: int | None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Right-padded ids and mask; stops once `total_cap` real tokens are reached. → (ids, mask, texts)."""
    rows: list[list[int]] = []
    used = 0
    for text in texts:
        ids = list(tokenizer(text)["input_ids"])[:per_text_cap]
        if total_cap is not None:
            ids = ids[: total_cap - used]
        if ids:
            rows.append(ids)
            used += len(ids)
        if total_cap is not None and used >= total_cap:
            break
    if not rows:
        raise ValueError("no tokens to compare: the texts are empty")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return ids, mask, len(rows)


@torch.no_grad()
def _module_grams(model: Any, spec: ArchSpec, ids: torch.Tensor, mask: torch.Tensor,
                  select: torch.Tensor, modules: Sequence[str], metric: str, unbiased: bool,
                  pooled: bool) -> dict[str, torch.Tensor]:
    """One forward; every hooked output is reduced at once to its n×n matrix (kept on the CPU), so
    memory is n² per (layer, module) whatever the model's width."""
    grams: dict[str, dict[int, torch.Tensor]] = {m: {} for m in modules}

    def hook_for(name: str, layer: int) -> Any:
        def hook(_mod: Any, _inp: Any, out: Any) -> None:
            h = (out[0] if isinstance(out, tuple) else out).float()
            sel = select.to(h.device)
            if pooled:  # one mean vector per text over its selected tokens
                w = sel.unsqueeze(-1).float()
                feats = (h * w).sum(1) / w.sum(1).clamp_min(1)
            else:
                feats = h[sel]
            grams[name][layer] = _gram(feats, metric, unbiased).cpu()
        return hook

    handles = [block_part(model, spec, layer, name).register_forward_hook(hook_for(name, layer))
               for layer in range(len(decoder_layers(model, spec))) for name in modules]
    try:
        device = model.get_input_embeddings().weight.device
        model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False,
              logits_to_keep=1)  # logits are not needed; skip the vocab-wide projection
    finally:
        for handle in handles:
            handle.remove()
    return {m: torch.stack([g[i] for i in sorted(g)]) for m, g in grams.items()}


@dataclass
class SimilarityResult:
    metric: str  # 'cka' | 'cosine'
    unbiased: bool
    matrices: dict[str, np.ndarray]  # module → [L_S, L_T]: row = student layer, column = teacher layer
    inputs_description: str
    teacher: str = ""
    student: str = ""
    token_aligned: bool = True  # False: one mean-pooled vector per text (tokenizers differ)
    n_texts: int = 0
    n_points: int = 0  # tokens compared (texts when pooled)
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        if self.metric == "cka":
            return "linear CKA" + (" (unbiased)" if self.unbiased else "")
        return "signed token-similarity cosine"

    @property
    def mean(self) -> dict[str, float]:
        return {m: float(np.nanmean(v)) for m, v in self.matrices.items()}

    @property
    def std(self) -> dict[str, float]:
        return {m: float(np.nanstd(v)) for m, v in self.matrices.items()}

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN → null); `SimilarityResult.from_json` reads it back."""
        return {"kind": "representation_similarity", "metric": self.metric,
                "unbiased": self.unbiased, "label": self.label,
                "matrices": {m: _clean(v.tolist()) for m, v in self.matrices.items()},
                "mean": _clean(self.mean), "std": _clean(self.std),
                "inputs_description": self.inputs_description, "teacher": self.teacher,
                "student": self.student, "token_aligned": self.token_aligned,
                "n_texts": self.n_texts, "n_points": self.n_points, "notes": list(self.notes)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SimilarityResult:
        return cls(data["metric"], bool(data["unbiased"]),
                   {m: np.array(v, dtype=float) for m, v in data["matrices"].items()},
                   data["inputs_description"], data.get("teacher", ""), data.get("student", ""),
                   bool(data.get("token_aligned", True)), int(data.get("n_texts", 0)),
                   int(data.get("n_points", 0)), list(data.get("notes", [])))


def representation_similarity(teacher: ModelLike | tuple, student: ModelLike | tuple,
                              texts: Sequence[str], metric: str = "cka", unbiased: bool = False,
                              modules: Sequence[str] = REPR_MODULES, max_tokens: int = 2048,
                              exclude_first_token: bool = False,
                              inputs_description: str | None = None) -> SimilarityResult:
    """Compare the outputs of `modules` in every (student layer, teacher layer) pair over `texts`.

    With a shared tokenizer the comparison is token by token (the same ids feed both models; at
    most `max_tokens` real tokens, texts taken in order, the last one cut). Otherwise each model
    reads its own tokenization and each text becomes one mean-pooled vector (each text cut at
    `max_tokens` tokens) — coarser, and said so in `notes`. `exclude_first_token` drops position
    0 of every text (Llama-style models put massive activations there, which dominate CKA).
    `unbiased` (the HSIC_1 estimator) applies to CKA only.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric '{metric}'; choose one of {', '.join(METRICS)}")
    t_model, t_tok, t_spec, t_name = _unpack(teacher)
    s_model, s_tok, s_spec, s_name = _unpack(student)
    if t_tok is None or s_tok is None:
        raise ValueError("representation similarity needs each model's tokenizer")
    texts = [t for t in texts if t]
    aligned = t_tok is s_tok or same_tokenizer(t_tok, s_tok)
    notes: list[str] = []
    grams: dict[str, dict[str, torch.Tensor]] = {}
    for role, model, tok, spec in (("teacher", t_model, t_tok, t_spec),
                                   ("student", s_model, s_tok, s_spec)):
        # Aligned: the student's ids go to both models so that token i is the same token in both.
        ids, mask, n_texts = _batch(s_tok if aligned else tok, texts,
                                    max_tokens if aligned else None, None if aligned else max_tokens)
        select = mask.bool()
        if exclude_first_token:
            select[:, 0] = False
        grams[role] = _module_grams(model, spec, ids, mask, select, modules, metric, unbiased,
                                    pooled=not aligned)
    n = next(iter(grams["student"].values())).shape[-1]
    if n < (4 if unbiased and metric == "cka" else 2):
        raise ValueError(f"only {n} {'tokens' if aligned else 'texts'} to compare; give more input")
    if not aligned:
        notes.append(f"tokenizers differ: each text is one mean-pooled vector ({n} points), so "
                     "the similarity compares texts, not tokens")
    if n_texts < len(texts):
        notes.append(f"capped at {max_tokens} tokens: {n_texts} of {len(texts)} texts used")
    matrices = {m: _pairwise(grams["student"][m], grams["teacher"][m], metric, unbiased)
                for m in modules}
    unit = "tokens" if aligned else "texts (mean-pooled)"
    description = f"{inputs_description or f'{len(texts)} texts'}; {n} {unit}"
    return SimilarityResult(metric, unbiased and metric == "cka", matrices, description, t_name,
                            s_name, aligned, n_texts, n, notes)


# ---- parametric similarity ---------------------------------------------------------------------
def svd_lora_init(weight: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """B = U_r Σ_r [out, r] and A = V_rᵀ [r, in] (PAPER_NOTES §4): BA is W's best rank-r part."""
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


def depth_layer_map(n_student: int, n_teacher: int) -> list[int]:
    """Student layer i → teacher layer round(i·(L_T−1)/(L_S−1)) (half up); one layer → the middle."""
    if n_student == 1:
        return [(n_teacher - 1) // 2]
    return [int(math.floor(i * (n_teacher - 1) / (n_student - 1) + 0.5)) for i in range(n_student)]


def select_layers(scores: Sequence[float], k: int) -> list[int]:
    """The k best-scoring layers (ties → lower index), in depth order — Seeking's and LaTen's rule."""
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
                "curves": _clean(self.curves), "summary": _clean(self.summary()),
                "subblocks": self.subblocks, "teacher": self.teacher, "student": self.student,
                "notes": list(self.notes)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ParametricResult:
        curves = {meth: {m: {k: [float("nan") if x is None else x for x in v] for k, v in c.items()}
                         for m, c in per.items()} for meth, per in data["curves"].items()}
        return cls(int(data["rank"]), list(data["modules"]), list(data["layer_map"]),
                   data["layer_map_rule"], curves, dict(data["subblocks"]),
                   data.get("teacher", ""), data.get("student", ""), list(data.get("notes", [])))


def parametric_similarity(teacher: ModelLike | tuple | torch.nn.Module,
                          student: ModelLike | tuple | torch.nn.Module, rank: int = 16,
                          modules: Sequence[str] = PROJECTIONS, layer_map: Sequence[int] | None = None,
                          sensitivity: Mapping[Any, torch.Tensor] | None = None) -> ParametricResult:
    """Cosines of LoRA inits BA with the student's W and with W − BA, per student layer.

    'pissa': BA = rank-r SVD of the student's own W. 'seeking': the teacher layer mapped to the
    student layer (explicit `layer_map`; else the top-L_S teacher layers by summed `sensitivity`;
    else proportional depth), reduced to W's shape by the sub-block with the largest summed score
    (`sensitivity`, keyed by (layer, module) or parameter name; default |W_T|), then rank-r SVD.
    """
    t_model, _, t_spec, t_name = _unpack(teacher)
    s_model, _, s_spec, s_name = _unpack(student)
    n_t, n_s = len(decoder_layers(t_model, t_spec)), len(decoder_layers(s_model, s_spec))
    if layer_map is not None:
        rule = "given"
    elif sensitivity is not None:
        scores = [sum(float(t.sum()) for name in modules
                      if (t := _sensitivity_of(sensitivity, t_spec, layer, name)) is not None)
                  for layer in range(n_t)]
        layer_map, rule = select_layers(scores, n_s), "top teacher layers by summed sensitivity"
    else:
        layer_map, rule = depth_layer_map(n_s, n_t), "proportional depth"
    layer_map = [int(x) for x in layer_map]
    if len(layer_map) != n_s or not all(0 <= x < n_t for x in layer_map):
        raise ValueError(f"layer_map needs {n_s} teacher layers in 0..{n_t - 1}, got {layer_map}")
    measures = ("vs_original", "vs_remainder", "norm_ratio")
    curves = {meth: {m: {k: [] for k in measures} for m in modules} for meth in ("pissa", "seeking")}
    subblocks: dict[str, list[list[int] | None]] = {m: [] for m in modules}
    notes: list[str] = []

    def record(into: dict[str, list[float]], ba: torch.Tensor | None, w: torch.Tensor) -> None:
        if ba is None:
            for k in measures:
                into[k].append(float("nan"))
            return
        into["vs_original"].append(_cos(ba, w))
        into["vs_remainder"].append(_cos(ba, w - ba))
        into["norm_ratio"].append(float(ba.double().norm() / w.double().norm()))

    with torch.no_grad():
        for i in range(n_s):
            for name in modules:
                w = block_part(s_model, s_spec, i, name).weight.detach().float()
                b, a = svd_lora_init(w, rank)
                record(curves["pissa"][name], b @ a, w)
                wt = block_part(t_model, t_spec, layer_map[i], name).weight.detach()
                if wt.shape[0] < w.shape[0] or wt.shape[1] < w.shape[1]:
                    notes.append(f"{name} layer {i}: teacher {tuple(wt.shape)} is smaller than "
                                 f"student {tuple(w.shape)}; no sub-block")
                    record(curves["seeking"][name], None, w)
                    subblocks[name].append(None)
                    continue
                score = _sensitivity_of(sensitivity, t_spec, layer_map[i], name)
                score = wt.float().abs() if score is None else score.to(wt.device)
                r0, c0 = largest_subblock(score, *w.shape)
                sub = wt[r0:r0 + w.shape[0], c0:c0 + w.shape[1]].float().to(w.device)
                b, a = svd_lora_init(sub, rank)
                record(curves["seeking"][name], b @ a, w)
                subblocks[name].append([r0, c0])
    return ParametricResult(rank, list(modules), layer_map, rule, curves, subblocks, t_name,
                            s_name, notes)


# ---- layer attribution: teacher vs student -----------------------------------------------------
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
    teacher_at_student_depth: list[float]  # [L_S] the teacher's curve interpolated at student depths
    profile_spearman: float | None  # None when undefined (a constant curve, or a single layer)
    top_k: int
    top_overlap: float  # share of the student's top-k layers among the interpolated teacher's top-k
    pairs: list[LayerPair]  # LaTen's mapping, one per student layer (fewer if the teacher is shallower)
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
        _clean(_spearman(t_at_s, s)), k, len(top_s & top_t) / k, pairs,
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
