"""The analysis tabs: Pair (cards + verdict), Locate, Incompatibility (representation and
parametric similarity). Each function checks its input, computes with pkt_core and returns a view."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .. import paper
from ..infra import paths
from ..analyse import (METRICS, compare_layer_attribution, locate_stability,
                       parametric_similarity, representation_similarity)
from ..experiments.curve import incompatibility_curve
from ..experiments.ladder import shipped_ladder
from ..figures import (METHOD_LABEL, incompatibility_curve_figure, ladder_figure,
                       layer_score_curves, neuron_score_map, parametric_curves,
                       published_reference_table, similarity_heatmaps)
from ..locate import KINDS, LocateConfig, LocateResult, locate
from ..models import ModelShape, resolve_ref
from ..models.loading import ref_availability
from ..models import tokenizers_match
from ..models.provider import MODELS
from ..paradigms import check_pair_for, get_paradigm, paradigm_names
from ..tasks import get_task, render_chat
from .inputs import LabError, as_int, as_text, lab_limits, readable
from .jobs import JOBS, Job
from .views import (CurveView, LocateView, PairView, ParametricView, SimilarityView,
                    curve_markdown, ladder_markdown, locate_summary, model_card, similarity_notes,
                    stability_markdown, token_label, verdict_markdown)

ROLES = ("teacher", "student")


# ---- 1. pair --------------------------------------------------------------------------------------
def _source(ref: str) -> str:
    mref = resolve_ref(ref)
    control = "a control (weights shuffled) of " if mref.shuffled else ""
    if mref.kind == "embedded":
        return control + "embedded, offline"
    if mref.kind == "run":
        return control + "a PKT Lab run directory"
    return control + ref_availability(mref)


def _tokenizer_check(teacher: str, student: str) -> tuple[bool, str]:
    """(same tokenizer as far as we know, what the page says about it)."""
    try:
        same = tokenizers_match(teacher, student)
    except Exception:  # noqa: BLE001 — a tokenizer that will not load is reported, not fatal
        return True, "tokenizers not compared"
    if same is None:
        return True, "tokenizers not compared (not downloaded yet)"
    return same, "same tokenizer" if same else "different tokenizers"


def pair_report(teacher: str, student: str) -> PairView:
    """Cards side by side and the verdict; problems are reported inline, never raised."""
    refs = dict(zip(ROLES, (teacher, student)))
    shapes: dict[str, ModelShape] = {}
    errors: dict[str, str] = {}
    for role, ref in refs.items():
        try:
            shapes[role] = MODELS.shape(as_text(ref, f"the {role}"))
        except Exception as err:  # noqa: BLE001 — shown in the card
            errors[role] = readable(err)
    cards = [model_card(role, ref, shapes.get(role), _source(ref) if role in shapes else "",
                        errors.get(role)) for role, ref in refs.items()]
    if errors:
        said = "; ".join(f"{role}: {err.rstrip('.')}" for role, err in errors.items())
        return PairView(*cards, f"**❌ cannot check this pair** — {said}.", False)
    same, tokenizer_note = _tokenizer_check(teacher, student)
    t, s = shapes["teacher"], shapes["student"]
    report = check_pair_for(t, s, same)
    per_paradigm = [(get_paradigm(name).title, check_pair_for(t, s, same, name).ok)
                    for name in paradigm_names()]
    ratio = f"{t.n_layers} × {t.hidden} → {s.n_layers} × {s.hidden}"
    if t.n_params and s.n_params:
        ratio += f"; the teacher has {t.n_params / s.n_params:.1f}× the parameters"
    verdict = verdict_markdown(report.ok, report.problems, report.notes, ratio, per_paradigm,
                               tokenizer_note)
    return PairView(*cards, verdict, report.ok, report.as_dict())


# ---- 2. locate ------------------------------------------------------------------------------------
def _top_rows(role: str, result: LocateResult, layers: int = 3, neurons: int = 5) -> list[list[Any]]:
    rows = []
    for kind in KINDS:
        scores = result.neuron_scores(kind)
        for layer in result.top_layers(kind, layers):
            for rank, k in enumerate(result.top_neurons(kind, layer, neurons), 1):
                rows.append([role, "FFN" if kind == "ffn" else "attention", layer, rank, k,
                             round(float(scores[layer, k]), 6)])
    return rows


def _stability(previous: dict[str, Any] | None, state: dict[str, Any],
               results: dict[str, LocateResult]) -> str:
    """The stability table against the visitor's previous example with the same pair."""
    same_pair = previous and all(previous.get(r) == state[r] for r in ROLES)
    if not same_pair or (previous.get("prompt"), previous.get("answer")) == (state["prompt"],
                                                                            state["answer"]):
        return "*Locate a second example with the same pair to see how stable the top neurons are.*"
    try:
        before = {role: LocateResult.from_json(previous[f"{role}_result"]) for role in ROLES}
        rows = [(role, kind, locate_stability(before[role], results[role], kind))
                for role in ROLES for kind in KINDS]
    except (KeyError, TypeError, ValueError):  # state from an older page: just skip the table
        return "*Locate a second example with the same pair to see how stable the top neurons are.*"
    return stability_markdown(previous["prompt"], rows)


