"""Run one transfer end to end: prepare → run directory → paradigm → save → evaluate.

`prepare(request)` refuses everything that can be refused before any model is loaded (unknown
paradigm or task, settings out of range, an empty split, an incompatible pair) and returns a
`PreparedTransfer`, which `run_transfer` consumes. Models come from the one provider
(`models.provider.MODELS`): the teacher is shared, the student is taken (the transfer edits it).
"""
from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from .effects import output_effects, relative_update
from .evaluate import evaluate_task
from .infra import policy
from .infra.budget import (available_memory_bytes, estimate_seconds, format_bytes, format_duration,
                     memory_phases, tokens_per_example)
from .models import PairReport, inspect_model, tokenizers_match
from .models.loading import default_device, parse_dtype
from .models.provider import MODELS, ModelProvider
from .paradigms.base import (Paradigm, ParadigmConfig, TransferCancelled, TransferContext,
                             TransferError, TransferOutcome, check_pair_for, get_paradigm)
from .paradigms.settings import coerce, settings_of
from .infra.runs import RUN_MARKER, RunDir
from .tasks import Example, Task, get_task

Progress = Callable[[int, int, str], None]


@dataclass
class TransferRequest:
    paradigm: str
    student: str
    teacher: str | None = None
    task: str | None = None  # a task name …
    data: str | None = None  # … or a directory of user JSONL splits
    task_kind: str = "exact"  # scorer for user data
    task_options: dict[str, Any] = field(default_factory=dict)  # e.g. max_new_tokens for user data
    settings: dict[str, Any] = field(default_factory=dict)  # overrides of the preset
    preset: str = "research"  # the paradigm's named defaults (Paradigm.presets)
    seed: int = 0
    out: str | None = None
    eval_limit: int | None = 100  # test items scored before/after (None = the whole split)
    student_device: str | None = None
    teacher_device: str | None = None
    dtype: str | None = None


@dataclass
class TransferResult:
    run_dir: Path
    status: str
    metrics: dict[str, Any]
    artifacts: dict[str, Any]
    outcome: TransferOutcome | None = None


def _task_for(req: TransferRequest, limits: policy.Limits) -> Task:
    if (req.task is None) == (req.data is None):
        raise TransferError("give exactly one of a task name or a data directory")
    if req.data is not None:
        return get_task("jsonl", path=req.data, kind=req.task_kind, limits=limits,
                        **req.task_options)
    return get_task(req.task or "", limits=limits, **req.task_options)


@dataclass
class PreparedTransfer:
    """A request that passed every check that needs no weights, with what the checks produced."""
    request: TransferRequest
    paradigm: Paradigm
    config: ParadigmConfig
    task: Task
    splits: dict[str, list[Example]]
    pair: PairReport | None  # None for teacher-free paradigms
    limits: policy.Limits  # what prepare checked against (and its time cap)
    estimated_seconds: float | None = None  # budget.estimate_seconds; None = the paradigm cannot say
    estimated_peak_bytes: float | None = None  # budget.memory_phases' largest phase, on the student's device


def prepare(req: TransferRequest, limits: policy.Limits | None = None) -> PreparedTransfer:
    """All checks that need no model weights, under `limits` (`policy.Limits`; none given: the
    environment's); raises TransferError/ValueError with one message."""
    lim = policy.given(limits)
    paradigm = get_paradigm(req.paradigm)
    forced = paradigm.public_settings if lim.public else {}
    values = {**paradigm.preset(req.preset), **req.settings, **forced, "seed": req.seed}
    if lim.public:  # a public lab's lower caps, said as such; the config checks the rest once
        for spec in settings_of(paradigm.name, paradigm.config_class):
            coerce(spec, values.get(spec.name, spec.default), lim)
    config = paradigm.config_class.from_dict(values)
    if req.eval_limit is not None and req.eval_limit < 1:
        raise TransferError("the number of test items to evaluate must be ≥ 1")
    task = _task_for(req, lim)
    splits = task.splits(req.seed)
    for name in paradigm.needed_splits + ("test",):
        if not splits[name]:
            raise TransferError(f"the {name} split of task '{task.name}' is empty")
    pair, teacher_shape = None, None
    student_shape = inspect_model(req.student, limits=lim)  # an unknown student fails here, before any work
    if paradigm.needs_teacher:
        if not req.teacher:
            raise TransferError(f"{paradigm.title} needs a teacher model")
        teacher_shape = inspect_model(req.teacher, limits=lim)
        pair = check_pair_for(teacher_shape, student_shape, paradigm=paradigm.name,
                              same_tokenizer=_same_tokenizer(req, lim))
        if not pair.ok:
            raise TransferError(pair.verdict())
    prepared = PreparedTransfer(req, paradigm, config, task, splits, pair, lim)
    prepared.estimated_seconds = _estimate(prepared, student_shape, teacher_shape)
    return prepared


