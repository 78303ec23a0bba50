"""Logit-lens knowledge attribution (docs/SCIENCE.md §2): which layers and neurons push the answer.

For one (prompt, answer) example: text = prompt + answer with trailing `. " space ) \\n , ]`
stripped, tokenised without special tokens; the target w is the last token; the model runs on the
tokens before it and everything is read at the last position. With a per-example scale r,

    bs(v) = r · W_U (g ⊙ v)
    score(v | b) = log softmax(bs(b + v))[w] − log softmax(bs(b))[w]

  attention layer:       v = o_proj output                       b = layer input
  FFN layer:             v = FFN (down_proj) output              b = layer input + attention output
  FFN neuron k:          v = m_k · W_down[:, k]                  b = layer input + attention output
  attention neuron h,j:  v = s_hj · W_o[:, h·d_head + j]         b = layer input
Scores are summed over the examples.

Why it is fast: for a fixed r, bs is linear, so every neuron's logits are a + c_k·B[:, k] with
B = W_U·diag(g)·W_down (or W_o): input-independent, hence cacheable across calls. With
p = softmax(a),

    score_k = c_k·B[w, k] − log Σ_v p_v·exp(c_k·B[v, k])
            = c_k·B[w, k] − log1p(Σ_v p_v·expm1(c_k·B[v, k]))

The expm1/log1p form is the same number, costs one multiply, one expm1 and one mat-vec per
element, and keeps full relative precision for the tiny (~1e-4) scores of many attention neurons,
which a difference of two ~10-sized log-sum-exps would bury in fp32 rounding. Rows where exp
overflows (or the sum nears −1) fall back to the max-shifted log-sum-exp. Score math is fp32 on the
lm_head's device (B's products in TF32 on a GPU: tf32_matmuls). Internals are read with forward
hooks and, for α_TT, an attention function registered with transformers (sdpa plus a read-out of
the last query's row): unmodified transformers models.

Modules: config (LocateConfig, LocateError), parts (the modules read, the B matrices), attention
(α_TT through a registered sdpa), capture (tokenisation, hooks, the forward pass), score (layer and
neuron scores), cache (LocateCache), result (LocateResult), run (locate, locate_each).
"""
from __future__ import annotations

from .cache import LocateCache
from .capture import STRIP_CHARS
from .config import ATTN_TERMS, KINDS, SCALES, LocateConfig, LocateError
from .parts import unembed_neuron_matrices
from .result import LocateResult
from .run import locate, locate_each

__all__ = [
    "ATTN_TERMS",
    "KINDS",
    "SCALES",
    "STRIP_CHARS",
    "LocateCache",
    "LocateConfig",
    "LocateError",
    "LocateResult",
    "locate",
    "locate_each",
    "unembed_neuron_matrices",
]