def locate_both(teacher: str, student: str, prompt: str, answer: str,
                chat: bool = True) -> dict[str, LocateResult]:
    """Logit-lens attribution of one example in the teacher and the student, as Locate runs it
    (Learn quotes the same numbers)."""
    text = render_chat(prompt) if chat else prompt
    results: dict[str, LocateResult] = {}
    for role, ref in zip(ROLES, (teacher, student)):
        loaded = MODELS.get(ref)
        results[role] = locate(loaded.model, loaded.tokenizer, loaded.spec, [(text, answer)],
                               LocateConfig(), top_k=10)
    return results


def locate_pair(teacher: str, student: str, prompt: str, answer: str, chat: bool = True,
                normalise: bool = True, previous: dict[str, Any] | None = None) -> LocateView:
    """Logit-lens attribution in teacher and student for one example, with the figures.

    `previous` is the `state` of this session's last locate; when it was the same pair on another
    example, the summary says how stable the top neurons are between the two examples.
    """
    prompt, answer = as_text(prompt, "the prompt"), as_text(answer, "the answer")
    started = time.perf_counter()
    refs = dict(zip(ROLES, (teacher, student)))
    results = locate_both(teacher, student, prompt, answer, chat)
    maps = {}
    for role, ref in refs.items():
        for kind, what in (("ffn", "FFN neurons"), ("attn", "attention neurons")):
            fig = neuron_score_map(results[role], kind)
            fig.update_layout(title={"text": f"{role}: {what}<br><sup>{ref}</sup>"})
            maps[f"{role}_{kind}"] = fig
    t_res, s_res = results["teacher"], results["student"]
    target_id = t_res.target_token_id
    target = token_label(MODELS.get(teacher).tokenizer.decode([target_id]), target_id)
    seconds = time.perf_counter() - started
    summary = locate_summary(target, seconds, compare_layer_attribution(t_res, s_res, "ffn"),
                             compare_layer_attribution(t_res, s_res, "attn"))
    state = {"teacher": teacher, "student": student, "prompt": prompt, "answer": answer,
             **{f"{role}_result": results[role].to_state() for role in ROLES}}
    summary += "\n\n" + _stability(previous, state, results)
    return LocateView(summary, layer_score_curves(t_res, s_res, "ffn", normalise=normalise),
                      layer_score_curves(t_res, s_res, "attn", normalise=normalise),
                      maps["teacher_ffn"], maps["student_ffn"], maps["teacher_attn"],
                      maps["student_attn"], _top_rows("teacher", t_res) + _top_rows("student", s_res),
                      state, seconds)


# ---- 3. incompatibility -----------------------------------------------------------------------------
def similarity_view(teacher: str, student: str, task: str = "facts", metric: str = "cka",
                    n_texts: Any = 24, max_tokens: int = 768) -> SimilarityView:
    """Representation-similarity heatmaps, the table beside the paper's means, and notes."""
    if metric not in METRICS:
        raise LabError(f"unknown metric '{metric}'; choose cka or cosine")
    n = as_int(n_texts, "the number of texts", 2, cap="similarity_texts")
    task_obj = get_task(as_text(task, "the task"))
    texts = [task_obj.full_text(ex) for ex in task_obj.split("test")[:n]]
    # No count in the description: how many texts fit in `max_tokens` is known only after the
    # run (`result.n_texts`), and a requested count beside a used one reads as a contradiction.
    result = representation_similarity(MODELS.get(teacher), MODELS.get(student), texts,
                                       metric=metric, max_tokens=max_tokens,
                                       inputs_description=f"{task}/test examples")
    rows = [[r["module"], r["published_mean"],
             round(r["our_mean"], 3) if "our_mean" in r else None,
             round(r["our_std"], 3) if "our_std" in r else None]
            for r in published_reference_table(result)]
    return SimilarityView(similarity_heatmaps(result), rows, similarity_notes(result, task))


def _mean(values: list[float]) -> str:
    finite = [v for v in values if v == v]  # NaN ≠ NaN: a zero matrix has no cosine
    return f"{float(np.mean(finite)):+.3f}" if finite else "n/a"


