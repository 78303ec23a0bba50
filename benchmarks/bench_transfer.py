"""Transfer speed on 2 CPU cores. Prints one JSON object.

Per LaTen step, through `LaTenEngine.step` (the step `LaTen.run` runs) at the research's settings,
split into its phases: batch, translate, forward/backward (16 examples), optimiser, alignment; and
locate (LaTen locates all its extract examples up front in one batched pass per model,
`LaTenEngine.locate_many`; its time is spread over the steps — one locate() call per model and step
is timed beside it for reference). Seeking: sensitivity and extraction (`subblock_lora_init` for
every kept layer and module); LoRA fine-tuning tokens/s; peak RSS. For reference pair A (random
teacher 8×256 / student 4×128, vocabulary 3000, 15 align examples + the step's own, of up to 256
tokens) and for the embedded pair when it is built. Target: a LaTen step on pair A ≤ 0.5 s (the
published code needs about 5 s).

    python benchmarks/bench_transfer.py
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI and the app run (see README)

import torch  # noqa: E402

from pkt_core.analyse import select_layers, subblock_lora_init  # noqa: E402
from pkt_core.locate import locate  # noqa: E402
from pkt_core.models import block_part, embedded_models, load_model  # noqa: E402
from pkt_core.models.synthetic import save_random_model  # noqa: E402
from pkt_core.paradigms.base import TransferContext  # noqa: E402
from pkt_core.paradigms.baselines import LoRAConfig  # noqa: E402
from pkt_core.paradigms.common import answer_loss, attach_lora, lm_batch  # noqa: E402
from pkt_core.paradigms.laten import LaTenConfig, LaTenEngine  # noqa: E402
from pkt_core.paradigms.seeking import layer_sensitivity, teacher_sensitivity  # noqa: E402
from pkt_core.tasks import Example, get_task  # noqa: E402
from pkt_core.tasks.base import Task  # noqa: E402
from benchmarks.scratch import scratch_dir  # noqa: E402

STEPS = 5
WORDS = ("the capital of velora is amrit and its river runs north past old towns where people "
         "trade salt for copper coins every spring season").split()


class _TextTask(Task):
    name, kind = "bench-text", "exact"

    def __init__(self, examples: list[Example]) -> None:
        self._examples = examples

    def load_examples(self) -> list[Example]:
        return self._examples


def _random_examples(n: int, approx_tokens: int, seed: int) -> list[Example]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words = rng.randint(approx_tokens // 10, approx_tokens // 5)  # ~4 byte-BPE tokens a word
        prompt = " ".join(rng.choice(WORDS) for _ in range(words))
        out.append(Example(f"b{i}", prompt, " ".join(rng.choice(WORDS) for _ in range(8))))
    return out


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


LATEN_PHASES = ("batch", "translate", "forward_backward", "optimiser", "alignment")


class PhaseClock:
    """`phase_done` for `LaTenEngine.step`: the seconds each phase took, from `start()` on. `sync`
    runs before each reading (torch.cuda.synchronize on a GPU, whose kernels run asynchronously)."""

    def __init__(self, sync: Callable[[], None] = lambda: None) -> None:
        self.sync, self.seconds, self.last = sync, {}, 0.0

    def start(self) -> None:
        self.sync()
        self.seconds, self.last = {}, time.perf_counter()

    def __call__(self, phase: str) -> None:
        self.sync()
        now = time.perf_counter()
        self.seconds[phase], self.last = now - self.last, now


def laten_step_parts(teacher, student, task: Task, splits: dict, steps: int) -> dict:
    """Mean seconds of each phase of `steps` LaTen steps (a warm-up step before is not counted),
    locate as LaTen does it (its batched pass's share per step) and one locate() call per model."""
    engine = LaTenEngine(teacher, student, LaTenConfig())
    extract = splits["extract"]  # all 20, as a run with the research's defaults (a step each)
    pairs = [(task.prompt(ex), ex.answer) for ex in extract]
    located, t_batched = _timed(lambda: engine.locate_many(pairs))
    engine.start_training(steps + 1)
    parts: dict[str, list[float]] = {k: [] for k in (*LATEN_PHASES, "locate_teacher_per_call",
                                                     "locate_student_per_call")}
    clock = PhaseClock()
    for index in range(steps + 1):  # step 0 warms caches and is not counted
        pair, per_call = pairs[index % len(pairs)], []
        for model, cache in zip((teacher, student), engine.caches):
            _, seconds = _timed(lambda: locate(model.model, model.tokenizer, model.spec, [pair],
                                               engine.loc_config, cache=cache))
            per_call.append(seconds)
        clock.start()
        engine.step(index, task, extract[index % len(extract)], splits["align"],
                    located[index % len(located)], phase_done=clock)
        if index:
            for phase in LATEN_PHASES:
                parts[phase].append(clock.seconds[phase])
            parts["locate_teacher_per_call"].append(per_call[0])
            parts["locate_student_per_call"].append(per_call[1])
    mean = {k: round(sum(v) / len(v), 4) for k, v in parts.items()}
    mean["locate_batched_per_step"] = round(t_batched / len(extract), 4)
    # the step as LaTen runs it: its phases and its share of the batched locate
    mean["total"] = round(sum(mean[k] for k in (*LATEN_PHASES, "locate_batched_per_step")), 4)
    return mean


def seeking_and_lora(teacher, student, task: Task, splits: dict) -> dict:
    """Seeking's sensitivity on 32 examples and its extraction (`subblock_lora_init` for every
    kept layer and module); LoRA fine-tuning tokens/s over 4 batches of 16."""
    modules = LoRAConfig().modules
    ctx = TransferContext(student, teacher, task, splits)
    sens, sens_s = _timed(lambda: teacher_sensitivity(ctx, modules, 32, 256))
    layers = select_layers(layer_sensitivity(sens, teacher.shape.n_layers), student.shape.n_layers)

    def extract() -> None:  # what Seeking.run cuts before fine-tuning, rank 16
        for s_layer, t_layer in enumerate(layers):
            for name in modules:
                shape = block_part(student.model, student.spec, s_layer, name).weight.shape
                subblock_lora_init(block_part(teacher.model, teacher.spec, t_layer, name).weight,
                                   sens[(t_layer, name)], tuple(shape), 16)

    _, extract_s = _timed(extract)
    lora = attach_lora(student, modules, 16, 16.0, True)
    lora.train()
    opt = torch.optim.AdamW([p for p in lora.parameters() if p.requires_grad], lr=3e-4)
    tokens, start = 0, time.perf_counter()
    for i in range(4):
        batch = lm_batch(student.tokenizer, task, splits["train"][i * 16:(i + 1) * 16], 256)
        loss = answer_loss(lora, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        tokens += int(batch.attention_mask.sum())
    return {"seeking_sensitivity_seconds_32_examples": round(sens_s, 3),
            "seeking_extract_seconds": round(extract_s, 3),
            "lora_tokens_per_second": round(tokens / (time.perf_counter() - start), 1)}


def bench_pair(teacher_ref: str, student_ref: str, task: Task, splits: dict, steps: int) -> dict:
    teacher, student = load_model(teacher_ref), load_model(student_ref)
    laten = laten_step_parts(teacher, student, task, splits, steps)
    rest = seeking_and_lora(teacher, student, task, splits)
    return {"laten_step_seconds": laten["total"], "laten_step_parts": laten, **rest,
            "peak_rss_mb": round(_rss_mb(), 1), "teacher": teacher.shape.as_dict(),
            "student": student.shape.as_dict()}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS,
                        help="LaTen steps timed per pair, after one warm-up step")
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    report: dict = {"threads": torch.get_num_threads(), "steps_timed": args.steps}
    with scratch_dir("pkt-bench-transfer-") as tmp:
        t_dir = save_random_model(tmp / "t", n_layers=8, hidden=256, ffn=688, n_heads=8, vocab=3000)
        s_dir = save_random_model(tmp / "s", n_layers=4, hidden=128, ffn=344, n_heads=4, vocab=3000)
        examples = _random_examples(300, 256, 0)
        task = _TextTask(examples)
        splits = {"extract": examples[:20], "align": examples[20:100], "train": examples[100:],
                  "test": []}
        report["pair_a"] = bench_pair(str(t_dir), str(s_dir), task, splits, args.steps)
    if {"pkt-tiny-teacher", "pkt-tiny-student"} <= set(embedded_models()):
        facts = get_task("facts")
        report["embedded"] = bench_pair("pkt-tiny-teacher", "pkt-tiny-student", facts,
                                        facts.splits(0), args.steps)
    else:
        report["embedded"] = {"skipped": "the embedded family is not built"}
    report["target_pair_a_step_seconds"] = 0.5
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
