"""How long a transfer will take, estimated before any weight is loaded, so a public lab can refuse
one that would hold its only heavy slot for hours (`epochs=1e6` was accepted: 16 M steps).

Each paradigm says how much work its settings imply (`Paradigm.work`: examples through a forward
and backward pass of each model); this module turns that into seconds:
    seconds ≈ FLOPs / R(width) + calls × overhead(width)
with the usual 2·params FLOPs per token forward and 6·params forward + backward, R the matrix
multiply rate measured once on this device at the student's width, and a fixed cost per model call
(small models on a CPU are dominated by it). Scoring the test items before and after (greedy
decoding, one call per new token) is added, and the sum is scaled by the ratio of measured to raw
estimates that `benchmarks/bench_estimate.py` measures.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any, Sequence

import torch

CHARS_PER_TOKEN = 4.0  # a subword tokenizer's usual ratio on English; the toy tokenizer's is ~3-4
EVAL_BATCH = 16  # evaluate.generate's batch size: one decoding call serves this many items


@dataclass(frozen=True)
class Work:
    """Examples passed through each model by a transfer's own algorithm (not its scoring)."""
    student_train: float = 0.0  # forward + backward
    teacher_train: float = 0.0
    student_forward: float = 0.0
    teacher_forward: float = 0.0
    calls: float = 0.0  # model calls (batches), for the per-call overhead
    max_len: int = 256  # tokens per example are capped here


def tokens_per_example(examples: Sequence[Any], max_len: int) -> float:
    """Mean prompt + answer length in tokens, from characters (no tokenizer is loaded yet)."""
    if not examples:
        return 0.0
    chars = sum(len(ex.prompt) + len(ex.answer) for ex in examples) / len(examples)
    return min(float(max_len), chars / CHARS_PER_TOKEN + 16)  # + the chat template's tokens


# Seconds of fixed cost per decoder layer per model call (Python, kernel launches), measured on
# transformers' Llama blocks: ~1 ms on a 2-core CPU (pkt-tiny-student: 3.8 ms for 4 layers on a
# [4, 8] batch), a few hundred µs per launch-bound layer on a GPU.
LAYER_CALL_S = {"cpu": 1e-3, "cuda": 3e-4}
# What the two terms above miss (optimiser steps, peft's wrappers, tokenising, small-matrix
# inefficiency): measured runs took 4.3× the raw estimate (median of six transfers on the
# embedded pair, range 3.2-5.8×, `benchmarks/bench_estimate.py`, 2-core CPU). Measured on a CPU
# only; a GPU's factor is unmeasured.
MEASURED_OVER_RAW = 4.3


@functools.cache
def _rates(width: int, device: str) -> tuple[float, float]:
    """(FLOP/s of a width-sized matrix multiply on this device, fixed seconds per layer call).
    The rate is the best of several timings: other work on a busy machine only slows some."""
    dev = torch.device(device)
    width = max(width, 256)  # smaller products measure thread wake-up, not arithmetic
    w, x = torch.randn(width, 4 * width, device=dev), torch.randn(2048, width, device=dev)
    best = float("inf")
    for _ in range(12):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        x @ w
        if dev.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * 2048 * width * 4 * width / max(best, 1e-9), LAYER_CALL_S.get(dev.type, 1e-3)


def estimate_seconds(work: Work, student: Any, teacher: Any | None, examples: Sequence[Any],
                     eval_items: int, new_tokens: int, device: str = "cpu") -> float:
    """Seconds for a transfer with `work` on these model shapes, plus scoring `eval_items` test
    items twice (before and after) with up to `new_tokens` generated tokens each."""
    rate, per_layer = _rates(int(student.hidden), device)
    tokens = tokens_per_example(examples, work.max_len)
    ps, pt = float(student.n_params or 0), float(teacher.n_params or 0) if teacher else 0.0
    flops = tokens * (6 * ps * work.student_train + 6 * pt * work.teacher_train
                      + 2 * ps * work.student_forward + 2 * pt * work.teacher_forward)
    layers = max(student.n_layers, teacher.n_layers if teacher else 0)
    seconds = flops / rate + work.calls * layers * per_layer * 3  # a backward costs ~2 forwards
    # Scoring: each item's prompt once, then one call per new token for each batch of items.
    flops_eval = 2 * eval_items * 2 * ps * (tokens + new_tokens)
    decode_calls = 2 * -(-eval_items // EVAL_BATCH) * new_tokens
    raw = seconds + flops_eval / rate + decode_calls * student.n_layers * per_layer
    return raw * MEASURED_OVER_RAW


def format_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"
