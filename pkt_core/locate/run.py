"""locate() and locate_each(): tokenise, capture the states, score them, assemble the results."""
from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn as nn

from ..models.architectures import ArchSpec
from .attention import register_capturing_sdpa
from .cache import LocateCache
from .capture import capture_states, tokenize_examples
from .config import KINDS, MIB, LocateConfig, LocateError
from .parts import ModelParts, model_parts
from .result import LocateResult, rank_indices, top_neurons_per_layer
from .score import LayerScores, NeuronScores, score_layers_and_neurons


def locate(model: nn.Module, tokenizer: Any, spec: ArchSpec, examples: Sequence[tuple[str, str]],
           config: LocateConfig | None = None, top_k: int = 10,
           cache: LocateCache | None = None) -> LocateResult:
    """Layer and neuron attribution scores of `examples` (docs/SCIENCE.md §2), summed over the
    examples.

    One forward per model (right-padded batch) with hooks; neuron scores in chunks bounded by
    config.memory_budget_mb; B matrices reused from `cache` when given and they fit.
    """
    config = config or LocateConfig()
    return _locate(model, tokenizer, spec, examples, config, top_k, cache, False)[0]


def locate_each(model: nn.Module, tokenizer: Any, spec: ArchSpec,
                examples: Sequence[tuple[str, str]], config: LocateConfig | None = None,
                top_k: int = 10, cache: LocateCache | None = None) -> list[LocateResult]:
    """One result per example — the same numbers as `locate(…, [example])` for each — from one
    batched forward and one pass over the B matrices (LaTen locates every extract example:
    batching them amortises the per-call work). `seconds` and `timings` are the batch's, divided
    evenly."""
    config = config or LocateConfig()
    return _locate(model, tokenizer, spec, examples, config, top_k, cache, True)


def _locate(model: nn.Module, tokenizer: Any, spec: ArchSpec,
            examples: Sequence[tuple[str, str]], config: LocateConfig, top_k: int,
            cache: LocateCache | None, per_example: bool) -> list[LocateResult]:
    start = time.perf_counter()
    parts = model_parts(model, spec)
    max_positions = getattr(model.config, "max_position_embeddings", None)
    inputs, targets = tokenize_examples(tokenizer, examples, max_positions)
    work_bytes = config.memory_budget_mb * MIB // 2  # the other half is for a LocateCache
    need_alpha = config.attn_term == "self"
    acts = _capture_in_eval_mode(model, spec, parts, inputs, need_alpha, work_bytes)
    timings = {"forward": time.perf_counter() - start, "matrices": 0.0, "scoring": 0.0}
    with torch.no_grad():
        layer_scores, neuron_scores, used_cache = score_layers_and_neurons(
            model, spec, parts, acts, targets, config, work_bytes, cache, per_example, timings)
    attn_l, ffn_l, ffn_n, attn_n = _score_arrays(layer_scores, neuron_scores, per_example)
    groups = [[t] for t in targets] if per_example else [targets]
    k = max(0, int(top_k))
    share = 1.0 / len(groups)
    seconds = (time.perf_counter() - start) * share
    shared_timings = {name: round(v * share, 4) for name, v in timings.items()}
    return [LocateResult(
        target_token_ids=ids, attn_layer_scores=attn_l[g], ffn_layer_scores=ffn_l[g],
        ffn_neuron_scores=ffn_n[g], attn_neuron_scores=attn_n[g],
        top_attn_layers=rank_indices(attn_l[g], None), top_ffn_layers=rank_indices(ffn_l[g], None),
        top_ffn_neurons=top_neurons_per_layer(ffn_n[g], k),
        top_attn_neurons=top_neurons_per_layer(attn_n[g], k),
        used_matrix_cache=used_cache, seconds=seconds, config=config,
        timings=dict(shared_timings))
        for g, ids in enumerate(groups)]


def _capture_in_eval_mode(model: nn.Module, spec: ArchSpec, parts: ModelParts,
                          inputs: list[list[int]], need_alpha: bool,
                          work_bytes: int) -> dict[str, torch.Tensor]:
    """capture_states in eval mode (and with the capturing attention when need_alpha); the
    model's mode and attention implementation are restored afterwards."""
    prev_impl, was_training = model.config._attn_implementation, model.training
    try:
        if was_training:  # (eval() walks every module; skip it when there is nothing to change)
            model.eval()
        if need_alpha:  # sdpa plus a callback that reads the last query's row (attention.py).
            # The config setter (it recurses into sub-configs) costs nothing;
            # set_attn_implementation() walks every module, twice a call.
            model.config._attn_implementation = register_capturing_sdpa()
        with torch.no_grad():
            return capture_states(model, spec, parts, inputs, need_alpha, work_bytes,
                                  parts.W_U.device)
    finally:
        model.config._attn_implementation = prev_impl
        if was_training:
            model.train()


def _score_arrays(layer_scores: LayerScores, neuron_scores: NeuronScores,
                  per_example: bool) -> tuple[np.ndarray, ...]:
    """(attn layer, ffn layer, ffn neuron, attn neuron) scores as numpy, one row per group: per
    example, or one for the sum over the examples; LocateError if any is not finite."""
    if per_example:
        attn_l, ffn_l = (layer_scores[kind] for kind in KINDS)  # [groups, L]
    else:
        attn_l, ffn_l = (layer_scores[kind].sum(0, keepdim=True) for kind in KINDS)
    attn_n, ffn_n = (torch.stack(neuron_scores[kind], 1).cpu() for kind in KINDS)  # [groups, L, w]
    checks = (("layer", attn_l), ("layer", ffn_l), ("FFN neuron", ffn_n),
              ("attention neuron", attn_n))
    for name, t in checks:
        if not torch.isfinite(t).all():
            raise LocateError(f"non-finite {name} scores: the model gives NaN/inf logits on "
                              f"these examples")
    return tuple(t.cpu().numpy() for t in (attn_l, ffn_l, ffn_n, attn_n))
