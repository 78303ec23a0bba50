"""How good is the up-front time estimate (`pkt_core.infra.budget`) that public mode refuses long
transfers with? Runs small transfers of every paradigm on the embedded pair and prints one JSON
object: per run the estimate, the measured seconds (metrics.json: from the base score to the
last score, model loading excluded) and their ratio.

Run as `python benchmarks/bench_estimate.py [--eval-limit 30] [--out DIR]`. Compare ratios within
one run: these machines vary 10-30 % from run to run.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as app.py: no spin-waiting on small matmuls
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.scratch import scratch_dir  # noqa: E402
from pkt_core.transfer import TransferRequest, prepare, run_transfer  # noqa: E402

CASES = [("lora", "research", {"epochs": 1.0}), ("pissa", "research", {"epochs": 0.5}),
         ("seeking", "research", {"epochs": 1.0}), ("laten", "lab", {}),
         ("laten", "research", {"steps": 10}), ("lora", "research", {"epochs": 2.0, "rank": 4})]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--eval-limit", type=int, default=30)
    parser.add_argument("--task", default="facts")
    parser.add_argument("--out", default=None, help="runs folder (default: a temp folder)")
    args = parser.parse_args()
    with scratch_dir("pkt-bench-estimate-") as tmp:  # runs go to --out (kept) or here (removed)
        out = Path(args.out) if args.out else tmp
        rows = []
        for i, (paradigm, preset, settings) in enumerate(CASES):
            request = TransferRequest(paradigm=paradigm, student="pkt-tiny-student",
                                      teacher="pkt-tiny-teacher", task=args.task, preset=preset,
                                      settings=settings, eval_limit=args.eval_limit,
                                      out=str(out / f"{i}-{paradigm}"))
            prepared = prepare(request)
            result = run_transfer(prepared)
            measured = result.metrics["seconds"]
            rows.append({"paradigm": paradigm, "preset": preset, "settings": settings,
                         "estimated_s": round(prepared.estimated_seconds, 2),
                         "measured_s": measured,
                         "ratio": round(measured / prepared.estimated_seconds, 2)})
        ratios = [r["ratio"] for r in rows]
        print(json.dumps({"eval_limit": args.eval_limit, "task": args.task, "runs": rows,
                          "ratio_median": statistics.median(ratios), "ratio_min": min(ratios),
                          "ratio_max": max(ratios)}, indent=2))


if __name__ == "__main__":
    main()
