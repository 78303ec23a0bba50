"""`evaluate` (score a model on a task split) and `generate` (greedy continuation of a prompt)."""
from __future__ import annotations

import argparse
from typing import Any

from .common import (MODEL, SPLITS, add_common_flags, non_negative, positive, print_json,
                     task_help, tqdm_progress)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..evaluate import evaluate, item_line

    options = {"source": args.source} if args.source else {}
    with tqdm_progress() as progress:
        result = evaluate(args.model, args.task, args.split, args.limit, args.seed, args.device,
                          args.batch_size, options,
                          progress=lambda n, of: progress(n, of, args.task))
    if args.json:
        print_json(result.to_dict())
        return 0
    extra = f"  (generated letter: {result.extra['letter_score']:.3f})" \
        if "letter_score" in result.extra else ""
    print(f"{result.model} on {result.task}/{result.split}: {result.score:.3f} "
          f"({sum(i['correct'] for i in result.items)}/{result.n}){extra}")
    width = max((len(str(item["id"])) for item in result.items), default=0)
    for item in result.items if args.items else ():
        print(item_line(item, result.extra.get("kind", ""), width))
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from ..evaluate import generate
    from ..models.provider import MODELS
    from ..tasks import render_chat

    loaded = MODELS.get(args.model, device=args.device)
    prompt = args.prompt if args.raw else render_chat(args.prompt)
    print(generate(loaded.model, loaded.tokenizer, [prompt], args.max_new_tokens)[0])
    return 0


def add_evaluation_commands(sub: Any) -> None:
    parser = sub.add_parser("evaluate", help="score a model on a task split")
    parser.add_argument("--model", required=True, help=MODEL)
    parser.add_argument("--task", required=True, help=task_help())
    parser.add_argument("--source", default=None,
                        help="dataset id or local JSON/JSONL path (real benchmarks)")
    parser.add_argument("--split", default="test", choices=SPLITS,
                        help="the split scored (default test)")
    parser.add_argument("--limit", type=positive, default=None,
                        help="score the first N items only")
    parser.add_argument("--seed", type=non_negative, default=0,
                        help="the seed the splits are drawn with")
    parser.add_argument("--batch-size", type=positive, default=32,
                        help="prompts generated at once")
    parser.add_argument("--items", action="store_true",
                        help="print the per-item log too (--json has it)")
    add_common_flags(parser, "--device", "--json")
    parser.set_defaults(func=cmd_evaluate)

    parser = sub.add_parser("generate",
                            help="greedy continuation of a prompt (chat format by default)")
    parser.add_argument("--model", required=True, help=MODEL)
    parser.add_argument("--prompt", required=True,
                        help="the user's turn (with --raw: the whole text)")
    parser.add_argument("--max-new-tokens", type=positive, default=64,
                        help="at most this many tokens")
    parser.add_argument("--raw", action="store_true",
                        help="do not wrap the prompt in the chat format")
    add_common_flags(parser, "--device")
    parser.set_defaults(func=cmd_generate)