def parametric_view(teacher: str, student: str, rank: Any = 16) -> ParametricView:
    r = as_int(rank, "the LoRA rank", 1, cap="parametric_rank")
    result = parametric_similarity(MODELS.get(teacher), MODELS.get(student), rank=r)
    summary = result.summary()
    lines = ["| init | cos(BA, W) | cos(BA, W − BA) | the paper (Llama-2) |", "|---|---|---|---|"]
    for method, published in paper.PARAMETRIC_COSINES.items():
        values = list(summary.get(method, {}).values())
        lines.append(f"| {METHOD_LABEL.get(method, method)} | "
                     f"{_mean([v['vs_original'] for v in values])} | "
                     f"{_mean([v['vs_remainder'] for v in values])} | {published} |")
    text = ("Mean over layers and modules. A Seeking-style piece taken from the teacher is "
            "nearly orthogonal to what the student already has — the *parametric* side of "
            "neural incompatibility.\n\n" + "\n".join(lines) + "\n\n"
            + _own_top_r_comment(summary.get("own_top_r", {}), r, MODELS.shape(student).hidden))
    return ParametricView(parametric_curves(result), text)


def _own_top_r_comment(own: dict[str, dict[str, float]], rank: int, width: int) -> str:
    """Why PiSSA's cos(BA, W) is high here and ≈ 0.15 in the paper: BA is W's own top singular
    directions, so the cosine is just the share of W's norm those directions hold."""
    share = _mean([v["norm_ratio"] for v in own.values()])
    published = paper.PARAMETRIC_COSINES["own_top_r"].split(" · ")[0]
    return (f"*PiSSA's row is not a transfer:* its BA is the student's own top-{rank} singular "
            f"directions, so by construction cos(BA, W) = ‖BA‖/‖W‖ (here {share}), the fraction "
            f"of W's norm that rank {rank} holds — large in this student's {width}-wide matrices, "
            f"small in the paper's far wider Llama-2 ones, which is all its {published} (the same "
            "PiSSA measure) says; the teacher's piece is the other row.")


# ---- the incompatibility curve (precomputed for the embedded pair, re-run on demand) -----------------
def curve_file(teacher: str, student: str, task: str) -> Path:
    """Where a pair's shipped curve lives (assets/curves/<teacher>__<student>__<task>.json)."""
    safe = ["".join(c if c.isalnum() or c in "-_." else "-" for c in part)
            for part in (teacher, student, task)]
    return paths.curves_dir() / ("__".join(safe) + ".json")


def shipped_curve(teacher: str, student: str, task: str = "facts") -> CurveView:
    """The precomputed curve of this pair, or a note that there is none yet."""
    path = curve_file(teacher, student, task)
    try:
        curve = json.loads(path.read_text())
    except (OSError, ValueError):
        return CurveView(incompatibility_curve_figure({}), "No curve is shipped for this pair and "
                         "task: press **Re-run the curve** (it runs LaTen from the teacher and from "
                         "its shuffled control at several update sizes and seeds).")
    return CurveView(incompatibility_curve_figure(curve),
                     curve_markdown(curve, f"Precomputed by `python -m pkt_core curve` in "
                                    f"{curve['seconds']:.0f} s."))


def shipped_ladder_view(task: str = "facts") -> tuple[Any, str]:
    """The precomputed scale ladder (figure, table), or (None, how to make it)."""
    ladder = shipped_ladder(task)
    if ladder is None:
        return None, ("No ladder is shipped for this task: `python -m pkt_core ladder --task "
                      f"{task} --json` computes it.")
    return ladder_figure(ladder), ladder_markdown(ladder)


def start_curve(teacher: str, student: str, task: str, points: Any = 5, seeds: Any = 3,
                eval_limit: Any = None, session: str | None = None) -> Job:
    """The curve in a worker thread (points × seeds × 2 runs of each paradigm on the curve by
    default), checked before it starts.
    Test items default to 150, or the public cap."""
    if session is not None and JOBS.busy(session):
        raise LabError("a job is already running in this session; cancel it or wait")
    args = (as_text(teacher, "the teacher"), as_text(student, "the student"),
            as_text(task, "the task"), as_int(points, "the number of points", 2, cap="curve_points"),
            as_int(seeds, "the number of seeds", 1, cap="curve_seeds"),
            as_int(min(150, lab_limits().lab_cap("curve_items")) if eval_limit is None else eval_limit,
                   "test items", 10, cap="curve_items"))
    MODELS.shape(args[0]), MODELS.shape(args[1])  # an unknown model fails here, not in the thread
    job = Job(lambda say, cancelled: incompatibility_curve(*args, progress=say, cancelled=cancelled),
              "pkt-curve").start()
    if session is not None:
        JOBS.add(session, job)
    return job


def curve_views(job: Job, every: float = 1.0) -> Iterator[CurveView | str]:
    """Progress lines while the curve runs, then its view (or the error, in one line)."""
    while job.running:
        done, total, message, eta = job.progress()
        yield f"⏳ {message} ({done}/{total})" + (f" · ETA {eta:.0f} s" if eta is not None else "")
        job.wait(every)
    if job.error is not None:
        raise LabError(readable(job.error))
    yield CurveView(incompatibility_curve_figure(job.result),
                    curve_markdown(job.result, f"Computed now in {job.result['seconds']:.0f} s."))
