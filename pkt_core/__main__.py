"""Command line: `python -m pkt_core <subcommand>` — one subcommand per public pkt_core function.

Errors print one readable line and exit non-zero; `--debug` shows the traceback instead.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

from tqdm import tqdm

# Set before torch loads: OpenMP's spin-waiting makes small matmuls 10–1000× slower on a busy
# 2-core machine (measured), and PKT Lab's embedded models are small.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


class _ResultsAfterBars:
    """stdout while a command runs: each write first closes every open progress bar (on stderr) and
    flushes stderr, so in one stream (`2>&1`) all bar lines precede the results, however stdout is
    buffered, even a bar its owner never closed (the garbage collector would draw it last)."""

    def __init__(self, out: Any) -> None:
        self.out = out

    def write(self, text: str) -> int:
        for bar in list(getattr(tqdm, "_instances", ())):  # shared by tqdm's subclasses
            bar.close()
        sys.stderr.flush()
        return self.out.write(text)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, encoding, fileno, …
        return getattr(self.out, name)


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


# ---- models ------------------------------------------------------------------------------------
def _int_at_least(lo: int):
    """An argparse type: a whole number ≥ lo (argparse then prints one usage line, exit 2)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"must be at least {lo} (got {value})")
        return value
    return parse


positive, non_negative = _int_at_least(1), _int_at_least(0)


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
    from .models import inspect_model, tokenizers_match
    from .paradigms import check_pair_for

    teacher, student = inspect_model(args.teacher), inspect_model(args.student)
    same = tokenizers_match(args.teacher, args.student, download=True) if args.check_tokenizer else None
    if args.check_tokenizer and same is None:
        raise ValueError("tokenizers not compared: a tokenizer is not on this machine and the hub "
                         "cannot be reached")
    report = check_pair_for(teacher, student, True if same is None else same, args.paradigm)
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
    from .evaluate import evaluate, item_line

    options = {"source": args.source} if args.source else {}
    with _tqdm_progress() as progress:
        result = evaluate(args.model, args.task, args.split, args.limit, args.seed, args.device,
                          args.batch_size, options, progress=lambda n, of: progress(n, of, args.task))
    if args.json:
        _print_json(result.to_dict())
    else:
        extra = f"  (generated letter: {result.extra['letter_score']:.3f})" \
            if "letter_score" in result.extra else ""
        print(f"{result.model} on {result.task}/{result.split}: {result.score:.3f} "
              f"({sum(i['correct'] for i in result.items)}/{result.n}){extra}")
        width = max((len(str(item["id"])) for item in result.items), default=0)
        for item in result.items if args.items else ():
            print(item_line(item, result.extra.get("kind", ""), width))
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from .evaluate import generate
    from .models.provider import MODELS
    from .tasks import render_chat

    loaded = MODELS.get(args.model, device=args.device)
    prompt = args.prompt if args.raw else render_chat(args.prompt)
    print(generate(loaded.model, loaded.tokenizer, [prompt], args.max_new_tokens)[0])
    return 0


# ---- locate and analyse -----------------------------------------------------------------------
def locate_example(prompt: str, answer: str, chat: bool = True) -> tuple[str, str]:
    """The (text, answer) `locate` reads. With `chat`, as the lab's Locate tab (lab.locate_pair) builds
    it, so both agree on one input: stripped, the prompt as the chat's user turn; else as typed."""
    from .tasks import render_chat

    if chat and not prompt.strip():
        raise ValueError("the prompt is empty")
    return (render_chat(prompt.strip()), answer.strip()) if chat else (prompt, answer)


def cmd_locate(args: argparse.Namespace) -> int:
    from .locate import LocateConfig, locate
    from .models.provider import MODELS

    example = locate_example(args.prompt, args.answer, args.chat)
    loaded = MODELS.get(args.model, device=args.device)
    config = LocateConfig(scale=args.scale, attn_term=args.attn_term)
    result = locate(loaded.model, loaded.tokenizer, loaded.spec, [example], config, top_k=args.top_k)
    if args.json:
        _print_json(result.to_json())
        return 0
    print(f"target token id {result.target_token_ids[0]}  ({result.seconds:.3f} s)")
    print("top attention layers:", result.top_attn_layers[:args.top_k])
    print("top FFN layers:      ", result.top_ffn_layers[:args.top_k])
    for ell in result.top_ffn_layers[:3]:
        print(f"  layer {ell} top FFN neurons:", list(result.top_neurons("ffn", ell, args.top_k)))
    return 0


