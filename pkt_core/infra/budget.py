"""How long a transfer will take and how much memory it needs, estimated before any weight is
loaded, so a public lab can refuse one that would hold its only heavy slot for hours (`epochs=1e6`
was accepted: 16 M steps) and a GPU user can see which pair fits (`memory_phases`).

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
from typing import Any, Callable, Sequence

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
    # What the memory estimate needs to know of the algorithm (`memory_phases`), declared by
    # each paradigm's `work` as data, so this module names no paradigm:
    micro_batch: int = 16  # examples in one backward pass through the student
    # working memory of attribution (LocateConfig.memory_budget_mb); 0: the paradigm locates nothing
    locate_mb: int = 0
    # an fp32 sum per teacher projection weight, filled by a backward pass through the teacher
    teacher_gradient_sums: bool = False
    # parameters trained with AdamW, from the two shapes: (student, teacher or None) → count
    trained_params: Callable[[Any, Any], int] | None = None


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


# ---- how much memory -----------------------------------------------------------------------------
# Peak bytes of each phase of a transfer, from the two shapes alone. Activations a backward pass
# keeps, per token and layer: the block's input and norms, q/k/v, the attention output, the MLP's
# gate, up, activation and product — about 8·d + 4·f values (sdpa keeps no score matrix) — plus the
# logits, their log-softmax and its gradient in fp32. Trainable fp32 parameters cost 16 bytes
# (weight, gradient, AdamW's two moments). `benchmarks/bench_scale.py` prints these beside the
# peaks it measures. On the SmolLM2 shapes measured/estimated was 1.02-1.04 for the fine-tuning
# paradigms and 0.80-0.82 for the locating one's phases, which count both LocateCaches at their cap
# (the teacher's could not hold one of its layers there). RSS read with a fixed malloc mmap threshold; glibc's default keeps
# freed blocks, so RSS can be ~1.5× more.

def _params(shape: Any) -> int:
    if shape.n_params:
        return int(shape.n_params)
    return 2 * shape.vocab * shape.hidden + shape.n_layers * (projection_params(shape) // shape.n_layers
                                                              + 2 * shape.hidden) + shape.hidden


def projection_params(shape: Any) -> int:
    """Weights of q, k, v, o, gate, up and down over all layers (what a LoRA on every projection
    adapts, and what a teacher's gradient sums cover)."""
    return shape.n_layers * sum(a * b for a, b in _projection_sides(shape))


def lora_params(shape: Any, rank: int) -> int:
    """Parameters of a rank-`rank` LoRA (A and B) on every projection of every layer."""
    return rank * shape.n_layers * sum(a + b for a, b in _projection_sides(shape))


def activation_bytes(shape: Any, tokens: float, bytes_per_value: int) -> float:
    """Values a backward pass through `shape` keeps for `tokens` tokens."""
    per_token = shape.n_layers * (8 * shape.hidden + 4 * shape.ffn) * bytes_per_value
    return tokens * (per_token + 3 * 4 * shape.vocab)


def memory_phases(work: Work, student: Any, teacher: Any | None, bytes_per_weight: int,
                  tokens_per_example: float | None = None) -> dict[str, float]:
    """Estimated peak bytes of each phase ("weights", "locate", "teacher sensitivity", "training")
    of a transfer with `work` on these shapes, weights stored in `bytes_per_weight` (2: bf16)."""
    tokens = float(tokens_per_example or work.max_len)
    weights = (_params(student) + (_params(teacher) if teacher else 0)) * bytes_per_weight
    phases = {"weights": float(weights)}
    # A paradigm that locates keeps a LocateCache per model, each up to half the locate budget,
    # through its steps; a locate call adds its working half on top
    caches = work.locate_mb * 2**20 if teacher is not None else 0
    if work.locate_mb and teacher is not None:
        biggest = max((student, teacher), key=lambda s: s.vocab * s.hidden)
        phases["locate"] = weights + 1.5 * caches + 3 * 4 * tokens * biggest.vocab
    if work.teacher_gradient_sums and teacher is not None:
        phases["teacher sensitivity"] = (weights + 4 * projection_params(teacher)
                                         + activation_bytes(teacher, tokens, bytes_per_weight))
    if work.student_train:
        trained = work.trained_params(student, teacher) if work.trained_params else 0
        batch_tokens = min(work.micro_batch, max(1.0, work.student_train)) * tokens
        phases["training"] = (weights + caches + 16 * trained
                              + activation_bytes(student, batch_tokens, bytes_per_weight))
    return phases


def _projection_sides(shape: Any) -> list[tuple[int, int]]:
    """(in, out) of q, k, v, o, gate, up and down of one layer."""
    d, width, kv = shape.hidden, shape.n_heads * shape.head_dim, shape.n_kv_heads * shape.head_dim
    return [(d, width), (d, kv), (d, kv), (width, d), (d, shape.ffn), (d, shape.ffn), (shape.ffn, d)]


def format_bytes(n: float) -> str:
    if n < 2**30:
        return f"{n / 2**20:.0f} MiB"
    return f"{n / 2**30:.1f} GiB"


def available_memory_bytes(device: str) -> float | None:
    """Memory free now on `device` (a GPU's free memory; the CPU's MemAvailable); None = unknown."""
    try:
        if device.startswith("cuda"):
            if not torch.cuda.is_available():
                return None
            dev = torch.device(device)
            # memory torch freed but keeps in its cache is free to torch, though not to the driver
            cached = torch.cuda.memory_reserved(dev) - torch.cuda.memory_allocated(dev)
            return float(torch.cuda.mem_get_info(dev)[0] + cached)
        with open("/proc/meminfo") as fh:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in fh}
        return float(info.get("MemAvailable", info["MemTotal"]))
    except (OSError, KeyError, ValueError, RuntimeError):
        return None
