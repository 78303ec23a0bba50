"""α_TT, the last query's attention probability on its own token, without eager attention.

The "self" attention term needs α_TT. Eager attention materialises every probability and is
~15-30% slower than sdpa on CPU, so locate runs the model with an attention implementation
registered under its own name: sdpa for the output, plus a callback that recomputes only the last
query's row from the query/key states the model hands to its attention function — after RoPE, q/k
norms and any family detail, so nothing about an architecture is re-implemented here.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import torch
import torch.nn as nn

CAPTURING_SDPA = "pkt_locate_sdpa"
# .on_attention: callback(module, query, key, value, kwargs), or absent / None
_active = threading.local()


def _capturing_sdpa(module: nn.Module, query: torch.Tensor, key: torch.Tensor,
                    value: torch.Tensor, attention_mask: torch.Tensor | None,
                    **kwargs: Any) -> tuple[torch.Tensor, Any]:
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    callback = getattr(_active, "on_attention", None)
    if callback is not None:
        callback(module, query, key, value, kwargs)
    return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


def register_capturing_sdpa() -> str:
    """Register the capturing attention with transformers (once); → its implementation name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    if CAPTURING_SDPA not in AttentionInterface._global_mapping:
        AttentionInterface.register(CAPTURING_SDPA, _capturing_sdpa)
        AttentionMaskInterface.register(CAPTURING_SDPA, sdpa_mask)
    return CAPTURING_SDPA


@contextmanager
def attention_callback(callback: Callable[..., None] | None) -> Iterator[None]:
    """Within the block, this thread's capturing attention calls `callback` (None: nothing)."""
    _active.on_attention = callback
    try:
        yield
    finally:
        _active.on_attention = None


def last_query_self_attention(query: torch.Tensor, key: torch.Tensor, rows: torch.Tensor,
                              last: torch.Tensor, kv_of_head: torch.Tensor, scaling: float,
                              sliding_window: int | None) -> torch.Tensor:
    """α_TT [n, H]: softmax over keys s ≤ T (within the window) of q_T·k_s·scaling, taken at s = T.

    Right padding comes after position T, so causality alone excludes it; fp32 like eager's
    softmax."""
    q = query[rows, :, last].float()  # [n, H, hd]
    # [n, H, T, hd] (grouped-query: head h reads kv h // group)
    k = key[rows][:, kv_of_head].float()
    scores = torch.einsum("nhd,nhtd->nht", q, k) * scaling
    pos = torch.arange(k.shape[2], device=k.device)
    allowed = pos[None, :] <= last[:, None]
    if sliding_window:
        allowed &= pos[None, :] > (last[:, None] - sliding_window)
    scores = scores.masked_fill(~allowed[:, None, :], float("-inf"))
    probs = torch.softmax(scores, -1)
    return probs[torch.arange(len(rows), device=probs.device), :, last]
