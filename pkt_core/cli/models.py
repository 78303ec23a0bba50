"""`models` (the embedded family and the preset pairs) and `pair` (is a pair compatible?)."""
from __future__ import annotations

import argparse
from typing import Any

from .common import add_common_flags, print_json

# A preset's model counts as available when it needs no download.
AVAILABLE_OFFLINE = ("embedded", "local", "cached locally")


def _model_rows() -> list[dict[str, Any]]:
    from ..models import PRESET_PAIRS, embedded_models, embedded_role, resolve_ref
    from ..models.loading import ref_availability

    rows: list[dict[str, Any]] = []
    for name in embedded_models():
        rows.append({"name": name, "kind": "embedded", "role": embedded_role(name),
                     "available": True, "availability": "embedded"})
    for preset in PRESET_PAIRS:
        refs = [resolve_ref(r) if r in embedded_models() or "/" in r else None
                for r in (preset.teacher, preset.student)]
        states = [ref_availability(r) if r else "missing" for r in refs]
        available = all(s in AVAILABLE_OFFLINE for s in states)
        rows.append({"name": preset.name, "kind": "preset", "role": None,
                     "teacher": preset.teacher, "student": preset.student,
                     "available": available, "availability": ", ".join(sorted(set(states))),
                     "note": preset.note})
    return rows


def cmd_models(args: argparse.Namespace) -> int:
    rows = _model_rows()
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        what = f"{row['teacher']} → {row['student']}" if row["kind"] == "preset" else row["role"]
        print(f"{row['kind']:9} {row['name']:48} {what:60} [{row['availability']}]")
    return 0


def cmd_pair(args: argparse.Namespace) -> int:
    from ..models import inspect_model, tokenizers_match
    from ..paradigms import check_pair_for

    teacher, student = inspect_model(args.teacher), inspect_model(args.student)
    same = None
    if args.check_tokenizer:
        same = tokenizers_match(args.teacher, args.student, download=True)
        if same is None:
            raise ValueError("tokenizers not compared: a tokenizer is not on this machine and "
                             "the hub cannot be reached")
    report = check_pair_for(teacher, student, True if same is None else same, args.paradigm)
    if args.json:
        print_json(report.as_dict())
    else:
        for role, shape in (("teacher", teacher), ("student", student)):
            print(f"{role:8} {shape.family:8} layers {shape.n_layers:3}  "
                  f"hidden {shape.hidden:5}  ffn {shape.ffn:6}  "
                  f"heads {shape.n_heads}/{shape.n_kv_heads}  params {shape.n_params:,}")
        print(report.verdict())
    return 0 if report.ok else 1


def add_model_commands(sub: Any) -> None:
    parser = sub.add_parser("models", help="list the embedded models and the preset pairs")
    add_common_flags(parser, "--json")
    parser.set_defaults(func=cmd_models)

    parser = sub.add_parser("pair", help="check whether a teacher/student pair is compatible")
    add_common_flags(parser, "--teacher", "--student", required=True)
    parser.add_argument("--paradigm", default=None,
                        help="judge the pair for this paradigm only")
    parser.add_argument("--check-tokenizer", action="store_true",
                        help="also compare the vocabularies")
    add_common_flags(parser, "--json")
    parser.set_defaults(func=cmd_pair)