def _same_tokenizer(req: TransferRequest, limits: policy.Limits) -> bool:
    """Whether the pair tokenizes alike: every token string maps to the same id, read from the
    tokenizer files (never the weights; a config's embedding rows may be padded, so they are not
    compared). Files that cannot be read here count as alike: loading the models fails on them
    with its own message."""
    return tokenizers_match(req.teacher, req.student, download=True, limits=limits) is not False


def _estimate(prepared: PreparedTransfer, student: Any, teacher: Any) -> float | None:
    """The run's estimated seconds; in public mode a run over the cap (or of unknown length) is
    refused here, with the estimate, before anything is loaded."""
    req, paradigm = prepared.request, prepared.paradigm
    work = paradigm.work(prepared.config, prepared.splits)
    seconds = None
    if work is not None:
        n_test = len(prepared.splits["test"])
        items = min(req.eval_limit, n_test) if req.eval_limit is not None else n_test
        examples = [ex for split in prepared.splits.values() for ex in split[:50]]
        device = req.student_device or default_device()
        seconds = estimate_seconds(work, student, teacher, examples, items,
                                   prepared.task.max_new_tokens, device)
        weight_bytes = parse_dtype(req.dtype, device).itemsize
        prepared.estimated_peak_bytes = max(memory_phases(
            work, student, teacher, weight_bytes, tokens_per_example(examples, work.max_len)).values())
    if prepared.limits.public:
        cap = prepared.limits.max_transfer_s or float("inf")
        if seconds is None:
            raise TransferError(f"{paradigm.title} cannot estimate its run time, so this public lab "
                                f"does not run it; run PKT Lab locally")
        if seconds > cap:
            raise TransferError(f"this transfer would take about {format_duration(seconds)}, over "
                                f"this public lab's {format_duration(cap)} limit; lower the epochs, "
                                f"steps or test items, or run PKT Lab locally")
        free = free_memory_for(req, prepared.paradigm.needs_teacher)
        peak = prepared.estimated_peak_bytes
        if peak is not None and free is not None and peak > free:
            raise TransferError(f"this transfer would need about {format_bytes(peak)} of memory at its "
                                f"peak, more than the {format_bytes(free)} free here; pick a smaller "
                                f"pair or batch, or run PKT Lab locally")
    return seconds


def free_memory_for(req: TransferRequest, with_teacher: bool) -> float | None:
    """Memory a transfer could use now: free on the student's device and, when the teacher sits on
    another, on its device too (the estimate is of both together), plus the weights of the pair
    already loaded, which it reuses. None = unknown."""
    s_dev = req.student_device or default_device()
    t_dev = (req.teacher_device or s_dev) if with_teacher else s_dev
    frees = [available_memory_bytes(d) for d in dict.fromkeys((s_dev, t_dev))]
    if any(f is None for f in frees):
        return None
    placed = [(req.student, s_dev)] + ([(req.teacher, t_dev)] if with_teacher else [])
    return sum(frees) + MODELS.loaded_bytes(placed, req.dtype)


def score_on_test(model: Any, tokenizer: Any, task: Task, eval_limit: int | None, seed: int = 0,
                  name: str = "") -> dict[str, Any]:
    """A model's test score with its per-item log, in the form metrics.json keeps (`base` and
    `result`); callers that score the untouched student once pass it to run_transfer as
    `base_metrics`."""
    result = evaluate_task(model, tokenizer, task, "test", eval_limit, seed, model_name=name)
    return {"score": result.score, "n": result.n, "extra": result.extra, "items": result.items}


