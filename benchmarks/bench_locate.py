"""Logit-lens attribution speed and memory (pkt_core.locate). Prints one JSON object.

As in a LaTen run: the 20 extract examples (~200 tokens each) are located for the teacher and for
the student with `locate_each` — per-example results, one batched pass per model, as LaTen does —
and `seconds_per_example` is the pair's time divided by 20 (it includes computing the cached B
matrices). `per_call` repeats the measurement with one locate() call per example and model (each
model reusing its LocateCache), the way a caller with a single example pays. The 7B-shaped single
layer (hidden 4096, FFN 11008, 32 heads, vocab 32000, fp32) is located once and compared with the
unavoidable work alone: the products W_U·diag(g)·W_down and W_U·diag(g)·W_o, timed chunk by chunk.

    python benchmarks/bench_locate.py [--only pair_a,pair_b,embedded,layer_7b] [--examples 20]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from pkt_core.locate import (LocateCache, LocateConfig, locate, locate_each,  # noqa: E402
                             unembed_neuron_matrices)
from pkt_core.models import arch_for_config, embedded_models, load_model  # noqa: E402
from pkt_core.models.synthetic import byte_tokenizer, random_model  # noqa: E402

NAMES = ["Velora", "Amrit", "Kestra", "Orlin", "Tavi", "Morrow", "Quenby", "Ishara", "Delm", "Fenwick"]


def make_examples(tokenizer, n: int, n_tokens: int = 200) -> list[tuple[str, str]]:
    """n (prompt, answer) pairs whose prompt + answer is about n_tokens tokens for this tokenizer."""
    out = []
    for i in range(n):
        words, prompt = [], ""
        k = i
        while len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) < n_tokens - 4:
            a, b = NAMES[k % 10], NAMES[(k * 7 + 3) % 10]
            words.append(f"The capital of {a} is {b}; {k % 97} + {k % 13} = {k % 97 + k % 13}.")
            prompt = " ".join(words)
            k += 3
        out.append((prompt + f" The capital of {NAMES[i % 10]} is", f" {NAMES[(i + 4) % 10]}."))
    return out


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakRSS:
    """Samples RSS every 2 ms in a thread; `.extra_mb` = peak growth over the value at entry."""

    def __enter__(self):
        self.base = self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())
        self.extra_mb = self.peak - self.base


def bench_pair(teacher, student, n_examples: int) -> dict:
    """teacher/student: (model, tokenizer, spec). LaTen's batched per-example locate, then per call."""
    models = {"teacher": teacher, "student": student}
    examples = {role: make_examples(m[1], n_examples) for role, m in models.items()}
    batched = {}
    with PeakRSS() as mem_batched:
        start, cpu0 = time.perf_counter(), time.process_time()
        for role, (model, tok, spec) in models.items():
            t0 = time.perf_counter()
            results = locate_each(model, tok, spec, examples[role], cache=LocateCache())
            assert len(results) == n_examples
            batched[role] = {"seconds": round(time.perf_counter() - t0, 4),
                             "seconds_by_part": {k: round(v, 4) for k, v in results[0].timings.items()},
                             "used_matrix_cache": results[0].used_matrix_cache}
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    per_call = bench_pair_per_call(models, examples, n_examples)
    return {
        "seconds_per_example": round(wall / n_examples, 4),
        "cpu_seconds_per_example": round(cpu / n_examples, 4),
        "mode": "locate_each: one batched pass per model over the examples (LaTen's way)",
        "by_model": batched,
        "dominant": max(((r, k) for r in batched for k in batched[r]["seconds_by_part"]),
                        key=lambda rk: batched[rk[0]]["seconds_by_part"][rk[1]]),
        "peak_extra_mb": round(mem_batched.extra_mb, 1),
        "per_call": per_call,
        "shapes": per_call.pop("shapes"),
    }


