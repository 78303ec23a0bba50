"""Transfer speed on 2 CPU cores. Prints one JSON object.

Per LaTen step, split into: locate (LaTen locates all its extract examples up front in one batched
pass per model, `LaTenEngine.locate_many`; its time is spread over the steps — one locate() call
per model and step is timed beside it for reference), translate, the 16-example
forward/backward, optimiser; Seeking sensitivity and extraction; LoRA fine-tuning tokens/s; peak RSS.
For reference pair A (random teacher 8×256 / student 4×128, vocabulary 3000, 16 align examples of
up to 256 tokens) and for the embedded pair when it is built. Target: a LaTen step on pair A ≤ 0.5 s
(the published code needs about 5 s).
"""
from __future__ import annotations

import json
import os
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI and the app run (see README)

import torch  # noqa: E402

from pkt_core.models import embedded_models, load_model  # noqa: E402
from pkt_core.models.synthetic import save_random_model  # noqa: E402
from pkt_core.paradigms.base import TransferContext  # noqa: E402
from pkt_core.paradigms.baselines import LoRAConfig  # noqa: E402
from pkt_core.paradigms.common import answer_loss, attach_lora, lm_batch, one_cycle_lr  # noqa: E402
from pkt_core.paradigms.laten import LaTenConfig, LaTenEngine, _per_example_loss  # noqa: E402
from pkt_core.paradigms.seeking import teacher_sensitivity  # noqa: E402
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


def bench_pair(teacher_ref: str, student_ref: str, task: Task, splits: dict) -> dict:
    teacher, student = load_model(teacher_ref), load_model(student_ref)
    config = LaTenConfig()
    engine = LaTenEngine(teacher, student, config)
    optimiser = torch.optim.AdamW(engine.hyper.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay, betas=config.betas)
    parts = {"locate_teacher_per_call": [], "locate_student_per_call": [], "translate": [],
             "forward_backward": [], "optimiser": [], "total": []}
    rng = random.Random(0)
    from pkt_core.locate import locate

    extract = splits["extract"]  # all 20, as a run with the research's defaults (a step each)
    located, t_batched = _timed(lambda: engine.locate_many([(ex.prompt, ex.answer) for ex in extract]))
    parts["locate_batched_per_step"] = [t_batched / len(extract)]
    for step in range(STEPS + 1):  # step 0 warms caches and is not counted
        ex = extract[step]
        t0 = time.perf_counter()
        _, t_loc = _timed(lambda: locate(teacher.model, teacher.tokenizer, teacher.spec,
                                         [(ex.prompt, ex.answer)], engine.loc_config,
                                         cache=engine.caches[0]))
        _, s_loc = _timed(lambda: locate(student.model, student.tokenizer, student.spec,
                                         [(ex.prompt, ex.answer)], engine.loc_config,
                                         cache=engine.caches[1]))
        loc = engine.select(*located[step])
        items = rng.sample(splits["align"], 15) + [ex]
        batch = lm_batch(student.tokenizer, task, items, 256)
        t1 = time.perf_counter()
        deltas = engine.translate(engine.extract(loc))
        t2 = time.perf_counter()
        with engine.injecting(loc, deltas):
            loss = _per_example_loss(student.model, batch).sum() + \
                config.reg_weight * engine.regulariser(deltas) * len(items)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        t3 = time.perf_counter()
        for group in optimiser.param_groups:
            group["lr"] = one_cycle_lr(step, STEPS, config.lr)
        optimiser.step()
        t4 = time.perf_counter()
        if step == 0:
            continue
        parts["locate_teacher_per_call"].append(t_loc)
        parts["locate_student_per_call"].append(s_loc)
        parts["translate"].append(t2 - t1)
        parts["forward_backward"].append(t3 - t2)
        parts["optimiser"].append(t4 - t3)
        # the step as LaTen runs it: its share of the batched locate (not the timing calls above)
        parts["total"].append((t4 - t0) - t_loc - s_loc + t_batched / len(extract))
    mean = {k: round(sum(v) / len(v), 4) for k, v in parts.items()}

    ctx = TransferContext(student, teacher, task, splits)
    _, sens_s = _timed(lambda: teacher_sensitivity(ctx, LoRAConfig().modules, 32, 256))
    lora = attach_lora(student, LoRAConfig().modules, 16, 16.0, True)
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
    lora_tps = tokens / (time.perf_counter() - start)
    return {"laten_step_seconds": mean["total"], "laten_step_parts": mean,
            "seeking_sensitivity_seconds_32_examples": round(sens_s, 3),
            "seeking_extract_seconds": round(sens_s, 3),
            "lora_tokens_per_second": round(lora_tps, 1), "peak_rss_mb": round(_rss_mb(), 1),
            "teacher": teacher.shape.as_dict(), "student": student.shape.as_dict()}


def main() -> None:
    torch.set_num_threads(2)
    torch.manual_seed(0)
    report: dict = {"threads": torch.get_num_threads(), "steps_timed": STEPS}
    with scratch_dir("pkt-bench-transfer-") as tmp:
        t_dir = save_random_model(tmp / "t", n_layers=8, hidden=256, ffn=688, n_heads=8, vocab=3000)
        s_dir = save_random_model(tmp / "s", n_layers=4, hidden=128, ffn=344, n_heads=4, vocab=3000)
        examples = _random_examples(300, 256, 0)
        task = _TextTask(examples)
        splits = {"extract": examples[:20], "align": examples[20:100], "train": examples[100:],
                  "test": []}
        report["pair_a"] = bench_pair(str(t_dir), str(s_dir), task, splits)
    if {"pkt-tiny-teacher", "pkt-tiny-student"} <= set(embedded_models()):
        facts = get_task("facts")
        report["embedded"] = bench_pair("pkt-tiny-teacher", "pkt-tiny-student", facts,
                                        facts.splits(0))
    else:
        report["embedded"] = {"skipped": "the embedded family is not built"}
    report["target_pair_a_step_seconds"] = 0.5
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
