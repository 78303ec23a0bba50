"""The attribution scores: every layer's and every neuron's log-probability shift of the target.

See the package docstring for the formulas and why the neuron scores take the expm1/log1p form.
"""
from __future__ import annotations

import time
from functools import partial
from typing import Callable

import torch
import torch.nn as nn

from ..models.architectures import ArchSpec
from .cache import LocateCache, weights_fingerprint
from .config import KINDS, MIB, LocateConfig
from .parts import ModelParts, block_module, unembed_transposed

# scoring sub-chunk (16 MiB fp32): few enough ops that threads pay off, L3-sized
_INNER_ELEMS = 1 << 22

LayerScores = dict[str, torch.Tensor]  # {kind: [N, L]} float64
NeuronScores = dict[str, list[torch.Tensor]]  # {kind: L × [N or 1, width]} float64


def score_neurons(logp: torch.Tensor, c: torch.Tensor, w: torch.Tensor,
                  rows_of_BT: Callable[[int, int], torch.Tensor], n: int, outer: int,
                  buf: torch.Tensor) -> torch.Tensor:
    """Every example's score of every neuron: c·B[w] − log1p(Σ_v p_v expm1(c·B[v])). → [N, n] f64.

    logp [N, V] = log softmax of the base logits, c [N, n] coefficients (already times r), w [N]
    targets, rows_of_BT(k0, k1) → [K, V] rows of Bᵀ. Chunks of `outer` rows of Bᵀ are produced,
    then scored in sub-chunks that fit `buf` (so the working set stays in cache).
    """
    N, V = logp.shape
    prob = logp.exp()
    total = torch.empty(N, n, dtype=torch.float64, device=c.device)
    # [N, 1, V] @ [N, V, k] (the delta transposed): BLAS runs this row-times-matrix form ~4x faster
    # than the equivalent [N, k, V] @ [N, V, 1], which it treats as N separate skinny products.
    p_row = prob.unsqueeze(1)
    inner = max(1, min(outer, buf.numel() // (N * V)))
    for k0 in range(0, n, outer):
        BT = rows_of_BT(k0, min(n, k0 + outer))
        K = BT.shape[0]
        cc = c[:, k0:k0 + K]
        S = torch.empty(N, K, device=c.device)
        # the hot loop: 3 element passes over [N, k, V], all in cache
        for j0 in range(0, K, inner):
            k = min(inner, K - j0)
            delta = torch.mul(BT[None, j0:j0 + k], cc[:, j0:j0 + k, None],
                              out=buf[:N * k * V].view(N, k, V))
            # Σ_v p_v·expm1(c·B)
            S[:, j0:j0 + k] = torch.bmm(p_row, delta.expm1_().transpose(1, 2)).squeeze(1)
        target = cc * BT[:, w].T  # [N, K]: each example's own target-logit shift
        score = target - torch.log1p(S)
        # overflow/NaN, or an effect so large that log1p loses bits
        bad = ~((S > -0.5) & (S < float("inf")))
        if bad.any():
            rows, cols = bad.nonzero(as_tuple=True)
            x = logp[rows] + cc[rows, cols, None] * BT[cols]
            score[rows, cols] = target[rows, cols] - torch.logsumexp(x, -1)
        total[:, k0:k0 + K] = score.double()
    return total


def score_layers_and_neurons(model: nn.Module, spec: ArchSpec, parts: ModelParts,
                             acts: dict[str, torch.Tensor], targets: list[int],
                             config: LocateConfig, work_bytes: int, cache: LocateCache | None,
                             per_example: bool, timings: dict[str, float]
                             ) -> tuple[LayerScores, NeuronScores, bool]:
    """Layer scores {kind: [N, L]}, neuron scores {kind: L × [N, width]} (per example) or
    L × [1, width] (summed), and whether cached B matrices were used; adds matrices/scoring
    seconds to `timings`."""
    scorer = _Scorer(model, spec, parts, acts, targets, config, work_bytes, cache, timings)
    return scorer.run(per_example)


def _lens_scale(h: torch.Tensor, scale: str, eps: float) -> torch.Tensor:
    """r [N], the per-example scale of the logit lens, from the last layer's output h [N, d]."""
    if scale == "sigma_sqrt":  # released: 1/sqrt(σ + 1e-6) with σ = sqrt(var + 1e-5)
        return torch.rsqrt(torch.sqrt(h.var(-1, unbiased=False) + 1e-5) + 1e-6)
    return torch.rsqrt(h.pow(2).mean(-1) + eps)


def _rows_of(BT: torch.Tensor, k0: int, k1: int) -> torch.Tensor:
    return BT[k0:k1]


class _Scorer:
    """One call's scoring: the unembedding in fp32, the lens scales and targets, the work sizes
    derived from the budget, and the matrix cache with the fingerprint shared by its layers."""

    def __init__(self, model: nn.Module, spec: ArchSpec, parts: ModelParts,
                 acts: dict[str, torch.Tensor], targets: list[int], config: LocateConfig,
                 work_bytes: int, cache: LocateCache | None, timings: dict[str, float]) -> None:
        self.model = model
        self.spec = spec
        self.parts = parts
        self.acts = acts
        self.timings = timings
        self.W_U = parts.W_U.detach().float()  # .float() copies only for non-fp32 models
        device = self.W_U.device
        self.g = parts.g.to(device)
        self.r = _lens_scale(acts["h"], config.scale, parts.eps)  # [N]
        self.w = torch.tensor(targets, device=device)  # [N]
        self.examples = torch.arange(len(targets), device=device)  # [N]
        N = len(targets)
        V, d = self.W_U.shape
        # Work budget: half for a chunk of Bᵀ rows (+ its [K, d] operand), a quarter for the
        # scoring buffer, a quarter for the logit lens of a group of layers.
        self.outer = max(1, (work_bytes // 2) // (4 * (V + d)))
        buf_elems = max(N * V, min(_INNER_ELEMS, (work_bytes // 4) // 4))
        self.buf = torch.empty(buf_elems, device=device)
        self.lens_layers = max(1, (work_bytes // 4) // (4 * 6 * N * V))
        self.cache = cache if cache is not None and config.cache_matrices else None
        if self.cache is not None and self.cache.max_mb is not None:
            cap_mb = self.cache.max_mb
        else:
            cap_mb = config.memory_budget_mb / 2
        self.cap = cap_mb * MIB
        use_cache = self.cache is not None
        self.shared_fp = weights_fingerprint(parts.W_U, parts.g_param) if use_cache else ()
        self.used_cache = False

    def run(self, per_example: bool) -> tuple[LayerScores, NeuronScores, bool]:
        t_loop = time.perf_counter()
        N, n_layers = len(self.w), len(self.parts.layers)
        layer_scores = {kind: torch.zeros(N, n_layers, dtype=torch.float64) for kind in KINDS}
        neuron_scores: NeuronScores = {kind: [] for kind in KINDS}
        for i, block in enumerate(self.parts.layers):
            weights = {"ffn": block_module(block, self.spec, "down_proj").weight,
                       "attn": block_module(block, self.spec, "o_proj").weight}
            cached = self._cached_matrices(i, weights)  # {kind: Bᵀ}, or None: made chunk by chunk
            if i % self.lens_layers == 0:
                lens, logps = self._logit_lens(i)
            in_group = i % self.lens_layers
            coefficients = (("attn", self.acts["s"][:, i]), ("ffn", self.acts["m"][:, i]))
            for j, (kind, coef) in enumerate(coefficients):  # coef [N, width]
                lp, delta = logps[in_group, j], lens[in_group, 2 + j]  # [N, V] each
                # log softmax(a + Δ)[w] − log softmax(a)[w] = Δ_w − logsumexp(log p + Δ)
                layer_shift = delta[self.examples, self.w] - torch.logsumexp(lp + delta, -1)
                layer_scores[kind][:, i] = layer_shift.double()
                if cached is not None:
                    rows = partial(_rows_of, cached[kind])
                else:
                    rows = partial(self._unembed_rows, weights[kind])
                # coefficients times r, since bs(b + c·u) = bs(b) + c·r·W_U(g ⊙ u)
                scores = score_neurons(lp, self.r[:, None] * coef, self.w, rows, coef.shape[-1],
                                       self.outer, self.buf)  # [N, width]
                neuron_scores[kind].append(scores if per_example else scores.sum(0, keepdim=True))
        self.timings["scoring"] = time.perf_counter() - t_loop - self.timings["matrices"]
        return layer_scores, neuron_scores, self.used_cache

    def _logit_lens(self, first: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The lens of layers first… (a group of lens_layers), in one product: of the bases x and
        x + attn and of the outputs attn and ffn, [layers, 4, N, V]; and the log-probabilities of
        the two bases, [layers, 2, N, V]."""
        x, attn, ffn = (self.acts[key][:, first:first + self.lens_layers].transpose(0, 1)
                        for key in ("x", "attn", "ffn"))
        v = torch.stack([x, x + attn, attn, ffn], 1)  # [layers, 4, N, d]
        lens = self.r[:, None] * ((v * self.g) @ self.W_U.T)  # bs(v) = r·W_U(g ⊙ v)
        return lens, torch.log_softmax(lens[:, :2], -1)

    def _cached_matrices(self, layer: int,
                         weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
        """{kind: Bᵀ} of a layer from the cache (computed into it if it fits), else None."""
        if self.cache is None:
            return None
        t0 = time.perf_counter()
        size = 4 * self.W_U.shape[0] * sum(W.shape[1] for W in weights.values())
        full = self.cache.get_or_compute(
            self.model, layer, self.shared_fp, weights, size, self.cap,
            lambda: {kind: unembed_transposed(self.W_U, self.g, W) for kind, W in weights.items()})
        self.used_cache |= full is not None
        self.timings["matrices"] += time.perf_counter() - t0
        return full

    def _unembed_rows(self, W: torch.Tensor, k0: int, k1: int) -> torch.Tensor:
        """Rows k0:k1 of Bᵀ for the weight W, timed."""
        t0 = time.perf_counter()
        out = unembed_transposed(self.W_U, self.g, W[:, k0:k1])
        self.timings["matrices"] += time.perf_counter() - t0
        return out
