"""`zoo build` (regenerate the embedded family from its seed), `zoo add-members` (adopt members
another build trained) and `zoo examples` (the small example runs shipped with the lab)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .common import (add_common_flags, non_negative, positive, print_json, print_progress,
                     task_help)

# What every `zoo build` writes; a folder without it is not a family to merge.
BUILD_RECORD = "build_results.json"
# The text summary of `zoo build` is cut here: the family's full record is in its folder.
TEXT_SUMMARY_CHARS = 2000


def cmd_zoo_build(args: argparse.Namespace) -> int:
    from ..experiments.zoo import build_zoo

    summary = build_zoo(args.out, seed=args.seed, tokens=args.tokens, micro=args.micro,
                        sizes=tuple(args.sizes.split(",")), parallel=args.parallel)
    if args.json:
        print_json(summary)
    else:
        print(json.dumps(summary, default=str)[:TEXT_SUMMARY_CHARS])
    return 0


def _check_add_members(built: Path, family: Path) -> None:
    """Refuse before anything is copied: add_members replaces the family's folder of every member
    it adopts, so adopting a family into itself would delete what it copies."""
    for flag, folder in (("--built", built), ("--out", family)):
        if not (folder / BUILD_RECORD).is_file():
            raise ValueError(f"{flag} {folder} is not a zoo build (it has no {BUILD_RECORD})")
    if built.resolve() == family.resolve():
        raise ValueError("--built and --out are the same folder: there is nothing to add")


def cmd_zoo_add_members(args: argparse.Namespace) -> int:
    from ..experiments import zoo

    family = Path(args.out) if args.out else zoo.DEFAULT_OUT
    _check_add_members(Path(args.built), family)
    summary = zoo.add_members(args.built, args.out)
    if args.json:
        print_json(summary)
        return 0
    print(f"the family in {summary['out']} now has {len(summary['models'])} members:")
    for name, member in summary["models"].items():
        scores = "  ".join(f"{task} {score:.3f}" for task, score in member["scores"].items())
        print(f"  {name:24} {member['params']:>12,} params  {scores}")
    return 0


def cmd_zoo_examples(args: argparse.Namespace) -> int:
    from ..experiments.example_runs import build_example_runs

    summary = build_example_runs(args.out, task=args.task, eval_limit=args.eval_limit,
                                 seed=args.seed, overwrite=args.overwrite,
                                 progress=print_progress)
    print_json(summary)
    return 0


def _add_build_command(zoo: Any) -> None:
    build = zoo.add_parser("build", help="regenerate world, tokenizer and models from the seed")
    build.add_argument("--out", default=None, help="output directory (default: assets/models)")
    build.add_argument("--seed", type=non_negative, default=0,
                       help="the seed of world and training")
    build.add_argument("--tokens", type=positive, default=None,
                       help="training tokens per model")
    build.add_argument("--micro", action="store_true",
                       help="a few steps on a tiny world (smoke test)")
    build.add_argument("--sizes", default="student,sibling,middle,teacher",
                       help="comma-separated members to build (default all four)")
    build.add_argument("--parallel", action="store_true",
                       help="train the sizes at once, one thread each (better on a CPU shared "
                            "with other jobs); default: one after another with all threads")
    add_common_flags(build, "--json")
    build.set_defaults(func=cmd_zoo_build)


def _add_add_members_command(zoo: Any) -> None:
    adopt = zoo.add_parser(
        "add-members", help="adopt the members another `zoo build --sizes …` trained",
        description="Copy the members another `zoo build --sizes …` run trained into the family "
                    "(the two builds must share seed, world, tokens and tokenizer: checked), "
                    "merge the build records and rewrite every model card.")
    adopt.add_argument("--built", required=True, metavar="DIR",
                       help="the folder the other `zoo build` wrote (its --out)")
    adopt.add_argument("--out", default=None, metavar="DIR",
                       help="the family that adopts them (default: assets/models)")
    add_common_flags(adopt, "--json")
    adopt.set_defaults(func=cmd_zoo_add_members)


def _add_examples_command(zoo: Any) -> None:
    examples = zoo.add_parser("examples",
                              help="the small finished example runs shipped in assets/runs")
    examples.add_argument("--out", default=None,
                          help="output folder (default: the shipped assets/runs)")
    examples.add_argument("--task", default="facts", help=task_help("facts"))
    examples.add_argument("--eval-limit", type=positive, default=50,
                          help="test items scored before/after")
    examples.add_argument("--seed", type=non_negative, default=0,
                          help="the seed of the splits and training")
    examples.add_argument("--overwrite", action="store_true", help="rebuild runs that exist")
    examples.set_defaults(func=cmd_zoo_examples)


def add_zoo_commands(sub: Any) -> None:
    parser = sub.add_parser("zoo", help="the embedded model family and its example runs")
    zoo = parser.add_subparsers(dest="zoo_command", required=True, metavar="ACTION")
    _add_build_command(zoo)
    _add_add_members_command(zoo)
    _add_examples_command(zoo)
