"""The research's experiments at the lab's scale: `reproduce` (the main table), `curve` (score
change against update size) and `ladder` (every pair of the embedded family)."""
from __future__ import annotations

import argparse
import json
from typing import Any

from .common import (add_common_flags, positive, print_json, print_progress, task_help,
                     tqdm_progress)
from .paradigm_flags import add_settings_arguments, settings_from_args


def cmd_reproduce(args: argparse.Namespace) -> int:
    from ..paradigms import paradigm_names
    from ..experiments.reproduce import markdown_table, reproduce
    from ..tasks.toyworld import TOY_TASKS

    tasks = list(TOY_TASKS) if args.tasks == "all" else args.tasks.split(",")
    rows = None if args.paradigms == "all" else args.paradigms.split(",")
    settings = settings_from_args(args, paradigm_names(), strict=False)
    table = reproduce(args.teacher, args.student, tasks, list(range(args.seeds)), args.out,
                      paradigms=rows, settings=settings, eval_limit=args.eval_limit,
                      progress=print_progress)
    print(json.dumps(table, indent=2, default=str) if args.json else markdown_table(table))
    return 0


def cmd_curve(args: argparse.Namespace) -> int:
    from ..experiments.curve import incompatibility_curve
    from ..figures import incompatibility_curve_figure, save_figure

    with tqdm_progress() as progress:
        curve = incompatibility_curve(args.teacher, args.student, args.task, args.points,
                                      args.seeds, args.eval_limit, args.defaults,
                                      _names(args.paradigms), progress)
    if args.html:
        save_figure(incompatibility_curve_figure(curve), args.html, data=curve)
    if args.json:
        print_json(curve)
        return 0
    for series, points in curve["series"].items():
        knob = curve["paradigms"][series.split("@")[0]]["setting"]
        for point in points:
            print(f"{series:16} {knob} {point[knob]:.2g}  "
                  f"update {point['relative_update']:.3g}  change {point['change']:+.3f}  "
                  f"95% [{point['ci95'][0]:+.3f}, {point['ci95'][1]:+.3f}]")
    return 0


def cmd_ladder(args: argparse.Namespace) -> int:
    from ..figures import ladder_figure, save_figure
    from ..experiments.ladder import build_ladder

    ladder = build_ladder(args.task, progress=print_progress)
    if args.html:
        save_figure(ladder_figure(ladder), args.html, data=ladder)
    if args.json:
        print_json(ladder)
        return 0
    for pair in ladder["pairs"]:
        cka = " ".join(f"{module} {value:.3f}" for module, value in pair["cka"].items())
        print(f"{pair['teacher']:>18} → {pair['student']:<18} {pair['param_ratio']:6.1f}×  "
              f"CKA {cka}")
    return 0


def _add_reproduce_command(sub: Any) -> None:
    from ..paradigms import paradigm_names

    parser = sub.add_parser("reproduce", help="the research's main table at the lab's scale")
    add_common_flags(parser, "--teacher", "--student", required=True)
    parser.add_argument("--tasks", default="all", help="'all' or a comma-separated list")
    parser.add_argument("--paradigms", default="all",
                        help=f"'all' (every paradigm, preset and shuffled-teacher control) or a "
                             f"comma-separated list of rows: {', '.join(paradigm_names())}, "
                             f"NAME-PRESET (another preset), NAME@shuffled (the control), …")
    parser.add_argument("--seeds", type=positive, default=3,
                        help="seeds per row (0, 1, …; default 3)")
    parser.add_argument("--eval-limit", type=positive, default=None,
                        help="test items per score (default all)")
    parser.add_argument("--out", default="reproduce",
                        help="folder of the runs (default reproduce)")
    add_common_flags(parser, "--json")
    add_settings_arguments(parser)
    parser.set_defaults(func=cmd_reproduce)


def _add_curve_command(sub: Any) -> None:
    from ..paradigms import curve_paradigms, get_paradigm

    parser = sub.add_parser("curve", help="a transfer's score change against its update size, "
                                          "from the teacher and from its shuffled control")
    add_common_flags(parser, "--teacher", "--student", required=True)
    parser.add_argument("--task", default="facts", help=task_help("facts"))
    parser.add_argument("--points", type=positive, default=5,
                        help="update sizes: values of each paradigm's size knob")
    parser.add_argument("--seeds", type=positive, default=3, help="seeds per point (default 3)")
    parser.add_argument("--eval-limit", type=positive, default=150,
                        help="test items per score")
    parser.add_argument("--defaults", default="lab",
                        help="the preset for every setting but the knob (a paradigm whose knob "
                             "names its own preset uses that)")
    knobs = ", ".join(f"{name} ({get_paradigm(name).curve_knob.meaning})"
                      for name in curve_paradigms())
    parser.add_argument("--paradigms", default=None,
                        help=f"comma-separated paradigms to vary: {knobs}; default "
                             f"{','.join(curve_paradigms(default_only=True))}")
    parser.add_argument("--html", default=None,
                        help="save the figure as standalone HTML (+ .json)")
    add_common_flags(parser, "--json")
    parser.set_defaults(func=cmd_curve)


def _add_ladder_command(sub: Any) -> None:
    parser = sub.add_parser("ladder", help="every pair of the embedded family: similarity and "
                                           "transfer against the parameter ratio")
    parser.add_argument("--task", default="facts", help=task_help("facts"))
    parser.add_argument("--html", default=None,
                        help="save the figure as standalone HTML (+ .json)")
    add_common_flags(parser, "--json")
    parser.set_defaults(func=cmd_ladder)


def add_experiment_commands(sub: Any) -> None:
    _add_reproduce_command(sub)
    _add_curve_command(sub)
    _add_ladder_command(sub)


def _names(text: str | None) -> list[str] | None:
    """A comma-separated list of names, or None when not given."""
    if text is None:
        return None
    return [name.strip() for name in text.split(",") if name.strip()]
