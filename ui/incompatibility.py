"""The Incompatibility tab: how alike the two models are inside (representation heatmaps beside
the paper's numbers, parametric similarity), the incompatibility curve (shipped for the embedded
pair, re-run on demand) and the scale ladder (precomputed, static)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from pkt_core import lab

from .glue import (HEAVY, ViewWidgets, cancel_job, capped_slider, captioned_plot, heavy,
                   safe, session_key, with_captions)
from .pair import PairTab


@dataclass
class IncompatibilityTab:
    task: Any
    metric: Any
    n_texts: Any
    compute: Any
    heatmaps: Any
    reference_rows: Any
    notes: Any
    rank: Any
    parametric: Any
    curves: Any
    summary: Any
    curve_run: Any  # the incompatibility curve: shipped for the embedded pair, re-run on demand
    curve_cancel: Any
    curve_status: Any
    curve_plot: Any
    curve_notes: Any


def _curve_section() -> tuple[Any, Any, Any, Any, Any]:
    """The incompatibility curve: its buttons, status, plot and notes (the shipped curve first)."""
    gr.Markdown("### The incompatibility curve\nDoes a teacher's update help more than the same-"
                "sized update from its shuffled copy (same weights, no knowledge)?")
    shipped = lab.shipped_curve(*lab.default_pair())
    with gr.Row():
        curve_run = gr.Button("Re-run the curve for this pair", elem_id="curve-btn")
        curve_cancel = gr.Button("Cancel", variant="stop", size="sm")
    return (curve_run, curve_cancel, gr.Markdown(),
            captioned_plot(shipped.curve_plot, elem_id="curve", label="incompatibility curve"),
            gr.Markdown(shipped.curve_notes, elem_id="curve-notes"))


def ladder_section(task: str = "facts") -> None:
    """The scale ladder: precomputed (`python -m pkt_core ladder`), static."""
    gr.Markdown("### The scale ladder\nIs incompatibility about scale or about separate training? "
                "Every pair of the embedded family, including a same-size sibling trained from "
                "another random start, against how many times larger the teacher is.")
    figure, notes = lab.shipped_ladder_view(task)
    if figure is not None:
        captioned_plot(figure, label="scale ladder", elem_id="ladder")
    gr.Markdown(notes, elem_id="ladder-notes")


def incompatibility_tab() -> IncompatibilityTab:
    gr.Markdown("How alike are the two models inside? Every student layer against every teacher "
                "layer, beside the paper's Llama-2 numbers.")
    with gr.Row():
        task = gr.Dropdown(lab.task_choices(), value="facts", label="inputs from task")
        metric = gr.Radio([("linear CKA", "cka"), ("signed cosine", "cosine")], value="cka",
                          label="metric")
        n_texts = capped_slider(4, 64, "similarity_texts", value=24, step=1, label="texts")
    compute = gr.Button("Compute heatmaps", variant="primary", elem_id="heatmaps-btn")
    heatmaps = captioned_plot(label="representation similarity", elem_id="heatmaps")
    with gr.Row():
        reference_rows = gr.Dataframe(headers=["module", "published mean (Llama-2)",
                                               "ours (mean)", "ours (std)"],
                                      label="beside the paper", scale=2)
        notes = gr.Markdown()
    with gr.Row():
        rank = capped_slider(1, 64, "parametric_rank", value=16, step=1, label="LoRA rank")
        parametric = gr.Button("Parametric similarity")
    curves = captioned_plot(label="parametric similarity", elem_id="parametric")
    summary = gr.Markdown()
    curve = _curve_section()
    ladder_section()
    return IncompatibilityTab(task, metric, n_texts, compute, heatmaps, reference_rows, notes,
                              rank, parametric, curves, summary, *curve)


def _wire_curve(tab: IncompatibilityTab, pair: PairTab) -> None:
    curve_view = ViewWidgets(tab, lab.CurveView)

    @safe
    @heavy(duration=600)
    def curve(teacher, student, task, request: gr.Request):
        key = session_key(request)
        job = lab.start_curve(teacher, student, task, session=key)
        try:
            for view in lab.curve_views(job):
                yield ({tab.curve_status: view} if isinstance(view, str) else
                       {**curve_view.updates(view), tab.curve_status: "✅ curve computed"})
        finally:
            job.stop()
            lab.JOBS.remove(key, job)

    tab.curve_run.click(curve, None, with_captions([tab.curve_status, *curve_view.outputs]),
                        inputs_kwargs={"teacher": pair.teacher, "student": pair.student,
                                       "task": tab.task}, api_name="curve", **HEAVY)
    tab.curve_cancel.click(cancel_job, None, tab.curve_status, api_name="cancel_curve",
                           concurrency_limit=None)


def wire_incompatibility(tab: IncompatibilityTab, pair: PairTab) -> None:
    similar = ViewWidgets(tab, lab.SimilarityView)
    parametric_out = ViewWidgets(tab, lab.ParametricView)

    @safe
    @heavy(duration=60)
    def similarity(teacher, student, task, metric, n_texts, progress=gr.Progress(track_tqdm=True)):
        progress(0.1, desc="module outputs of both models")
        return similar.updates(lab.similarity_view(teacher, student, task, metric, n_texts))

    @safe
    @heavy(duration=60)
    def parametric(teacher, student, rank, progress=gr.Progress(track_tqdm=True)):
        progress(0.1, desc="SVD of every matrix")
        return parametric_out.updates(lab.parametric_view(teacher, student, rank))

    _wire_curve(tab, pair)
    pair_in = {"teacher": pair.teacher, "student": pair.student}
    tab.compute.click(similarity, None, with_captions(similar.outputs), api_name="similarity",
                      inputs_kwargs={**pair_in, "task": tab.task, "metric": tab.metric,
                                     "n_texts": tab.n_texts}, **HEAVY)
    tab.parametric.click(parametric, None, with_captions(parametric_out.outputs),
                         api_name="parametric",
                         inputs_kwargs={**pair_in, "rank": tab.rank}, **HEAVY)
