"""`transfer` (one run, saved as a run directory) and `runs list` (the saved runs)."""
from __future__ import annotations

import argparse
from typing import Any

from .common import (FLAG_HELP, add_common_flags, non_negative, positive, print_json,
                     task_help, tqdm_progress)
from .paradigm_flags import add_settings_arguments, settings_from_args


def _print_transfer_result(result: Any, paradigm: str, as_json: bool) -> None:
    metrics = result.metrics
    if as_json:
        effects = {k: v for k, v in metrics["effects"].items() if k != "n"}
        print_json({"run_dir": str(result.run_dir), "status": result.status,
                    "base_score": metrics["base"]["score"],
                    "result_score": metrics["result"]["score"], "delta": metrics["delta"],
                    "seconds": metrics["seconds"], "n": metrics["result"]["n"], **effects})
        return
    print(f"run: {result.run_dir}")
    lo, hi = metrics["effects"]["change_ci95"]
    print(f"test score ({metrics['result']['n']} items): base student "
          f"{metrics['base']['score']:.3f} → {paradigm} {metrics['result']['score']:.3f}  "
          f"({metrics['delta']:+.3f}, 95% interval {lo:+.3f} to {hi:+.3f}); "
          f"outputs changed: {metrics['effects']['changed_outputs']:.1%}")


def cmd_transfer(args: argparse.Namespace) -> int:
    from ..infra.policy import Limits
    from ..transfer import TransferRequest, prepare, run_transfer

    settings = settings_from_args(args, [args.paradigm])[args.paradigm]
    request = TransferRequest(paradigm=args.paradigm, student=args.student, teacher=args.teacher,
                              task=args.task, data=args.data, task_kind=args.task_kind,
                              settings=settings, preset=args.defaults, seed=args.seed,
                              out=args.out, eval_limit=args.eval_limit,
                              student_device=args.student_device,
                              teacher_device=args.teacher_device)
    # the command line is an edge: its environment says whether this is a public lab
    prepared = prepare(request, Limits.from_environment())
    with tqdm_progress() as progress:
        result = run_transfer(prepared, progress)
    _print_transfer_result(result, args.paradigm, args.json)
    return 0


def cmd_runs_list(args: argparse.Namespace) -> int:
    from ..infra.runs import list_runs

    rows = list_runs(args.root)
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("no runs yet")
    for row in rows:
        scores = "" if row["result_score"] is None else \
            f"{row['base_score']:.3f} → {row['result_score']:.3f}"
        print(f"{row['name']:50} {row['status']:10} {row['paradigm'] or '':8} "
              f"{row['task'] or '':10} {scores}")
    return 0


def add_transfer_command(sub: Any) -> None:
    from ..paradigms import get_paradigm, paradigm_names

    names = paradigm_names()
    described = "; ".join(f"{n}: {get_paradigm(n).description}" for n in names)
    parser = sub.add_parser("transfer", help="run a transfer and save it as a run directory",
                            description=f"Paradigms — {described}.")
    parser.add_argument("--paradigm", required=True, choices=names, help=", ".join(names))
    add_common_flags(parser, "--teacher")
    add_common_flags(parser, "--student", required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--task", default=None, help=task_help())
    source.add_argument("--data", default=None,
                        help="directory of extract/align/train/test.jsonl")
    parser.add_argument("--task-kind", default="exact", help="scorer for --data: exact or number")
    parser.add_argument("--seed", type=non_negative, default=0,
                        help="the seed of the splits and training")
    parser.add_argument("--eval-limit", type=positive, default=100,
                        help="test items scored before/after")
    parser.add_argument("--out", default=None,
                        help="run directory (default runs/<time>-<paradigm>-<task>)")
    parser.add_argument("--student-device", default=None,
                        help=f"the student's {FLAG_HELP['--device']}")
    parser.add_argument("--teacher-device", default=None,
                        help=f"the teacher's {FLAG_HELP['--device']}")
    parser.add_argument("--defaults", default="research",
                        choices=sorted({k for n in names for k in get_paradigm(n).presets}),
                        help="the paradigm's named defaults: research (the paper's) or lab "
                             "(LaTen's, tuned at the embedded family's width); settings given "
                             "here override them")
    add_common_flags(parser, "--json")
    add_settings_arguments(parser)
    parser.set_defaults(func=cmd_transfer)


def add_runs_commands(sub: Any) -> None:
    parser = sub.add_parser("runs", help="saved runs")
    runs = parser.add_subparsers(dest="runs_command", required=True, metavar="ACTION")
    listing = runs.add_parser("list", help="list saved runs")
    listing.add_argument("--root", default=None,
                         help="the runs folder (default $PKT_RUNS_DIR or runs)")
    add_common_flags(listing, "--json")
    listing.set_defaults(func=cmd_runs_list)
