"""Real-scale shapes with random weights: load, locate, LaTen step, Seeking, LoRA. Prints one JSON object.

Pairs (teacher → student) built from configs with the real published shapes and random weights:
SmolLM2-360M → 135M, Qwen2.5-1.5B → 0.5B (GQA) and Llama-2-13B → 7B. They use the embedded
pkt-tiny-student tokenizer (its ids all lie inside every real vocabulary). Per shape: load time;
locate seconds per example (one locate() call per model and example) beside the "unavoidable"
products alone (W_U·diag(g)·W_down and W_U·diag(g)·W_o for every layer of both models, in the
chunks locate() uses — recomputed on every call when the LocateCache cannot hold them); a LaTen
step without locate, through `LaTenEngine.step` (batch, translate, forward/backward through the
injecting hooks, optimiser, alignment);
Seeking sensitivity for a couple of examples; LoRA tokens/s; peak RSS (and peak GPU memory on
CUDA), per phase beside budget.memory_phases' estimate for the same batch. A shape whose
estimated peak (+15 %) exceeds the memory available is skipped and "skipped" says why. The
temporary models are always removed (benchmarks/scratch.py). `--memory-table` prints README's
table of estimated peaks per preset and exits.

    python benchmarks/bench_scale.py [--only smollm2,qwen25,llama2] [--device cpu|cuda]
                                     [--examples 2] [--out DIR] [--tiny] [--memory-table]
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import random
import resource
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.bench_locate import PeakRSS, rss_mb  # noqa: E402  (the same RSS sampler)
from benchmarks.scratch import scratch_dir  # noqa: E402
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI and the app run (see README)

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TOKENIZER_DIR = ROOT / "assets" / "models" / "pkt-tiny-student"
# name: (family, teacher shape, student shape); shape = (layers, hidden, heads, kv heads, ffn, vocab,
# tied embeddings) as published (SmolLM2 and these Qwen2.5 sizes tie the output to the input
# embedding, Llama-2 does not).
SHAPES = {
    "smollm2": ("llama", (32, 960, 15, 5, 2560, 49152, True), (30, 576, 9, 3, 1536, 49152, True)),
    "qwen25": ("qwen2", (28, 1536, 12, 2, 8960, 151936, True), (24, 896, 14, 2, 4864, 151936, True)),
    "llama2": ("llama", (40, 5120, 40, 40, 13824, 32000, False), (32, 4096, 32, 32, 11008, 32000, False)),
}
TINY_SHAPES = {  # the same pairs in miniature (same families, GQA and tying kept), for tests and CPU checks
    "smollm2": ("llama", (4, 60, 3, 1, 160, 3072, True), (3, 36, 3, 1, 96, 3072, True)),
    "qwen25": ("qwen2", (4, 96, 6, 2, 240, 3200, True), (3, 56, 7, 1, 128, 3200, True)),
    "llama2": ("llama", (4, 80, 4, 4, 216, 3000, False), (3, 64, 4, 4, 172, 3000, False)),
}
PRESET_OF = {"smollm2": "SmolLM2 360M → 135M", "qwen25": "Qwen2.5 1.5B → 0.5B",
             "llama2": "Llama-2 13B → 7B"}
TEXT = ("the capital of velora is amrit and its river runs north past old towns where people "
        "trade salt for copper coins every spring season").split()


def param_count(family: str, shape: tuple) -> int:
    layers, d, heads, kv, ffn, vocab, tied = shape
    hd = d // heads
    per_layer = 2 * d * heads * hd + 2 * d * kv * hd + 3 * d * ffn + 2 * d
    if family == "qwen2":  # q, k and v carry biases
        per_layer += heads * hd + 2 * kv * hd
    return (1 if tied else 2) * vocab * d + layers * per_layer + d


def model_shape(family: str, shape: tuple):
    from pkt_core.models.architectures import ModelShape

    layers, d, heads, kv, ffn, vocab, _ = shape
    return ModelShape(family, layers, d, ffn, heads, kv, d // heads, vocab, param_count(family, shape))


def estimated_phases(family: str, t_shape: tuple, s_shape: tuple, bytes_per_weight: int,
                     batch: int = 16, max_len: int = 256, tokens: float | None = None) -> dict:
    """budget.memory_phases for LaTen, Seeking and LoRA with the research's settings (LaTen: 15
    align examples + its own per step; fine-tuning: micro-batches of 16), or a bench's batch."""
    from pkt_core.infra.budget import memory_phases
    from pkt_core.paradigms.base import get_paradigm

    teacher, student = model_shape(family, t_shape), model_shape(family, s_shape)
    splits = {"extract": [None] * 20, "align": [None] * (batch - 1), "train": [None] * 1000}
    out = {}
    for name in ("laten", "seeking", "lora"):
        paradigm = get_paradigm(name)
        work = paradigm.work(paradigm.config_class(max_len=max_len), splits)
        if name != "laten":
            work = replace(work, micro_batch=batch)
        out[name] = memory_phases(work, student, teacher if paradigm.needs_teacher else None,
                                  bytes_per_weight, tokens)
    return out


