"""Representation similarity: a student-layer × teacher-layer matrix per module, comparing the
outputs of up/down/v/o_proj over the same texts, by linear CKA or by a signed metric.

The signed metric (`metric="cosine"`). Linear CKA is the cosine between the centred token×token
Gram matrices K = XcXcᵀ and L = YcYcᵀ; both are positive semidefinite, so ⟨K, L⟩ ≥ 0 and CKA can
never go negative, and their diagonals (token norms) dominate it, so a few high-norm tokens decide
its value. The paper's values go negative, so we offer a *signed token-similarity agreement*:
centre each representation over tokens, L2-normalise every token's vector, form the token×token
cosine matrix, drop its diagonal (always 1: it carries no information, and without it the two
matrices are no longer positive semidefinite, so they can disagree), L2-normalise every row, and
average over tokens the cosine between the two models' corresponding rows:
s(X, Y) = (1/n) Σ_i cos(K_i,≠i, L_i,≠i). It lives in sample space, so the widths may differ; it
is 1 when the representations agree up to a shift, a rotation/reflection and an isotropic scale,
≈ 0 for unrelated ones, and negative when tokens one model puts close together the other puts
apart; every token weighs the same whatever its norm. The paper does not define its metric, so
compare with its published numbers by sign and ranking, not digit by digit (docs/SCIENCE.md §6).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ..models.architectures import NEURON_MODULES, ArchSpec, block_part, decoder_layers
from ..models.loading import same_tokenizer
from .common import ModelLike, nan_to_none, unpack_model

REPR_MODULES = NEURON_MODULES  # the modules the research compares layer by layer
METRICS = ("cka", "cosine")


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

    def hsic(dot: torch.Tensor, sa: torch.Tensor, sb: torch.Tensor,
             cross: torch.Tensor) -> torch.Tensor:
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
    """Right-padded ids and mask; stops once `total_cap` real tokens are reached.

    → (ids, mask, texts used)."""
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
    pad = tokenizer.pad_token_id
    if pad is None:
        pad = tokenizer.eos_token_id or 0
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
    # module → [L_S, L_T]: row = student layer, column = teacher layer
    matrices: dict[str, np.ndarray]
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
                "matrices": {m: nan_to_none(v.tolist()) for m, v in self.matrices.items()},
                "mean": nan_to_none(self.mean), "std": nan_to_none(self.std),
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
    t_model, t_tok, t_spec, t_name = unpack_model(teacher)
    s_model, s_tok, s_spec, s_name = unpack_model(student)
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
                                    max_tokens if aligned else None,
                                    None if aligned else max_tokens)
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
