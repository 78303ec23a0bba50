"""The Compare tab: the base student, a run of each compared paradigm and the teacher answer one
prompt side by side (streamed), and a per-item quick evaluation of the same models.

The run pickers come from the registry (`compared_paradigms()`): one per paradigm, each an input
named `<paradigm>_run` in the API (`seeking_run`, `laten_run`, … — what scripted clients pass)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from pkt_core import lab
from pkt_core.paradigms import compared_paradigms, get_paradigm

from .glue import (HEAVY, ViewWidgets, capped_slider, captioned_plot, declare_keywords, heavy,
                   safe, with_captions)
from .pair import PairTab


@dataclass
class CompareTab:
    prompt: Any
    runs: dict[str, Any]  # compared paradigm → the picker of its saved runs (registry order)
    with_teacher: Any
    max_new_tokens: Any
    temperature: Any
    seed: Any
    generate: Any
    answers: list[Any]  # one box per lab.slot_labels() entry, in that order
    reference: Any  # the prompt's reference answer, when it is a toy-task item
    likelihoods: Any  # a multiple-choice item: each model's option log-likelihoods (what is scored)
    likelihood_notes: Any
    quick_task: Any
    quick_n: Any
    quick_run: Any
    summary: Any
    rows: Any


def run_parameter(paradigm: str) -> str:
    """The API name of the input that picks a compared paradigm's run (scripted clients use it)."""
    return f"{paradigm}_run"


def run_inputs(tab: CompareTab) -> dict[str, Any]:
    """The run pickers by API name, in the registry's order."""
    return {run_parameter(paradigm): picker for paradigm, picker in tab.runs.items()}


def chosen_runs(tab: CompareTab, values: dict[str, Any]) -> dict[str, str | None]:
    """A handler's `<paradigm>_run` keyword values → paradigm → the chosen run."""
    return {paradigm: values.get(run_parameter(paradigm)) for paradigm in tab.runs}


def lineup_inputs(tab: CompareTab, pair: PairTab) -> dict[str, Any]:
    """The inputs naming the compared models, in the API's order: the student, each compared
    paradigm's run, the teacher and whether it is included."""
    return {"student": pair.student, **run_inputs(tab), "teacher": pair.teacher,
            "with_teacher": tab.with_teacher}


def _intro() -> str:
    students = ", ".join(f"a {get_paradigm(p).title} student" for p in compared_paradigms())
    return (f"The same prompt and decoding settings for the base student, {students} and the "
            "teacher — streamed.")


def _quick_eval_section() -> tuple[Any, Any, Any, Any, Any]:
    gr.Markdown("### Quick evaluation")
    with gr.Row():
        quick_task = gr.Dropdown(lab.task_choices(), value="facts", label="task")
        quick_n = capped_slider(1, 100, "quick_eval_items", value=lab.QUICK_EVAL_ITEMS, step=1,
                                label="test items")
        quick_run = gr.Button("Evaluate these models")
    summary = gr.Markdown()
    rows = gr.Dataframe(headers=["model", "item", "reference", "output", "likelihood pick",
                                 "generated", "right"], label="per item", max_height=400, wrap=True)
    return quick_task, quick_n, quick_run, summary, rows


def compare_tab(student0: str) -> CompareTab:
    gr.Markdown(_intro())
    prompt = gr.Textbox(lab.default_prompt(), label="prompt", lines=3, elem_id="compare-prompt")
    with gr.Row():
        runs = {p: gr.Dropdown(lab.run_choices(p), label=f"{lab.paradigm_title(p)} run",
                               value=lab.default_run(p, student0), allow_custom_value=True, scale=3)
                for p in compared_paradigms()}  # wide: a run's label must not be cut at 1024 px
        with_teacher = gr.Checkbox(True, label="include the teacher", scale=1)
    with gr.Row():
        max_new_tokens = capped_slider(1, 256, "max_new_tokens", value=lab.DEFAULT_NEW_TOKENS,
                                       step=1, label="max new tokens")
        temperature = gr.Slider(0, 2, value=0, step=0.05, label="temperature (0 = greedy)")
        seed = gr.Number(0, label="seed", precision=0)
    # Not cached: the answers depend on the chosen pair and runs, which change.
    gr.Examples([[lab.task_example(t, 0, "test")[0]] for t in ("facts", "arith", "write")],
                [prompt], label="toy-world test questions", cache_examples=False)
    generate = gr.Button("Generate side by side", variant="primary", elem_id="compare-btn")
    with gr.Row():
        answers = [gr.Textbox(label=label, lines=6, elem_id=f"out-{i}", buttons=["copy"])
                   for i, label in enumerate(lab.slot_labels())]
    reference = gr.Markdown(lab.prompt_reference(lab.default_prompt()),
                            elem_id="compare-reference")
    with gr.Row():
        likelihoods = captioned_plot(label="option likelihoods", elem_id="likelihoods", scale=2)
        likelihood_notes = gr.Markdown(elem_id="likelihood-notes")
    return CompareTab(prompt, runs, with_teacher, max_new_tokens, temperature, seed, generate,
                      answers, reference, likelihoods, likelihood_notes, *_quick_eval_section())


def _compare_handler(tab: CompareTab, scored: ViewWidgets) -> Any:
    @safe
    @heavy(duration=60)
    def compare(student, teacher, with_teacher, prompt, max_new_tokens, temperature, seed,
                **runs):
        slots = lab.lineup(student, chosen_runs(tab, runs), teacher, bool(with_teacher))
        texts: list[str] = []
        for texts in lab.compare_stream(slots, prompt, max_new_tokens, temperature, seed):
            yield dict(zip(tab.answers, texts))
        # The last answer carries every output; a free prompt (no options) empties the plot.
        view = lab.likelihood_view(slots, prompt)
        yield {**dict(zip(tab.answers, texts)), **scored.updates(view, clear_empty=True)}

    declare_keywords(compare, list(run_inputs(tab)))
    return compare


def _quick_eval_handler(tab: CompareTab, evaluated: ViewWidgets) -> Any:
    @safe
    @heavy(duration=120)
    def quick_eval(student, teacher, with_teacher, task, n_items,
                   progress=gr.Progress(track_tqdm=True), **runs):
        progress(0.05, desc="evaluating")
        slots = lab.lineup(student, chosen_runs(tab, runs), teacher, bool(with_teacher))
        return evaluated.updates(lab.quick_eval(slots, task, n_items))

    declare_keywords(quick_eval, list(run_inputs(tab)))
    return quick_eval


def wire_compare(tab: CompareTab, pair: PairTab) -> None:
    scored = ViewWidgets(tab, lab.LikelihoodView)
    evaluated = ViewWidgets(tab, lab.QuickEvalView)
    lineup = lineup_inputs(tab, pair)
    tab.generate.click(_compare_handler(tab, scored), None,
                       with_captions([*tab.answers, *scored.outputs]), api_name="compare",
                       **HEAVY, inputs_kwargs={**lineup, "prompt": tab.prompt,
                                               "max_new_tokens": tab.max_new_tokens,
                                               "temperature": tab.temperature, "seed": tab.seed})
    tab.prompt.change(safe(lab.prompt_reference), tab.prompt, tab.reference,
                      api_name="prompt_reference")
    tab.quick_run.click(_quick_eval_handler(tab, evaluated), None, evaluated.outputs,
                        api_name="quick_eval", **HEAVY,
                        inputs_kwargs={**lineup, "task": tab.quick_task, "n_items": tab.quick_n})