def memory_table() -> str:
    """README's table: the estimated peak of each preset in bf16 with the research's settings."""
    gib = 2**30
    rows = ["| pair | parameters (teacher + student) | both in bf16 | LaTen | Seeking | LoRA (student only) |",
            "|---|---|---|---|---|---|"]
    for name, (family, t_shape, s_shape) in SHAPES.items():
        est = estimated_phases(family, t_shape, s_shape, 2)
        pt, ps = param_count(family, t_shape), param_count(family, s_shape)
        peaks = [max(est[p].values()) / gib for p in ("laten", "seeking", "lora")]
        rows.append(f"| {PRESET_OF[name]} | {pt / 1e9:.2f}B + {ps / 1e9:.2f}B | "
                    f"{(pt + ps) * 2 / gib:.1f} GiB | " + " | ".join(f"{v:.1f} GiB" for v in peaks) + " |")
    return "\n".join(rows)


def available_bytes(device: str) -> int:
    if device == "cuda":
        return torch.cuda.mem_get_info()[0]
    with open("/proc/meminfo") as fh:
        info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in fh}
    return info.get("MemAvailable", info["MemTotal"])


def release_free_memory() -> None:
    """Hand freed heap pages back to the OS (glibc's malloc_trim), so that RSS reads the memory
    still in use: otherwise a phase's RSS includes what earlier phases freed but malloc kept."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: RSS stays an upper bound
        pass


class PhasePeaks:
    """Peak RSS (and peak GPU memory on CUDA) of each named phase: `with peaks("locate"): ...`;
    RSS at the phase's start is read after release_free_memory()."""

    def __init__(self, device: str) -> None:
        self.device, self.rss_mb, self.start_mb, self.gpu_mb = device, {}, {}, {}

    def __call__(self, phase: str):
        peaks = self

        class _Phase(PeakRSS):
            def __enter__(self):
                release_free_memory()
                peaks.start_mb[phase] = round(rss_mb(), 1)
                if peaks.device == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                return super().__enter__()

            def __exit__(self, *exc):
                super().__exit__(*exc)
                peaks.rss_mb[phase] = round(self.peak, 1)
                if peaks.device == "cuda":
                    peaks.gpu_mb[phase] = round(torch.cuda.max_memory_allocated() / 2**20, 1)

        return _Phase()

    def as_dict(self) -> dict:
        return {"peak_rss_mb_by_phase": self.rss_mb, "rss_at_phase_start_mb": self.start_mb,
                **({"peak_gpu_mb_by_phase": self.gpu_mb} if self.device == "cuda" else {})}


def note(message: str) -> None:  # progress on stderr: how far a run got if it is cut short
    print(f"[bench_scale {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def save_shape(out: Path, family: str, shape: tuple, seed: int, dtype: torch.dtype,
               device: str = "cpu") -> Path:
    """A random model of `shape` saved with the embedded tokenizer; returns its directory. Built on
    `device` (random init of a 13B model is minutes on a CPU, seconds on a GPU)."""
    from transformers import AutoModelForCausalLM

    from pkt_core.models.synthetic import random_config

    layers, d, heads, kv, ffn, vocab, tied = shape
    config = random_config(family, n_layers=layers, hidden=d, ffn=ffn, n_heads=heads, n_kv_heads=kv,
                           vocab=vocab, max_positions=4096)
    config.tie_word_embeddings = tied
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, torch_dtype=dtype)
    model.save_pretrained(out)
    del model
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (TOKENIZER_DIR / name).is_file():
            shutil.copy(TOKENIZER_DIR / name, out / name)
    return out


def make_examples(n: int, seed: int, words: tuple[int, int] = (40, 60)):
    from pkt_core.tasks import Example

    rng = random.Random(seed)
    return [Example(f"s{i}", " ".join(rng.choice(TEXT) for _ in range(rng.randint(*words))),
                    " " + " ".join(rng.choice(TEXT) for _ in range(6))) for i in range(n)]


def text_task(examples):
    from pkt_core.tasks.base import Task

    class _TextTask(Task):
        name, kind = "bench-scale-text", "exact"

        def load_examples(self):
            return examples

    return _TextTask()


