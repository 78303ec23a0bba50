"""Command line: `python -m pkt_core <subcommand>` — one subcommand per public pkt_core function.

Errors print one readable line and exit non-zero; `--debug` shows the traceback instead.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable

from tqdm import tqdm

Handler = Callable[[argparse.Namespace], int]


def _progress_bar(desc: str) -> Callable[[int, int], None]:
    bar: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "bar" not in bar:
            bar["bar"] = tqdm(total=total, desc=desc, file=sys.stderr, leave=False)
        bar["bar"].n = done
        bar["bar"].refresh()
        if done >= total:
            bar["bar"].close()
    return update


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


# ---- models ------------------------------------------------------------------------------------
def cmd_models(args: argparse.Namespace) -> int:
    from .models import PRESET_PAIRS, embedded_models, embedded_role, resolve_ref
    from .models.loading import ref_availability

    rows: list[dict[str, Any]] = []
    for name in embedded_models():
        rows.append({"name": name, "kind": "embedded", "role": embedded_role(name),
                     "available": True, "availability": "embedded"})
    for preset in PRESET_PAIRS:
        refs = [resolve_ref(r) if r in embedded_models() or "/" in r else None
                for r in (preset.teacher, preset.student)]
        states = [ref_availability(r) if r else "missing" for r in refs]
        available = all(s in ("embedded", "local", "cached locally") for s in states)
        rows.append({"name": preset.name, "kind": "preset", "role": None, "teacher": preset.teacher,
                     "student": preset.student, "available": available,
                     "availability": ", ".join(sorted(set(states))), "note": preset.note})
    if args.json:
        _print_json(rows)
        return 0
    for row in rows:
        what = f"{row['teacher']} → {row['student']}" if row["kind"] == "preset" else row["role"]
        print(f"{row['kind']:9} {row['name']:48} {what:60} [{row['availability']}]")
    return 0


def cmd_pair(args: argparse.Namespace) -> int:
    from .models import check_pair, inspect_model
    from .models.loading import load_model, same_tokenizer

    teacher, student = inspect_model(args.teacher), inspect_model(args.student)
    t_tok = load_model(args.teacher).tokenizer if args.check_tokenizer else None
    s_tok = load_model(args.student).tokenizer if args.check_tokenizer else None
    same = same_tokenizer(t_tok, s_tok) if t_tok is not None else True
    report = check_pair(teacher, student, same, args.paradigm)
    if args.json:
        _print_json(report.as_dict())
    else:
        for role, shape in (("teacher", teacher), ("student", student)):
            print(f"{role:8} {shape.family:8} layers {shape.n_layers:3}  hidden {shape.hidden:5}  "
                  f"ffn {shape.ffn:6}  heads {shape.n_heads}/{shape.n_kv_heads}  "
                  f"params {shape.n_params:,}")
        print(report.verdict())
    return 0 if report.ok else 1


# ---- evaluation and generation ---------------------------------------------------------------
def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import evaluate

    options = {"source": args.source} if args.source else {}
    result = evaluate(args.model, args.task, args.split, args.limit, args.seed, args.device,
                      args.batch_size, options, progress=_progress_bar(f"{args.task}"))
    if args.json:
        _print_json(result.to_dict())
    else:
        extra = f"  (generated letter: {result.extra['letter_score']:.3f})" \
            if "letter_score" in result.extra else ""
        print(f"{result.model} on {result.task}/{result.split}: {result.score:.3f} "
              f"({sum(i['correct'] for i in result.items)}/{result.n}){extra}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from .evaluate import generate
    from .models import load_model
    from .tasks import render_chat

    loaded = load_model(args.model, device=args.device)
    prompt = args.prompt if args.raw else render_chat(args.prompt)
    print(generate(loaded.model, loaded.tokenizer, [prompt], args.max_new_tokens)[0])
    return 0


# ---- the embedded family ---------------------------------------------------------------------
def cmd_zoo_build(args: argparse.Namespace) -> int:
    from .zoo import build_zoo

    summary = build_zoo(args.out, seed=args.seed, tokens=args.tokens, micro=args.micro)
    _print_json(summary) if args.json else print(json.dumps(summary, default=str)[:2000])
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pkt_core",
                                     description="PKT Lab: cross-scale parametric knowledge transfer")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("models", help="list the embedded models and the preset pairs")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("pair", help="check whether a teacher/student pair is compatible")
    p.add_argument("--teacher", required=True)
    p.add_argument("--student", required=True)
    p.add_argument("--paradigm", default=None)
    p.add_argument("--check-tokenizer", action="store_true", help="also compare the vocabularies")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_pair)

    p = sub.add_parser("evaluate", help="score a model on a task split")
    p.add_argument("--model", required=True, help="embedded name, local dir, run dir or hub id")
    p.add_argument("--task", required=True)
    p.add_argument("--source", default=None, help="dataset id or local JSON/JSONL path (real benchmarks)")
    p.add_argument("--split", default="test", choices=["extract", "align", "train", "test"])
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("generate", help="greedy continuation of a prompt (chat format by default)")
    p.add_argument("--model", required=True)
    p.add_argument("--prompt", required=True)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--raw", action="store_true", help="do not wrap the prompt in the chat format")
    p.add_argument("--device", default=None)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("zoo", help="the embedded model family")
    zoo = p.add_subparsers(dest="zoo_command", required=True, metavar="ACTION")
    b = zoo.add_parser("build", help="regenerate world, tokenizer and models from the seed")
    b.add_argument("--out", default=None, help="output directory (default: assets/models)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--tokens", type=int, default=None, help="training tokens per model")
    b.add_argument("--micro", action="store_true", help="a few steps on a tiny world (smoke test)")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_zoo_build)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # one readable line; the traceback only when asked for
        if args.debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