def bench_pair_per_call(models: dict, examples: dict, n_examples: int) -> dict:
    """One locate() per model per example, each model's LocateCache reused."""
    caches = {role: LocateCache() for role in models}
    parts = {role: {"forward": 0.0, "matrices": 0.0, "scoring": 0.0} for role in models}
    per_example, cpu = [], 0.0
    used_cache = True
    with PeakRSS() as mem:
        for i in range(n_examples):
            start, cpu0 = time.perf_counter(), time.process_time()
            for role, (model, tok, spec) in models.items():
                res = locate(model, tok, spec, [examples[role][i]], cache=caches[role])
                used_cache &= res.used_matrix_cache
                for k, v in res.timings.items():
                    parts[role][k] += v
            per_example.append(time.perf_counter() - start)
            cpu += time.process_time() - cpu0
    n_tok = len(models["teacher"][1](examples["teacher"][0][0], add_special_tokens=False)["input_ids"])
    ordered = sorted(per_example)
    return {
        "seconds_per_example": round(sum(per_example) / n_examples, 4),
        "first_example_seconds": round(per_example[0], 4),
        "median_seconds": round(ordered[n_examples // 2], 4),
        "cpu_seconds_per_example": round(cpu / n_examples, 4),  # both threads; > wall when parallel
        "tokens_per_example": n_tok,
        "used_matrix_cache": used_cache,
        "cache_mb": {r: round(c.nbytes / 2**20, 1) for r, c in caches.items()},
        "seconds_by_part": {r: {k: round(v / n_examples, 4) for k, v in p.items()} for r, p in parts.items()},
        "dominant_part": max(((r, k) for r in parts for k in parts[r]), key=lambda rk: parts[rk[0]][rk[1]]),
        "peak_extra_mb": round(mem.extra_mb, 1),
        "shapes": {r: {"layers": m[0].config.num_hidden_layers, "hidden": m[0].config.hidden_size,
                       "ffn": m[0].config.intermediate_size, "heads": m[0].config.num_attention_heads,
                       "vocab": m[0].config.vocab_size} for r, m in models.items()},
    }


def random_pair(t_layers, t_hidden, t_ffn, s_layers, s_hidden, s_ffn, t_heads=8, s_heads=8):
    tok = byte_tokenizer()
    out = []
    shapes = ((t_layers, t_hidden, t_ffn, t_heads), (s_layers, s_hidden, s_ffn, s_heads))
    for seed, (L, d, f, h) in enumerate(shapes):
        model = random_model(seed, family="llama", n_layers=L, hidden=d, ffn=f, n_heads=h, vocab=3000)
        out.append((model, tok, arch_for_config(model.config)))
    return out


def bench_layer_7b() -> dict:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=1,
                         num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096,
                         tie_word_embeddings=False, bos_token_id=None, eos_token_id=1, pad_token_id=0)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    spec = arch_for_config(config)
    tok = byte_tokenizer()
    example = make_examples(tok, 1)[0]
    cfg = LocateConfig()

    # The unavoidable work alone, in the neuron chunks locate() uses (so no 1.9 GB result is held);
    # each call does one chunk of both products (B_o's chunks run out after its 4096 columns).
    chunk = (cfg.memory_budget_mb * 2**20 // 4) // (4 * (32000 + 4096))
    start = time.perf_counter()
    for k0 in range(0, 11008, chunk):
        unembed_neuron_matrices(model, spec, 0, slice(k0, k0 + chunk))
    unavoidable = time.perf_counter() - start
    with PeakRSS() as mem:
        res = locate(model, tok, spec, [example], cfg)
    return {"seconds": round(res.seconds, 2), "unavoidable_seconds": round(unavoidable, 2),
            "ratio": round(res.seconds / unavoidable, 3), "peak_extra_mb": round(mem.extra_mb, 1),
            "seconds_by_part": res.timings, "tokens": len(tok(example[0])["input_ids"]),
            "unavoidable_tflop": round(2 * 32000 * 4096 * (11008 + 4096) / 1e12, 2),
            "model_rss_mb": round(mem.base, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="pair_a,pair_b,embedded,layer_7b")
    parser.add_argument("--examples", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    only = set(args.only.split(","))
    report: dict = {"threads": torch.get_num_threads(), "examples": args.examples,
                    "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "(default: spin)"),
                    "load_average_at_start": round(os.getloadavg()[0], 2)}
    if "pair_a" in only:
        report["pair_a"] = bench_pair(*random_pair(8, 256, 688, 4, 128, 344, 8, 4), args.examples)
    if "pair_b" in only:
        report["pair_b"] = bench_pair(*random_pair(16, 512, 1376, 8, 256, 688), args.examples)
    if "embedded" in only:
        have = embedded_models()
        if {"pkt-tiny-teacher", "pkt-tiny-student"} <= set(have):
            pair = []
            for name in ("pkt-tiny-teacher", "pkt-tiny-student"):
                lm = load_model(name, device="cpu")
                pair.append((lm.model, lm.tokenizer, lm.spec))
            report["embedded"] = bench_pair(*pair, args.examples)
        else:
            report["embedded"] = {"skipped": "assets/models/pkt-tiny-teacher and pkt-tiny-student are "
                                             f"not built yet (found: {have or 'none'})"}
    if "layer_7b" in only:
        report["layer_7b"] = bench_layer_7b()
    report["load_average_at_end"] = round(os.getloadavg()[0], 2)
    report["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