def unavoidable_seconds(loaded, config) -> float:
    """W_U·diag(g)·W_down and W_U·diag(g)·W_o for every layer, in locate()'s chunks (one pass)."""
    from pkt_core.locate import unembed_neuron_matrices

    model, spec = loaded.model, loaded.spec
    vocab, d = model.get_output_embeddings().weight.shape
    ffn = model.config.intermediate_size
    chunk = max(1, (config.memory_budget_mb * 2**20 // 4) // (4 * (vocab + d)))
    start = time.perf_counter()
    with torch.no_grad():
        for layer in range(model.config.num_hidden_layers):
            for k0 in range(0, ffn, chunk):
                unembed_neuron_matrices(model, spec, layer, slice(k0, k0 + chunk))
    if loaded.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def bench_locate(engine, examples) -> tuple[dict, list]:
    """One locate() per model and example (LaTen's caches), LaTen's batched locate_many, and the
    unavoidable products alone (once per pass: per example for single calls, per batch for
    locate_many)."""
    from pkt_core.locate import locate

    t, s = engine.teacher, engine.student
    per_example, results, parts = [], [], {"teacher": [], "student": []}
    for ex in examples:
        pair = (ex.prompt, ex.answer)
        t_res, t_s = _timed(lambda: locate(t.model, t.tokenizer, t.spec, [pair], engine.loc_config,
                                           cache=engine.caches[0]))
        s_res, s_s = _timed(lambda: locate(s.model, s.tokenizer, s.spec, [pair], engine.loc_config,
                                           cache=engine.caches[1]))
        per_example.append(t_s + s_s)
        parts["teacher"].append(t_res.timings)
        parts["student"].append(s_res.timings)
        results.append((t_res, s_res))
    # LaTen's own mode: every extract example in one batched pass per model (the B products are made
    # once per pass and serve all its examples), caches cleared so nothing is reused from above
    for cache in engine.caches:
        cache.clear()
    _, batched_s = _timed(lambda: engine.locate_many([(ex.prompt, ex.answer) for ex in examples]))
    unavoidable = unavoidable_seconds(t, engine.loc_config) + unavoidable_seconds(s, engine.loc_config)
    n = len(examples)
    by_part = {role: {k: round(sum(p[k] for p in ps) / n, 3) for k in ps[0]} for role, ps in parts.items()}
    return {"seconds_per_example": round(sum(per_example) / n, 3),
            "batched_seconds_per_example": round(batched_s / n, 3),
            "first_example_seconds": round(per_example[0], 3),
            "unavoidable_seconds_per_example": round(unavoidable, 3),
            "ratio": round(sum(per_example) / n / unavoidable, 3) if unavoidable else None,
            "seconds_by_part": by_part,
            "used_matrix_cache": bool(results[-1][0].used_matrix_cache),
            "tokens_per_example": len(t.tokenizer(examples[0].prompt + examples[0].answer,
                                                  add_special_tokens=False)["input_ids"]),
            "unavoidable_tflop": round(sum(unavoidable_flop(m) for m in (t, s)) / 1e12, 2)}, results


def unavoidable_flop(loaded) -> float:
    c = loaded.model.config
    width = c.num_attention_heads * (c.hidden_size // c.num_attention_heads)
    return 2.0 * c.vocab_size * c.hidden_size * (c.intermediate_size + width) * c.num_hidden_layers


def laten_steps(engine, located, task, extract, align) -> dict:
    """LaTen steps through `LaTenEngine.step`, as they run, minus locate (done up front, as LaTen
    does): batch, translate, forward/backward (injecting), optimiser, alignment. Each step reads
    its extract example (its `located` pair) and the engine's `align_examples_per_step` of
    `align`."""
    from benchmarks.bench_transfer import LATEN_PHASES, PhaseClock

    sync = torch.cuda.synchronize if engine.device.type == "cuda" else (lambda: None)
    clock = PhaseClock(sync)
    parts: dict[str, list[float]] = {phase: [] for phase in LATEN_PHASES}
    engine.start_training(len(located))
    for index, pair in enumerate(located):
        clock.start()
        engine.step(index, task, extract[index], align, pair, phase_done=clock)
        for phase in LATEN_PHASES:
            parts[phase].append(clock.seconds[phase])
    timed = {k: v[1:] or v for k, v in parts.items()}  # the first step warms up when there are two
    mean = {k: round(sum(v) / len(v), 4) for k, v in timed.items()}
    return {"seconds": round(sum(mean.values()), 4), "parts": mean,
            "batch_examples": engine.config.align_examples_per_step + 1,
            "through": "LaTenEngine.step"}


def seeking_and_lora(teacher, student, task, examples, n_sens: int, lora_steps: int,
                     batch_size: int, max_len: int, peaks: PhasePeaks) -> dict:
    from pkt_core.paradigms.base import TransferContext
    from pkt_core.paradigms.baselines import LoRAConfig
    from pkt_core.paradigms.seeking import teacher_sensitivity

    splits = {"extract": examples[:n_sens], "align": [], "train": examples, "test": []}
    ctx = TransferContext(student, teacher, task, splits)
    with peaks("seeking_sensitivity"):
        sens, sens_s = _timed(lambda: teacher_sensitivity(ctx, LoRAConfig().modules, n_sens, max_len))
        sens_mb = sum(t.nbytes for t in sens.values()) / 2**20
        del sens
    gc.collect()
    with peaks("lora"):
        tokens, seconds = _lora_steps(student, task, examples, lora_steps, batch_size, max_len)
    return {"seeking_sensitivity_seconds": round(sens_s, 3), "seeking_sensitivity_examples": n_sens,
            "seeking_sensitivity_sums_mb": round(sens_mb, 1),
            "lora_tokens_per_second": round(tokens / seconds, 1) if seconds else None,
            "lora_steps_timed": lora_steps, "lora_batch_examples": batch_size}


def _lora_steps(student, task, examples, lora_steps: int, batch_size: int, max_len: int):
    from pkt_core.paradigms.baselines import LoRAConfig
    from pkt_core.paradigms.common import answer_loss, attach_lora, lm_batch

    lora = attach_lora(student, LoRAConfig().modules, 16, 16.0, True)
    lora.train()
    opt = torch.optim.AdamW([p for p in lora.parameters() if p.requires_grad], lr=3e-4)
    tokens, seconds = 0, 0.0
    for i in range(lora_steps + 1):  # step 0 warms up
        batch = lm_batch(student.tokenizer, task, examples[:batch_size], max_len).to(student.device)
        start = time.perf_counter()
        loss = answer_loss(lora, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if student.device.type == "cuda":
            torch.cuda.synchronize()
        if i:
            seconds += time.perf_counter() - start
            tokens += int(batch.attention_mask.sum())
    return tokens, seconds


def bench_shape(name: str, spec: tuple, args, tmp: Path) -> dict:
    from pkt_core.models import load_model
    from pkt_core.paradigms.common import lm_batch
    from pkt_core.paradigms.laten import LaTenConfig, LaTenEngine

    family, t_shape, s_shape = spec
    dtype = torch.bfloat16 if args.device == "cuda" else torch.float32
    note(f"{name}: building the random pair")
    dirs = [save_shape(tmp / f"{name}-{role}", family, shape, seed, dtype, args.device)
            for seed, (role, shape) in enumerate((("teacher", t_shape), ("student", s_shape)))]
    peaks = PhasePeaks(args.device)
    rss_before = rss_mb()  # the interpreter and torch: the estimates below leave this out
    with PeakRSS() as mem:
        with peaks("load"):
            (teacher, student), load_s = _timed(lambda: [load_model(str(d), device=args.device, dtype=dtype)
                                                         for d in dirs])
        # a step reads its extract example and batch − 1 align examples (the research: 15 + 1)
        config = LaTenConfig(align_examples_per_step=args.batch - 1, max_len=args.max_len)
        engine = LaTenEngine(teacher, student, config)
        examples = make_examples(args.examples + args.batch - 1, 0)
        task = text_task(examples)
        padded = lm_batch(student.tokenizer, task, examples[:args.batch], args.max_len).input_ids.shape[1]
        with peaks("locate"):
            loc, located = bench_locate(engine, examples[:args.examples])
        with peaks("laten_step"):
            step = laten_steps(engine, located, task, examples[:args.examples],
                               examples[args.examples:])
        del engine, located
        gc.collect()
        note(f"{name}: loaded in {load_s:.1f} s, locate {loc['seconds_per_example']} s/example, "
             f"LaTen step {step['seconds']} s")
        try:
            rest = seeking_and_lora(teacher, student, task, examples, min(2, args.examples),
                                    args.lora_steps, args.batch, args.max_len, peaks)
        except torch.cuda.OutOfMemoryError as err:  # keep what was measured (Seeking keeps fp32 sums)
            rest = {"seeking_lora_error": f"out of GPU memory: {str(err)[:200]}"}
            gc.collect()
            torch.cuda.empty_cache()
    out = {"load_seconds": round(load_s, 2), "locate": loc, "laten_step_seconds_without_locate": step["seconds"],
           "laten_step": step, **rest, "peak_rss_mb": round(mem.peak, 1), **peaks.as_dict(),
           "params": {"teacher": param_count(family, t_shape), "student": param_count(family, s_shape)},
           "rss_before_load_mb": round(rss_before, 1),
           "estimated_mb_by_phase": estimates(family, t_shape, s_shape, dtype, args, loc, padded),
           "shapes": {"family": family, **{role: dict(zip(("layers", "hidden", "heads", "kv_heads", "ffn",
                                                           "vocab", "tied"), shp))
                                           for role, shp in (("teacher", t_shape), ("student", s_shape))}}}
    if args.device == "cuda":
        out["peak_gpu_mb"] = max(peaks.gpu_mb.values())  # each phase resets the peak counter
    del teacher, student
    gc.collect()
    if args.device == "cuda":
        torch.cuda.empty_cache()
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)
    return out


def estimates(family: str, t_shape: tuple, s_shape: tuple, dtype, args, loc: dict, padded: int) -> dict:
    """The memory model's phases for this run, beside the measured peaks: one example's tokens for
    locate and the sensitivity, the padded batch (`padded` tokens an example) for training."""
    mb = {}
    for tokens in (loc["tokens_per_example"], padded):
        est = estimated_phases(family, t_shape, s_shape, torch.finfo(dtype).bits // 8, args.batch,
                               args.max_len, tokens)
        mb[tokens] = {p: {k: round(v / 2**20, 1) for k, v in phases.items()} for p, phases in est.items()}
    one, batch = mb[loc["tokens_per_example"]], mb[padded]
    # the bench's phases, in its order: load, locate, laten_step, seeking_sensitivity, lora
    return {"load": one["laten"]["weights"], "locate": one["laten"]["locate"],
            "laten_step": batch["laten"]["training"],
            "seeking_sensitivity": one["seeking"]["teacher sensitivity"], "lora": batch["seeking"]["training"]}


def skip_reason(spec: tuple, device: str) -> str | None:
    """Skip a pair whose estimated peak (budget.memory_phases, the bench's batch) would not fit."""
    per_param = 2 if device == "cuda" else 4
    est = estimated_phases(spec[0], spec[1], spec[2], per_param, batch=4)
    need = max(max(phases.values()) for phases in est.values()) * 1.15  # + the allocator's slack
    have = available_bytes(device)
    if need > have:
        params = param_count(spec[0], spec[1]) + param_count(spec[0], spec[2])
        return (f"needs about {need / 2**30:.1f} GiB ({params / 1e9:.2f}B parameters, {per_param} bytes each, "
                f"estimated peak + 15 %) but {have / 2**30:.1f} GiB is available on {device}")
    return None


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="smollm2,qwen25,llama2")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--examples", type=int, default=2)
    parser.add_argument("--out", default=None, help="folder for the temporary models (removed at the end)")
    parser.add_argument("--tiny", action="store_true", help="micro shapes (tests, CPU checks)")
    parser.add_argument("--batch", type=int, default=4, help="examples per LaTen / LoRA step")
    parser.add_argument("--max-len", type=int, default=256)
    parser.add_argument("--lora-steps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-table", action="store_true",
                        help="print README's table of estimated peaks per preset (bf16) and exit")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.memory_table:
        print(memory_table())
        return
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    torch.set_num_threads(args.threads)
    shapes = TINY_SHAPES if args.tiny else SHAPES
    only = [s for s in args.only.split(",") if s]
    unknown = sorted(set(only) - set(shapes))
    if unknown:
        raise SystemExit(f"unknown shape(s) {unknown}; known: {sorted(shapes)}")
    report: dict = {"device": args.device, "tiny": args.tiny, "examples": args.examples,
                    "threads": torch.get_num_threads(),
                    "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "(default: spin)"),
                    # glibc keeps freed blocks and raises its mmap threshold as big blocks come and go,
                    # so by default RSS overstates live memory (up to ~1.5× here); a fixed threshold
                    # (MALLOC_MMAP_THRESHOLD_=131072) makes RSS follow the live tensors
                    "MALLOC_MMAP_THRESHOLD_": os.environ.get("MALLOC_MMAP_THRESHOLD_", "(default: dynamic)"),
                    "skipped": {}}
    with scratch_dir("bench-scale-", parent=args.out) as tmp:
        report["temp_dir"] = str(tmp)
        for name in only:
            reason = skip_reason(shapes[name], args.device)
            if reason:
                report["skipped"][name] = reason
                continue
            report[name] = bench_shape(name, shapes[name], args, tmp)
    report["temp_dir_removed"] = not tmp.exists()
    report["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