def run_transfer(req: TransferRequest | PreparedTransfer, progress: Progress | None = None,
                 cancelled: Callable[[], bool] | None = None,
                 base_metrics: dict[str, Any] | None = None,
                 models: ModelProvider = MODELS) -> TransferResult:
    """Run and save a transfer (preparing it first unless it was); the run directory records
    every step.

    `base_metrics` lets a caller that already scored the same student on the same test items
    (e.g. `reproduce`) skip scoring it again.
    """
    prepared = req if isinstance(req, PreparedTransfer) else prepare(req)
    req, paradigm, task = prepared.request, prepared.paradigm, prepared.task
    torch.manual_seed(req.seed)
    run = RunDir.create(req.out, paradigm.name, task.name)
    run.write_json("config.json", _run_config(prepared))
    session = policy.current_session()
    if session is not None:  # a visitor's run: theirs to load and download, deleted after them
        run.set_owner(policy.session_tag(session))
    run.set_status("running")
    say = progress or (lambda done, total, msg: None)
    started = time.perf_counter()
    try:
        # The student first: taken out of the cache, so a teacher that is the same model is
        # loaded apart from it and never edited.
        student = models.take(req.student, req.student_device, req.dtype)
        teacher = models.get(req.teacher, req.teacher_device, req.dtype) \
            if paradigm.needs_teacher and req.teacher else None
        say(0, 1, "scoring the base student")
        base = base_metrics or score_on_test(student.model, student.tokenizer, task,
                                             req.eval_limit, req.seed, req.student)
        ctx = TransferContext(student, teacher, task, prepared.splits, say,
                              cancelled or (lambda: False), run.append_log, run.save_checkpoint)
        outcome = paradigm.run(ctx, prepared.config)
        final_model = _save_model(outcome, student, run)
        say(0, 1, "scoring the transferred student")
        result = score_on_test(final_model, student.tokenizer, task, req.eval_limit, req.seed,
                               f"{paradigm.name} student")
    except TransferCancelled as err:
        run.set_status("cancelled", str(err), checkpoints=len(run.checkpoints()))
        raise
    except Exception as err:
        run.set_status("failed", str(err), checkpoints=len(run.checkpoints()))
        raise
    effects = {**output_effects(base["items"], result["items"]),
               "relative_update": relative_update(student, final_model)}
    metrics = {"task": task.name, "split": "test", "base": base, "result": result,
               "delta": result["score"] - base["score"], "effects": effects,
               "seconds": round(time.perf_counter() - started, 2)}
    run.write_json("metrics.json", metrics)
    run.write_json("artifacts.json", outcome.artifacts)
    run.set_status("complete", f"{paradigm.title}: {base['score']:.3f} → {result['score']:.3f}")
    return TransferResult(run.path, "complete", metrics, outcome.artifacts, outcome)


def _run_config(prepared: PreparedTransfer) -> dict[str, Any]:
    """config.json: the request and the paradigm's full config, enough to repeat the run."""
    req, paradigm = prepared.request, prepared.paradigm
    return {RUN_MARKER: True, "paradigm": paradigm.name, "family": paradigm.family,
            "teacher": req.teacher if paradigm.needs_teacher else None, "student": req.student,
            "task": prepared.task.name, "preset": req.preset, "request": asdict(req),
            "config": prepared.config.as_dict(),
            "split_sizes": {k: len(v) for k, v in prepared.splits.items()},
            "estimated_seconds": prepared.estimated_seconds,
            "estimated_peak_bytes": prepared.estimated_peak_bytes,
            "versions": {"torch": torch.__version__, "python": platform.python_version()},
            "started": time.strftime("%Y-%m-%d %H:%M:%S")}


def _save_model(outcome: TransferOutcome, student: Any, run: RunDir) -> Any:
    """Write model/ (merged weights, always) and adapter/ (LoRA paradigms); return the model."""
    model = outcome.model
    if outcome.kind == "adapter":
        model.save_pretrained(run.path / "adapter")
        model = model.merge_and_unload()
    # Written beside, then renamed: a crash never leaves a half-written model/ behind.
    staging = run.path / ".model.partial"
    model.save_pretrained(staging)
    student.tokenizer.save_pretrained(staging)
    staging.rename(run.path / "model")
    return model
