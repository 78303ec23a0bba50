"""Locate's settings, the names it accepts, and its error type."""
from __future__ import annotations

from dataclasses import dataclass

SCALES = ("sigma_sqrt", "rms")
ATTN_TERMS = ("self", "summed")
KINDS = ("attn", "ffn")
MIB = 1 << 20


class LocateError(ValueError):
    """Bad input or a numerically invalid run; no partial result is returned."""


@dataclass
class LocateConfig:
    # "sigma_sqrt": divide by sqrt(σ + 1e-6), σ = std(h_L), as the released code does (published
    # numbers); "rms": the final RMSNorm's own rsqrt(mean(h_L²) + eps), so that bs(h_L) is the
    # model's own logits.
    scale: str = "sigma_sqrt"
    # "self": s_hj = α_TT · v_T, only the last token's own term (released code);
    # "summed": s_hj = the whole o_proj input Σ_s α_Ts · v_s (the original neuron-attribution
    # method).
    attn_term: str = "self"
    # A call's extra memory: half for scoring chunks and forward sub-batches, half for cached B
    # matrices.
    memory_budget_mb: int = 1024
    # Keep the B matrices in the LocateCache given to locate() when they fit; False recomputes them.
    cache_matrices: bool = True

    def __post_init__(self) -> None:
        for name, allowed in (("scale", SCALES), ("attn_term", ATTN_TERMS)):
            value = getattr(self, name)
            if value not in allowed:
                raise LocateError(f"{name} must be one of {allowed}, got {value!r}")
        budget = self.memory_budget_mb
        if not isinstance(budget, int) or budget < 1:
            raise LocateError(f"memory_budget_mb must be a positive integer, got {budget!r}")