def _similarity_texts(args: argparse.Namespace) -> tuple[list[str], str]:
    from .tasks import get_task

    if args.text:
        return [args.text], "typed text"
    task = get_task(args.task)
    examples = task.split(args.split, args.seed)[:args.limit]
    return [task.full_text(ex) for ex in examples], f"{len(examples)} {args.task}/{args.split} examples"


def cmd_similarity(args: argparse.Namespace) -> int:
    from .analyse import representation_similarity
    from .figures import save_figure, similarity_heatmaps
    from .models.provider import MODELS

    teacher, student = MODELS.get(args.teacher), MODELS.get(args.student)
    texts, described = _similarity_texts(args)
    result = representation_similarity(teacher, student, texts, metric=args.metric,
                                       unbiased=args.unbiased, inputs_description=described)
    data = result.to_json()
    if args.html:
        save_figure(similarity_heatmaps(result), args.html, data=data)
    if args.json:
        _print_json(data)
        return 0
    print(f"{args.metric} similarity, student layers × teacher layers, on {described}")
    for module in result.matrices:
        print(f"  {module:10} mean {result.mean[module]:+.3f}  std {result.std[module]:.3f}")
    return 0


# ---- transfer and runs --------------------------------------------------------------------------
def _settings_flags(paradigms: list[str]) -> dict[str, list[Any]]:
    """setting name → the SettingSpec of every paradigm that has it (`--lr` is each one's own lr)."""
    from .paradigms import get_paradigm, settings_of

    flags: dict[str, list[Any]] = {}
    for name in paradigms:
        for spec in settings_of(name, get_paradigm(name).config_class):
            if spec.cli:
                flags.setdefault(spec.name, []).append(spec)
    return flags


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per paradigm setting, generated from the config dataclasses (help written once)."""
    from .paradigms import paradigm_names

    group = parser.add_argument_group("paradigm settings (omitted: the research's defaults)")
    for name, specs in _settings_flags(paradigm_names()).items():
        said: dict[tuple[str, str], list[str]] = {}
        for spec in specs:
            default = "" if spec.default is None else f" (default {spec.default!r})"
            said.setdefault((spec.help, default), []).append(spec.paradigm)
        text = "; ".join(f"{'/'.join(owners)}: {help_}{default}".replace("%", "%%")
                         for (help_, default), owners in said.items())
        group.add_argument(specs[0].flag, dest=f"setting_{name}", default=None,
                           metavar=name.upper(), help=text)


def settings_from_args(args: argparse.Namespace, paradigms: list[str],
                       strict: bool = True) -> dict[str, dict[str, Any]]:
    """paradigm → the overrides given on the command line, each read with that paradigm's own
    type and range. With `strict`, a flag that none of `paradigms` has is refused."""
    from .paradigms import coerce, get_paradigm, settings_of

    given = {k[len("setting_"):]: v for k, v in vars(args).items()
             if k.startswith("setting_") and v is not None}
    out: dict[str, dict[str, Any]] = {p: {} for p in paradigms}
    for paradigm in paradigms:
        own = {s.name: s for s in settings_of(paradigm, get_paradigm(paradigm).config_class) if s.cli}
        out[paradigm] = {k: coerce(own[k], v) for k, v in given.items() if k in own}
    unused = set(given) - {k for v in out.values() for k in v}
    if strict and unused:
        flags = ", ".join("--" + k.replace("_", "-") for k in sorted(unused))
        raise ValueError(f"{flags} does not apply to {', '.join(paradigms)}")
    return out


@contextlib.contextmanager
def _tqdm_progress() -> Iterator[Callable[[int, int, str], None]]:
    """A progress callback drawing one bar per phase (of a transfer, …) on stderr; closed at exit."""
    bar: dict[str, Any] = {}

    def progress(done: int, total: int, message: str) -> None:
        if bar.get("total") != total or bar.get("bar") is None:
            close()
            bar["bar"], bar["total"] = tqdm(total=total, file=sys.stderr, leave=False), total
        bar["bar"].n = done
        bar["bar"].set_description(message[:60])
        bar["bar"].refresh()

    def close() -> None:
        if bar.get("bar") is not None:
            bar["bar"].close()
    try:
        yield progress
    finally:
        close()


def cmd_transfer(args: argparse.Namespace) -> int:
    from .transfer import TransferRequest, run_transfer

    settings = settings_from_args(args, [args.paradigm])[args.paradigm]
    request = TransferRequest(paradigm=args.paradigm, student=args.student, teacher=args.teacher,
                              task=args.task, data=args.data, task_kind=args.task_kind,
                              settings=settings, preset=args.defaults, seed=args.seed,
                              out=args.out, eval_limit=args.eval_limit, student_device=args.student_device,
                              teacher_device=args.teacher_device)
    with _tqdm_progress() as progress:
        result = run_transfer(request, progress)
    m = result.metrics
    if args.json:
        effects = {k: v for k, v in m["effects"].items() if k != "n"}
        _print_json({"run_dir": str(result.run_dir), "status": result.status,
                     "base_score": m["base"]["score"], "result_score": m["result"]["score"],
                     "delta": m["delta"], "seconds": m["seconds"], "n": m["result"]["n"],
                     **effects})
    else:
        print(f"run: {result.run_dir}")
        lo, hi = m["effects"]["change_ci95"]
        print(f"test score ({m['result']['n']} items): base student {m['base']['score']:.3f} → "
              f"{args.paradigm} {m['result']['score']:.3f}  ({m['delta']:+.3f}, 95% interval "
              f"{lo:+.3f} to {hi:+.3f}); outputs changed: {m['effects']['changed_outputs']:.1%}")
    return 0


def cmd_runs_list(args: argparse.Namespace) -> int:
    from .runs import list_runs

    rows = list_runs(args.root)
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print("no runs yet")
    for row in rows:
        scores = "" if row["result_score"] is None else \
            f"{row['base_score']:.3f} → {row['result_score']:.3f}"
        print(f"{row['name']:50} {row['status']:10} {row['paradigm'] or '':8} {row['task'] or '':10} {scores}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from .paradigms import paradigm_names
    from .reproduce import markdown_table, reproduce
    from .tasks.toyworld import TOY_TASKS

    tasks = list(TOY_TASKS) if args.tasks == "all" else args.tasks.split(",")
    rows = None if args.paradigms == "all" else args.paradigms.split(",")
    settings = settings_from_args(args, paradigm_names(), strict=False)
    table = reproduce(args.teacher, args.student, tasks, list(range(args.seeds)), args.out,
                      paradigms=rows, settings=settings, eval_limit=args.eval_limit,
                      progress=lambda message: print(message, file=sys.stderr))
    print(json.dumps(table, indent=2, default=str) if args.json else markdown_table(table))
    return 0


# ---- the embedded family ---------------------------------------------------------------------
def cmd_curve(args: argparse.Namespace) -> int:
    from .curve import incompatibility_curve
    from .figures import incompatibility_curve_figure, save_figure

    with _tqdm_progress() as progress:
        curve = incompatibility_curve(args.teacher, args.student, args.task, args.points,
                                      args.seeds, args.eval_limit, args.defaults,
                                      args.with_seeking, progress)
    if args.html:
        save_figure(incompatibility_curve_figure(curve), args.html, data=curve)
    if args.json:
        _print_json(curve)
        return 0
    for series, points in curve["series"].items():
        for p in points:
            knob = "lr" if "lr" in p else "epochs"
            print(f"{series:16} {knob} {p[knob]:.2g}  update {p['relative_update']:.3g}  change "
                  f"{p['change']:+.3f}  95% [{p['ci95'][0]:+.3f}, {p['ci95'][1]:+.3f}]")
    return 0


def cmd_ladder(args: argparse.Namespace) -> int:
    from .figures import ladder_figure, save_figure
    from .ladder import build_ladder

    ladder = build_ladder(args.task, progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    if args.html:
        save_figure(ladder_figure(ladder), args.html, data=ladder)
    if args.json:
        return _print_json(ladder) or 0
    for p in ladder["pairs"]:
        cka = " ".join(f"{m} {v:.3f}" for m, v in p["cka"].items())
        print(f"{p['teacher']:>18} → {p['student']:<18} {p['param_ratio']:6.1f}×  CKA {cka}")
    return 0


def cmd_zoo_build(args: argparse.Namespace) -> int:
    from .zoo import build_zoo

    summary = build_zoo(args.out, seed=args.seed, tokens=args.tokens, micro=args.micro,
                        sizes=tuple(args.sizes.split(",")), parallel=args.parallel)
    _print_json(summary) if args.json else print(json.dumps(summary, default=str)[:2000])
    return 0


def cmd_zoo_examples(args: argparse.Namespace) -> int:
    from .example_runs import build_example_runs

    summary = build_example_runs(args.out, task=args.task, eval_limit=args.eval_limit,
                                 seed=args.seed, overwrite=args.overwrite,
                                 progress=lambda message: print(message, file=sys.stderr))
    _print_json(summary)
    return 0


MODEL = "embedded name (see `models`), local dir, run dir or hub id"
SPLITS = ["extract", "align", "train", "test"]
FLAG_HELP = {"--json": "print the result as JSON", "--teacher": f"the teacher: {MODEL}",
             "--student": f"the student: {MODEL}", "--device": "torch device, e.g. cpu or cuda:0 "
             "(default: cuda when there is one, else cpu)"}


def _task_help(default: str | None = None) -> str:
    from .tasks import list_tasks
    return f"one of {', '.join(list_tasks())}{f' (default {default})' if default else ''}"


def _flags(p: argparse.ArgumentParser, *names: str, **kw: Any) -> None:
    """The flags many commands share, with one help text each (`--json` is a switch)."""
    for name in names:
        extra = {"action": "store_true"} if name == "--json" else {"default": None, **kw}
        p.add_argument(name, help=FLAG_HELP[name], **extra)


def _add_models_commands(sub: Any) -> None:
    p = sub.add_parser("models", help="list the embedded models and the preset pairs")
    _flags(p, "--json")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("pair", help="check whether a teacher/student pair is compatible")
    _flags(p, "--teacher", "--student", required=True)
    p.add_argument("--paradigm", default=None, help="judge the pair for this paradigm only")
    p.add_argument("--check-tokenizer", action="store_true", help="also compare the vocabularies")
    _flags(p, "--json")
    p.set_defaults(func=cmd_pair)

    p = sub.add_parser("evaluate", help="score a model on a task split")
    p.add_argument("--model", required=True, help=MODEL)
    p.add_argument("--task", required=True, help=_task_help())
    p.add_argument("--source", default=None, help="dataset id or local JSON/JSONL path (real benchmarks)")
    p.add_argument("--split", default="test", choices=SPLITS, help="the split scored (default test)")
    p.add_argument("--limit", type=positive, default=None, help="score the first N items only")
    p.add_argument("--seed", type=non_negative, default=0, help="the seed the splits are drawn with")
    p.add_argument("--batch-size", type=positive, default=32, help="prompts generated at once")
    p.add_argument("--items", action="store_true", help="print the per-item log too (--json has it)")
    _flags(p, "--device", "--json")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("generate", help="greedy continuation of a prompt (chat format by default)")
    p.add_argument("--model", required=True, help=MODEL)
    p.add_argument("--prompt", required=True, help="the user's turn (with --raw: the whole text)")
    p.add_argument("--max-new-tokens", type=positive, default=64, help="at most this many tokens")
    p.add_argument("--raw", action="store_true", help="do not wrap the prompt in the chat format")
    _flags(p, "--device")
    p.set_defaults(func=cmd_generate)


def _add_analysis_commands(sub: Any) -> None:
    p = sub.add_parser("locate", help="logit-lens attribution of layers and neurons")
    p.add_argument("--model", required=True, help=MODEL)
    p.add_argument("--prompt", required=True, help="the question; with --chat, the chat's user turn")
    p.add_argument("--answer", required=True, help="the answer; its last token is the target")
    p.add_argument("--chat", action=argparse.BooleanOptionalAction, default=True, help="the prompt as "
                   "a chat's user turn, as the lab's Locate tab has it (default); --no-chat: as typed")
    p.add_argument("--top-k", type=positive, default=10, help="layers and neurons listed per layer")
    p.add_argument("--scale", default="sigma_sqrt", choices=["sigma_sqrt", "rms"],
                   help="logit-lens scale: sigma_sqrt (released code's; default) or rms (final norm's)")
    p.add_argument("--attn-term", default="self", choices=["self", "summed"],
                   help="attention neurons: self (the last token's own term; default) or summed (all)")
    _flags(p, "--device", "--json")
    p.set_defaults(func=cmd_locate)

    p = sub.add_parser("similarity", help="representation similarity heatmaps of a pair")
    _flags(p, "--teacher", "--student", required=True)
    p.add_argument("--task", default="facts", help=_task_help("facts"))
    p.add_argument("--split", default="test", choices=SPLITS, help="the split compared on")
    p.add_argument("--limit", type=positive, default=64, help="examples compared on (default 64)")
    p.add_argument("--text", default=None, help="compare on this text instead of a task split")
    p.add_argument("--metric", default="cka", choices=["cka", "cosine"], help="the measure (default cka)")
    p.add_argument("--unbiased", action="store_true", help="unbiased CKA estimator")
    p.add_argument("--seed", type=non_negative, default=0, help="the seed the splits are drawn with")
    p.add_argument("--html", default=None, help="save the heatmaps as standalone HTML (+ .json)")
    _flags(p, "--json")
    p.set_defaults(func=cmd_similarity)


def _add_transfer_commands(sub: Any) -> None:
    from .paradigms import get_paradigm, paradigm_names

    names = paradigm_names()
    described = "; ".join(f"{n}: {get_paradigm(n).description}" for n in names)
    p = sub.add_parser("transfer", help="run a transfer and save it as a run directory",
                       description=f"Paradigms — {described}.")
    p.add_argument("--paradigm", required=True, choices=names, help=", ".join(names))
    _flags(p, "--teacher")
    _flags(p, "--student", required=True)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--task", default=None, help=_task_help())
    source.add_argument("--data", default=None, help="directory of extract/align/train/test.jsonl")
    p.add_argument("--task-kind", default="exact", help="scorer for --data: exact or number")
    p.add_argument("--seed", type=non_negative, default=0, help="the seed of the splits and training")
    p.add_argument("--eval-limit", type=positive, default=100, help="test items scored before/after")
    p.add_argument("--out", default=None, help="run directory (default runs/<time>-<paradigm>-<task>)")
    p.add_argument("--student-device", default=None, help=f"the student's {FLAG_HELP['--device']}")
    p.add_argument("--teacher-device", default=None, help=f"the teacher's {FLAG_HELP['--device']}")
    p.add_argument("--defaults", default="research",
                   choices=sorted({k for n in names for k in get_paradigm(n).presets}),
                   help="the paradigm's named defaults: research (the paper's) or lab (LaTen's, "
                        "tuned at the embedded family's width); settings given here override them")
    _flags(p, "--json")
    add_settings_arguments(p)
    p.set_defaults(func=cmd_transfer)

    p = sub.add_parser("reproduce", help="the research's main table at the lab's scale")
    _flags(p, "--teacher", "--student", required=True)
    p.add_argument("--tasks", default="all", help="'all' or a comma-separated list")
    p.add_argument("--paradigms", default="all",
                   help=f"'all' (every paradigm, preset and shuffled-teacher control) or a "
                        f"comma-separated list of rows: {', '.join(names)}, laten-lab, laten@shuffled, …")
    p.add_argument("--seeds", type=positive, default=3, help="seeds per row (0, 1, …; default 3)")
    p.add_argument("--eval-limit", type=positive, default=None, help="test items per score (default all)")
    p.add_argument("--out", default="reproduce", help="folder of the runs (default reproduce)")
    _flags(p, "--json")
    add_settings_arguments(p)
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("curve", help="LaTen's score change against its update size, from the "
                                     "teacher and from its shuffled control")
    _flags(p, "--teacher", "--student", required=True)
    p.add_argument("--task", default="facts", help=_task_help("facts"))
    p.add_argument("--points", type=positive, default=5, help="update sizes (hypernetwork lrs)")
    p.add_argument("--seeds", type=positive, default=3, help="seeds per point (default 3)")
    p.add_argument("--eval-limit", type=positive, default=150, help="test items per score")
    p.add_argument("--defaults", default="lab", help="LaTen's preset for everything but the lr")
    p.add_argument("--with-seeking", action="store_true",
                   help="add Seeking from the teacher and from its control, fine-tuning epochs varied")
    p.add_argument("--html", default=None, help="save the figure as standalone HTML (+ .json)")
    _flags(p, "--json")
    p.set_defaults(func=cmd_curve)

    p = sub.add_parser("ladder", help="every pair of the embedded family: similarity and transfer "
                                      "against the parameter ratio")
    p.add_argument("--task", default="facts", help=_task_help("facts"))
    p.add_argument("--html", default=None, help="save the figure as standalone HTML (+ .json)")
    _flags(p, "--json")
    p.set_defaults(func=cmd_ladder)

    p = sub.add_parser("runs", help="saved runs")
    runs = p.add_subparsers(dest="runs_command", required=True, metavar="ACTION")
    r = runs.add_parser("list", help="list saved runs")
    r.add_argument("--root", default=None, help="the runs folder (default $PKT_RUNS_DIR or runs)")
    _flags(r, "--json")
    r.set_defaults(func=cmd_runs_list)


def _add_zoo_commands(sub: Any) -> None:
    p = sub.add_parser("zoo", help="the embedded model family and its example runs")
    zoo = p.add_subparsers(dest="zoo_command", required=True, metavar="ACTION")
    b = zoo.add_parser("build", help="regenerate world, tokenizer and models from the seed")
    b.add_argument("--out", default=None, help="output directory (default: assets/models)")
    b.add_argument("--seed", type=non_negative, default=0, help="the seed of world and training")
    b.add_argument("--tokens", type=positive, default=None, help="training tokens per model")
    b.add_argument("--micro", action="store_true", help="a few steps on a tiny world (smoke test)")
    b.add_argument("--sizes", default="student,sibling,middle,teacher",
                   help="comma-separated members to build (default all four)")
    b.add_argument("--parallel", action="store_true",
                   help="train the sizes at once, one thread each (better on a CPU shared with other "
                        "jobs); default: one after another with all threads")
    _flags(b, "--json")
    b.set_defaults(func=cmd_zoo_build)
    e = zoo.add_parser("examples", help="the small finished example runs shipped in assets/runs")
    e.add_argument("--out", default="assets/runs", help="output folder (default assets/runs)")
    e.add_argument("--task", default="facts", help=_task_help("facts"))
    e.add_argument("--eval-limit", type=positive, default=50, help="test items scored before/after")
    e.add_argument("--seed", type=non_negative, default=0, help="the seed of the splits and training")
    e.add_argument("--overwrite", action="store_true", help="rebuild runs that exist")
    e.set_defaults(func=cmd_zoo_examples)


def build_parser() -> argparse.ArgumentParser:
    prog = "pkt" if Path(sys.argv[0]).name == "pkt" else "python -m pkt_core"
    parser = argparse.ArgumentParser(prog=prog,
                                     description="PKT Lab: cross-scale parametric knowledge transfer")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_models_commands(sub)
    _add_analysis_commands(sub)
    _add_transfer_commands(sub)
    _add_zoo_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()  # imports the paradigm modules (PKT_PARADIGMS may name a bad one)
    except Exception as err:
        if debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        with contextlib.redirect_stdout(_ResultsAfterBars(sys.stdout)):
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
