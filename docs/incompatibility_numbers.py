"""Print (as JSON) every number docs/INCOMPATIBILITY.md quotes, for the embedded pair.

    python docs/incompatibility_numbers.py [--teacher REF] [--student REF] [--limit 64]

Representation similarity (CKA and signed cosine) on the first `limit` facts/test items in chat
format; parametric similarity of rank-16 PiSSA and Seeking-style inits; logit-lens layer scores
summed over 20 facts/test items and their comparison on the relative-depth axis.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    from pkt_core.analyse import (compare_layer_attribution, parametric_similarity,
                                  representation_similarity)
    from pkt_core.locate import LocateCache, LocateResult, locate
    from pkt_core.models import load_model
    from pkt_core.tasks import get_task
    from pkt_core.tasks.base import render_chat

    parser = argparse.ArgumentParser()
    parser.add_argument("--teacher", default="pkt-tiny-teacher")
    parser.add_argument("--student", default="pkt-tiny-student")
    parser.add_argument("--limit", type=int, default=64)
    args = parser.parse_args()
    teacher, student = load_model(args.teacher, device="cpu"), load_model(args.student, device="cpu")
    task = get_task("facts")
    test = task.split("test")
    texts = [render_chat(ex.prompt, ex.answer) for ex in test[: args.limit]]
    out: dict = {"teacher": args.teacher, "student": args.student, "inputs": f"facts/test[:{args.limit}]"}
    for metric in ("cka", "cosine"):
        res = representation_similarity(teacher, student, texts, metric=metric)
        data = res.to_json()
        out[f"similarity_{metric}"] = {k: data[k] for k in ("mean", "std", "matrices", "n_points")}
    out["parametric"] = parametric_similarity(teacher, student).summary()
    summed = {}
    for role, lm in (("teacher", teacher), ("student", student)):
        cache = LocateCache()
        results = [locate(lm.model, lm.tokenizer, lm.spec, [(task.prompt(ex), ex.answer)], cache=cache)
                   for ex in test[:20]]
        # scores summed over the 20 examples, as one locate result
        summed[role] = LocateResult.from_json({
            "target_token_ids": [i for r in results for i in r.target_token_ids],
            **{f"{kind}_{what}_scores": sum(getattr(r, f"{what}_scores")(kind) for r in results)
               for kind in ("ffn", "attn") for what in ("layer", "neuron")}})
    out["layer_scores"] = {role: {f"{kind}_layer_scores": r.layer_scores(kind).tolist()
                                  for kind in ("ffn", "attn")} for role, r in summed.items()}
    for kind in ("ffn", "attn"):
        out[f"compare_{kind}"] = compare_layer_attribution(summed["teacher"], summed["student"],
                                                           kind).as_dict()
    print(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
