"""Evaluation throughput (items/s) of a tiny model on each task shape. Prints one JSON object.

Uses the embedded student when it is built, else a random tiny Llama (its answers are noise, but
the generation, likelihood scoring and sandbox work is the same).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI and the app run (see README)

import torch  # noqa: E402

from benchmarks.scratch import scratch_dir  # noqa: E402
from pkt_core.evaluate import evaluate_task  # noqa: E402
from pkt_core.models import embedded_models, load_model  # noqa: E402
from pkt_core.models.synthetic import save_random_model  # noqa: E402
from pkt_core.tasks import get_task  # noqa: E402
from pkt_core.tasks.toyworld import TOY_TASKS  # noqa: E402

N_ITEMS = 32


def main() -> None:
    torch.set_num_threads(2)
    with scratch_dir("pkt-bench-eval-") as tmp:  # the random model is loaded, then removed
        if "pkt-tiny-student" in embedded_models():
            ref = "pkt-tiny-student"
        else:
            ref = str(save_random_model(tmp / "m", n_layers=4, hidden=128, ffn=344, n_heads=4))
        loaded = load_model(ref)
    report: dict = {"model": "pkt-tiny-student" if ref == "pkt-tiny-student" else "random 4x128",
                    "items_per_task": N_ITEMS, "tasks": {}}
    for name in TOY_TASKS:
        task = get_task(name)
        start = time.perf_counter()
        result = evaluate_task(loaded.model, loaded.tokenizer, task, "test", N_ITEMS)
        seconds = time.perf_counter() - start
        report["tasks"][name] = {"kind": task.kind, "items_per_second": round(result.n / seconds, 2),
                                 "seconds": round(seconds, 2), "score": round(result.score, 3)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
