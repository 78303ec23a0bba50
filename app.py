"""PKT Lab — the Gradio dashboard. Layout and wiring only: every event calls pkt_core.lab.

One small builder per tab returns its widgets as a named structure; handlers receive inputs by
name (`inputs_kwargs`) and map the fields of a typed view (pkt_core.lab.views) to the widgets of
the same name (ui_glue.py holds the shared pieces, Learn's guided path and the ladder). Every event
has an api_name (`gradio_client` drives the whole lab); heavy work waits in lab.GATE (one job at a
time, a per-session quota in public mode); per-visitor state lives in gr.State; errors are one line.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

# Before torch loads: idle OpenMP threads sleep instead of spinning. On a small shared CPU a
# spinning thread stalls every small matmul (the tiny models' forward passes) by orders of magnitude.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import gradio as gr  # noqa: E402

from pkt_core import lab  # noqa: E402
from pkt_core import policy  # noqa: E402
from pkt_core.runs import mark_interrupted  # noqa: E402
from ui_glue import (HEAVY, NAV, PRESET_INFO, cancel_job, capped_slider, captioned_plot,  # noqa: E402
                     declare_keywords, heavy, launch_options, safe, session_key, setting_widget,
                     view_outputs, view_updates, with_captions, learn_tab, wire_learn,
                     run_pickers, session_closed, with_caption_updates, ladder_section)

TASKS = lab.task_choices()


# ---- 1. pair ----------------------------------------------------------------------------------------
@dataclass
class PairTab:
    preset: Any
    teacher: Any
    student: Any
    check: Any
    teacher_card: Any
    student_card: Any
    verdict: Any


def pair_tab() -> PairTab:
    teacher0, student0 = lab.default_pair()
    models = lab.model_choices()
    preset = gr.Dropdown(lab.preset_choices(), value="embedded", label="preset pair",
                         info="hub pairs need network (and the big ones a GPU)")
    info = "embedded name, hub id (owner/name), local path or a run directory"
    with gr.Row():
        teacher = gr.Dropdown(models, value=teacher0, label="teacher", info=info,
                              allow_custom_value=True, elem_id="teacher")
        student = gr.Dropdown(models, value=student0, label="student", info=info,
                              allow_custom_value=True, elem_id="student")
    check = gr.Button("Check pair", variant="primary", elem_id="check-pair")
    with gr.Row(equal_height=True):
        teacher_card = gr.Markdown(elem_id="teacher-card", container=True)
        student_card = gr.Markdown(elem_id="student-card", container=True)
    return PairTab(preset, teacher, student, check, teacher_card, student_card,
                   gr.Markdown(elem_id="verdict"))


def wire_pair(tab: PairTab) -> None:
    @safe
    def check_pair(teacher, student):
        return view_updates(tab, lab.pair_report(teacher, student))

    @safe
    def preset_pair(name):
        return lab.preset_pair(name)

    pair_in = {"teacher": tab.teacher, "student": tab.student}
    tab.check.click(check_pair, None, view_outputs(tab, lab.PairView), inputs_kwargs=pair_in,
                    api_name="check_pair")
    tab.preset.input(preset_pair, tab.preset, [tab.teacher, tab.student], api_name="preset_pair").then(
        check_pair, None, view_outputs(tab, lab.PairView), inputs_kwargs=pair_in,
        api_name="check_preset_pair")


# ---- 2. locate --------------------------------------------------------------------------------------
@dataclass
class LocateTab:
    task: Any
    index: Any
    fill: Any
    prompt: Any
    answer: Any
    chat: Any
    normalise: Any
    run: Any
    summary: Any
    layer_ffn: Any
    layer_attn: Any
    teacher_ffn: Any
    student_ffn: Any
    teacher_attn: Any
    student_attn: Any
    top_rows: Any
    state: Any


def locate_tab() -> LocateTab:
    prompt0, answer0 = lab.task_example("facts", 0)
    gr.Markdown("Which layers and neurons push the answer out? Logit-lens attribution in both "
                "models for one example (what LaTen transfers).")
    with gr.Row():
        task = gr.Dropdown(TASKS, value="facts", label="task")
        index = gr.Number(0, label="example (extract split)", precision=0)
        fill = gr.Button("Use this example")
    with gr.Row():
        prompt = gr.Textbox(prompt0, label="prompt", lines=4, scale=3)
        answer = gr.Textbox(answer0, label="answer", lines=4, scale=1)
    with gr.Row():
        chat = gr.Checkbox(True, label="wrap the prompt in the chat format")
        normalise = gr.Checkbox(True, label="normalise each model's curve")
    run = gr.Button("Locate", variant="primary", elem_id="locate-btn")
    summary = gr.Markdown()
    with gr.Row():
        layer_ffn = captioned_plot(label="FFN layers")
        layer_attn = captioned_plot(label="attention layers")
    with gr.Accordion("Neuron score maps (layer × neuron)", open=True):
        with gr.Row():
            teacher_ffn = captioned_plot(label="teacher FFN")
            student_ffn = captioned_plot(label="student FFN")
        with gr.Row():
            teacher_attn = captioned_plot(label="teacher attention")
            student_attn = captioned_plot(label="student attention")
    top_rows = gr.Dataframe(headers=["model", "kind", "layer", "rank", "neuron", "score"],
                            label="top neurons of the top layers", max_height=320)
    return LocateTab(task, index, fill, prompt, answer, chat, normalise, run, summary, layer_ffn,
                     layer_attn, teacher_ffn, student_ffn, teacher_attn, student_attn, top_rows,
                     gr.State(None))


def wire_locate(tab: LocateTab, pair: PairTab) -> None:
    @safe
    def task_example(task, index):
        return lab.task_example(task, index)

    @safe
    @heavy(duration=60)
    def locate(teacher, student, prompt, answer, chat, normalise, previous,
               progress=gr.Progress(track_tqdm=True)):
        progress(0.1, desc="locating in teacher and student")
        return view_updates(tab, lab.locate_pair(teacher, student, prompt, answer, bool(chat),
                                          bool(normalise), previous))

    tab.fill.click(task_example, None, [tab.prompt, tab.answer], api_name="task_example",
                   inputs_kwargs={"task": tab.task, "index": tab.index})
    tab.run.click(locate, None, with_captions(view_outputs(tab, lab.LocateView)),
                  api_name="locate", **HEAVY,
                  inputs_kwargs={"teacher": pair.teacher, "student": pair.student,
                                 "prompt": tab.prompt, "answer": tab.answer, "chat": tab.chat,
                                 "normalise": tab.normalise, "previous": tab.state})


# ---- 3. incompatibility -----------------------------------------------------------------------------
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


def incompatibility_tab() -> IncompatibilityTab:
    gr.Markdown("How alike are the two models inside? Every student layer against every teacher "
                "layer, beside the paper's Llama-2 numbers.")
    with gr.Row():
        task = gr.Dropdown(TASKS, value="facts", label="inputs from task")
        metric = gr.Radio([("linear CKA", "cka"), ("signed cosine", "cosine")], value="cka",
                          label="metric")
        n_texts = capped_slider(4, 64, "similarity_texts", value=24, step=1, label="texts")
    compute = gr.Button("Compute heatmaps", variant="primary", elem_id="heatmaps-btn")
    heatmaps = captioned_plot(label="representation similarity", elem_id="heatmaps")
    with gr.Row():
        reference_rows = gr.Dataframe(headers=["module", "published mean (Llama-2)", "ours (mean)",
                                               "ours (std)"], label="beside the paper", scale=2)
        notes = gr.Markdown()
    with gr.Row():
        rank = capped_slider(1, 64, "parametric_rank", value=16, step=1, label="LoRA rank")
        parametric = gr.Button("Parametric similarity")
    curves = captioned_plot(label="parametric similarity", elem_id="parametric")
    summary = gr.Markdown()
    gr.Markdown("### The incompatibility curve\nDoes a teacher's update help more than the same-"
                "sized update from its shuffled copy (same weights, no knowledge)?")
    shipped = lab.shipped_curve(*lab.default_pair())
    with gr.Row():
        curve_run = gr.Button("Re-run the curve for this pair", elem_id="curve-btn")
        curve_cancel = gr.Button("Cancel", variant="stop", size="sm")
    return IncompatibilityTab(task, metric, n_texts, compute, heatmaps, reference_rows, notes,
                              rank, parametric, curves, summary, curve_run, curve_cancel,
                              gr.Markdown(), captioned_plot(shipped.curve_plot, elem_id="curve",
                                                     label="incompatibility curve"),
                              gr.Markdown(shipped.curve_notes, elem_id="curve-notes"))


def wire_incompatibility(tab: IncompatibilityTab, pair: PairTab) -> None:
    @safe
    @heavy(duration=60)
    def similarity(teacher, student, task, metric, n_texts, progress=gr.Progress(track_tqdm=True)):
        progress(0.1, desc="module outputs of both models")
        return view_updates(tab, lab.similarity_view(teacher, student, task, metric, n_texts))

    @safe
    @heavy(duration=60)
    def parametric(teacher, student, rank, progress=gr.Progress(track_tqdm=True)):
        progress(0.1, desc="SVD of every matrix")
        return view_updates(tab, lab.parametric_view(teacher, student, rank))

    @safe
    @heavy(duration=600)
    def curve(teacher, student, task, request: gr.Request):
        key = session_key(request)
        job = lab.start_curve(teacher, student, task, session=key)
        try:
            for view in lab.curve_views(job):
                yield ({tab.curve_status: view} if isinstance(view, str) else
                       {**view_updates(tab, view), tab.curve_status: "✅ curve computed"})
        finally:
            job.stop()
            lab.JOBS.remove(key, job)

    pair_in = {"teacher": pair.teacher, "student": pair.student}
    tab.curve_run.click(curve, None,
                        with_captions([tab.curve_status, tab.curve_plot, tab.curve_notes]),
                        inputs_kwargs={**pair_in, "task": tab.task}, api_name="curve", **HEAVY)
    tab.curve_cancel.click(cancel_job, None, tab.curve_status, api_name="cancel_curve",
                           concurrency_limit=None)
    tab.compute.click(similarity, None, with_captions(view_outputs(tab, lab.SimilarityView)),
                      api_name="similarity",
                      inputs_kwargs={**pair_in, "task": tab.task, "metric": tab.metric,
                                     "n_texts": tab.n_texts}, **HEAVY)
    tab.parametric.click(parametric, None, with_captions(view_outputs(tab, lab.ParametricView)),
                         api_name="parametric",
                         inputs_kwargs={**pair_in, "rank": tab.rank}, **HEAVY)


# ---- 4. transfer ------------------------------------------------------------------------------------
@dataclass
class TransferTab:
    paradigm: Any
    task: Any
    groups: dict[str, Any]  # paradigm → its settings group (shown while it is chosen)
    presets: dict[str, Any]  # paradigm → its preset switch (paradigms with several presets)
    settings: dict[str, dict[str, Any]]  # paradigm → setting name → widget, from its config
    seed: Any
    eval_limit: Any
    plan: Any  # pair, paradigm and expected run time (lab.transfer_plan)
    run: Any
    cancel: Any
    status: Any
    cancel_note: Any
    loss: Any
    result: Any
    mine: Any  # this visitor's run paths


def transfer_tab() -> TransferTab:
    with gr.Row():
        paradigm = gr.Radio(lab.paradigm_choices(), value="laten", label="paradigm")
        task = gr.Dropdown(TASKS, value="facts", label="task")
    groups, presets, settings = {}, {}, {}
    with gr.Accordion("Advanced — settings and their defaults", open=False):
        for title, name in lab.paradigm_choices():
            with gr.Group(visible=name == "laten") as groups[name]:
                gr.Markdown(f"**{title}** — {lab.paradigm_description(name)}")
                named = lab.presets(name)
                preset = lab.default_preset(name)
                if len(named) > 1:
                    presets[name] = gr.Radio(list(named), value=preset, label="defaults",
                                             elem_id=f"{name}-defaults", info=PRESET_INFO)
                with gr.Row():
                    settings[name] = {s.name: setting_widget(s, f"{name}-{s.name.replace('_', '-')}",
                                                             named[preset].get(s.name, s.default))
                                      for s in lab.ui_settings(name)}
        with gr.Row():
            seed = gr.Number(0, label="seed", precision=0)
            eval_limit = capped_slider(1, 300, "eval_limit", value=lab.UI_EVAL_LIMIT, step=1,
                                       label="test items scored before/after")
    plan = gr.Markdown(elem_id="transfer-plan")  # filled on change: the estimate imports transformers
    with gr.Row():
        run = gr.Button("Run transfer", variant="primary", elem_id="run-transfer")
        cancel = gr.Button("Cancel", variant="stop")
    status, cancel_note = gr.Markdown(elem_id="transfer-status"), gr.Markdown()
    loss = captioned_plot(label="loss", elem_id="transfer-loss")
    return TransferTab(paradigm, task, groups, presets, settings, seed, eval_limit, plan, run, cancel, status,
                       cancel_note, loss, gr.Markdown(elem_id="transfer-result"), gr.State([]))


def wire_transfer(tab: TransferTab, pair: PairTab, compare: "CompareTab", runs: "RunsTab") -> None:
    @safe
    @heavy(duration=300)
    def transfer(paradigm, teacher, student, task, seed, eval_limit, mine, request: gr.Request,
                 progress=gr.Progress(track_tqdm=True), **settings):
        form = {name: settings[f"{paradigm}_{name}"] for name in tab.settings.get(paradigm, {})}
        preset = settings.get(f"{paradigm}_defaults") or "research"
        key = session_key(request)
        job = lab.start_transfer(paradigm, teacher, student, task, form, seed, eval_limit,
                                 session=key, preset=preset)
        try:
            for view in job.views(0.5):
                progress((view.done, max(view.total, 1)), desc=view.message, unit="steps")
                if not view.running:
                    break
                yield {**view_updates(tab, view), tab.cancel_note: ""}
        finally:
            # The visitor left (or the page failed): stop the worker and keep this heavy slot
            # until it has, so the next job never shares the models with it.
            job.stop()
            lab.JOBS.remove(key, job)
        if view.error and not view.cancelled:
            gr.Warning(f"{lab.paradigm_title(paradigm)} failed: {view.error}")
        mine = list(mine or []) + [view.run_path]
        pickers = {runs.pick: gr.Dropdown(choices=lab.run_choices(finished_only=False),
                                          value=view.run_path)}
        if view.finished and paradigm in compare.runs:  # the other pickers keep their choice
            pickers[compare.runs[paradigm]] = gr.Dropdown(choices=lab.run_choices(paradigm),
                                                          value=view.run_path)
        yield {**view_updates(tab, view), tab.mine: mine, runs.rows: lab.runs_rows(mine), **pickers}


    def show_settings(paradigm):
        return [gr.Group(visible=name == paradigm) for name in tab.groups]

    for name, switch in tab.presets.items():  # a preset fills its paradigm's widgets
        widgets = tab.settings[name]
        switch.change(lambda preset, n=name: list(lab.presets(n)[preset].values()), switch,
                      list(widgets.values()), api_name=f"{name}_preset_values", **NAV)
        # lab for an embedded teacher, research for a hub pair (made for 7B-13B widths)
        pair.teacher.change(safe(lambda teacher, n=name: lab.default_preset(n, teacher)),
                            pair.teacher, switch, api_name=f"{name}_preset_for_teacher", **NAV)

    inputs = {"paradigm": tab.paradigm, "teacher": pair.teacher, "student": pair.student,
              "task": tab.task, "seed": tab.seed, "eval_limit": tab.eval_limit, "mine": tab.mine}
    settings = {f"{p}_{name}": widget for p, widgets in tab.settings.items()
                for name, widget in widgets.items()}
    settings |= {f"{p}_defaults": switch for p, switch in tab.presets.items()}
    declare_keywords(transfer, list(settings))
    inputs |= settings
    outs = [tab.status, tab.loss, tab.result, tab.cancel_note, tab.mine, runs.rows, runs.pick,
            *compare.runs.values()]
    # A new run clears the last one's status and notes at once (a refusal would leave them).
    tab.run.click(lambda: {tab.status: "", tab.cancel_note: "", tab.result: ""}, None,
                  [tab.status, tab.cancel_note, tab.result], api_name="clear_transfer", **NAV)
    tab.run.click(transfer, None, with_captions(outs), inputs_kwargs=inputs, api_name="transfer",
                  show_progress_on=[tab.status], **HEAVY)
    tab.cancel.click(cancel_job, None, tab.cancel_note, api_name="cancel_transfer",
                     concurrency_limit=None)
    tab.paradigm.change(show_settings, tab.paradigm, list(tab.groups.values()),
                        api_name="show_settings", **NAV)

    @safe
    def plan(paradigm, teacher, student, task, eval_limit, **settings):
        form = {name: settings[f"{paradigm}_{name}"] for name in tab.settings.get(paradigm, {})}
        return lab.transfer_plan(paradigm, teacher, student, task, form,
                                 settings.get(f"{paradigm}_defaults"), eval_limit)

    declare_keywords(plan, list(settings))
    plan_in = {k: v for k, v in inputs.items() if k not in ("seed", "mine")}
    widgets = [w for ws in tab.settings.values() for w in ws.values()]
    gr.on([tab.paradigm.change, tab.task.change, tab.eval_limit.change, pair.teacher.change,
           pair.student.change, *(s.change for s in tab.presets.values()),
           *(w.change for w in widgets)], plan, None, tab.plan, inputs_kwargs=plan_in,
          api_name="transfer_plan", queue=False)


# ---- 5. compare -------------------------------------------------------------------------------------
@dataclass
class CompareTab:
    prompt: Any
    runs: dict[str, Any]  # 'seeking' / 'laten' → the picker of that paradigm's saved runs
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


def compare_tab(student0: str) -> CompareTab:
    gr.Markdown("The same prompt and decoding settings for the base student, a PostPKT (Seeking) "
                "student, a PrePKT (LaTen) student and the teacher — streamed.")
    prompt = gr.Textbox(lab.default_prompt(), label="prompt", lines=3, elem_id="compare-prompt")
    with gr.Row():
        runs = {p: gr.Dropdown(lab.run_choices(p), label=f"{lab.paradigm_title(p)} run",
                               value=lab.default_run(p, student0), allow_custom_value=True, scale=3)
                for p in lab.COMPARED}  # wide: a run's label must not be cut at 1024 px
        with_teacher = gr.Checkbox(True, label="include the teacher", scale=1)
    with gr.Row():
        max_new_tokens = capped_slider(1, 256, "max_new_tokens", value=lab.DEFAULT_NEW_TOKENS,
                                       step=1, label="max new tokens")
        temperature = gr.Slider(0, 2, value=0, step=0.05, label="temperature (0 = greedy)")
        seed = gr.Number(0, label="seed", precision=0)
    # Not cached: the answers depend on the chosen pair and runs, which change.
    gr.Examples([[lab.task_example(t, 0, "test")[0]] for t in ("facts", "arith", "write")], [prompt],
                label="toy-world test questions", cache_examples=False)
    generate = gr.Button("Generate side by side", variant="primary", elem_id="compare-btn")
    with gr.Row():
        answers = [gr.Textbox(label=label, lines=6, elem_id=f"out-{i}", buttons=["copy"])
                   for i, label in enumerate(lab.slot_labels())]
    reference = gr.Markdown(lab.prompt_reference(lab.default_prompt()), elem_id="compare-reference")
    with gr.Row():
        likelihoods = captioned_plot(label="option likelihoods", elem_id="likelihoods", scale=2)
        likelihood_notes = gr.Markdown(elem_id="likelihood-notes")
    gr.Markdown("### Quick evaluation")
    with gr.Row():
        quick_task = gr.Dropdown(TASKS, value="facts", label="task")
        quick_n = capped_slider(1, 100, "quick_eval_items", value=lab.QUICK_EVAL_ITEMS, step=1,
                                label="test items")
        quick_run = gr.Button("Evaluate these models")
    summary = gr.Markdown()
    rows = gr.Dataframe(headers=["model", "item", "reference", "output", "likelihood pick",
                                 "generated", "right"], label="per item", max_height=400, wrap=True)
    return CompareTab(prompt, runs, with_teacher, max_new_tokens, temperature, seed, generate,
                      answers, reference, likelihoods, likelihood_notes, quick_task, quick_n, quick_run,
                      summary, rows)


def wire_compare(tab: CompareTab, pair: PairTab) -> None:
    @safe
    @heavy(duration=60)
    def compare(student, seeking_run, laten_run, teacher, with_teacher, prompt, max_new_tokens,
                temperature, seed):
        slots = lab.lineup(student, seeking_run, laten_run, teacher, bool(with_teacher))
        texts: list[str] = []
        for texts in lab.compare_stream(slots, prompt, max_new_tokens, temperature, seed):
            yield dict(zip(tab.answers, texts))
        view = lab.likelihood_view(slots, prompt)  # the last answer carries every output
        yield with_caption_updates({**dict(zip(tab.answers, texts)), tab.likelihoods: view.likelihoods,
                                    tab.likelihood_notes: view.likelihood_notes})

    @safe
    @heavy(duration=120)
    def quick_eval(student, seeking_run, laten_run, teacher, with_teacher, task, n_items,
                   progress=gr.Progress(track_tqdm=True)):
        progress(0.05, desc="evaluating")
        slots = lab.lineup(student, seeking_run, laten_run, teacher, bool(with_teacher))
        return view_updates(tab, lab.quick_eval(slots, task, n_items))

    lineup = {"student": pair.student, "seeking_run": tab.runs["seeking"],
              "laten_run": tab.runs["laten"], "teacher": pair.teacher,
              "with_teacher": tab.with_teacher}
    tab.generate.click(compare, None,
                       with_captions([*tab.answers, *view_outputs(tab, lab.LikelihoodView)]),
                       api_name="compare", **HEAVY, inputs_kwargs={
        **lineup, "prompt": tab.prompt, "max_new_tokens": tab.max_new_tokens,
        "temperature": tab.temperature, "seed": tab.seed})
    tab.prompt.change(safe(lab.prompt_reference), tab.prompt, tab.reference,
                      api_name="prompt_reference")
    tab.quick_run.click(quick_eval, None, view_outputs(tab, lab.QuickEvalView), api_name="quick_eval",
                        inputs_kwargs={**lineup, "task": tab.quick_task, "n_items": tab.quick_n},
                        **HEAVY)


# ---- 6. runs ----------------------------------------------------------------------------------------
@dataclass
class RunsTab:
    refresh: Any
    rows: Any
    chart: Any
    pick: Any
    summary: Any
    loss: Any
    config: Any
    prepare: Any
    files: Any


def runs_tab() -> RunsTab:
    refresh = gr.Button("Refresh")
    rows = gr.Dataframe(headers=lab.RUN_COLUMNS, max_height=360, elem_id="runs-table",
                        label="saved runs (examples are read-only)", wrap=True,
                        column_widths=["9%", "21%", "8%", "6%", "22%", "13%", "7%", "7%", "7%"])
    chart = captioned_plot(label="scores")
    gr.Dataframe(lab.published_rows(), headers=list(lab.PUBLISHED_COLUMNS), interactive=False,
                 label="the research's table (Llama-2 13B → 7B chat; accuracy / pass@1, %)")
    pick = gr.Dropdown(lab.run_choices(finished_only=False), value=lab.default_run_pick(),
                       label="run", allow_custom_value=True)
    summary, loss = gr.Markdown(), captioned_plot(label="training loss")
    with gr.Accordion("config.json", open=False):
        config = gr.JSON()
    prepare = gr.Button("Prepare downloads (config, metrics, figures, model)")
    return RunsTab(refresh, rows, chart, pick, summary, loss, config, prepare,
                   gr.File(file_count="multiple", label="downloads"))


def wire_runs(tab: RunsTab, pair: PairTab, compare: CompareTab, transfer: TransferTab) -> Any:
    """Wire the Runs tab; returns its refresh handler (the page load reuses it)."""
    @safe
    def runs(student, seeking_run, laten_run, mine):
        chosen = {"seeking": seeking_run, "laten": laten_run}
        return {**view_updates(tab, lab.runs_view(mine)), **run_pickers(compare, tab, student, chosen)}

    @safe
    def run_detail(run):
        if not run:
            return {tab.summary: "Pick a run.", tab.config: {}}
        return view_updates(tab, lab.run_detail(run))

    @safe
    def run_files(run):
        return lab.run_files(run)

    runs_in = {"student": pair.student, "seeking_run": compare.runs["seeking"],
               "laten_run": compare.runs["laten"], "mine": transfer.mine}
    runs_out = [*view_outputs(tab, lab.RunsView), *compare.runs.values(), tab.pick]
    tab.refresh.click(runs, None, with_captions(runs_out), inputs_kwargs=runs_in, api_name="runs")
    tab.pick.change(run_detail, tab.pick, with_captions(view_outputs(tab, lab.RunDetailView)),
                    api_name="run_detail")
    tab.prepare.click(run_files, tab.pick, tab.files, api_name="run_files")

    return runs


def wire_page_load(demo: gr.Blocks, pair: PairTab, compare: CompareTab, runs_tab: RunsTab,
                   transfer: TransferTab, runs_event: Any) -> None:
    @safe
    def page_load(teacher, student, seeking_run, laten_run, mine):
        return {**view_updates(pair, lab.pair_report(teacher, student)),
                **runs_event(student, seeking_run, laten_run, mine)}

    outputs = [*view_outputs(pair, lab.PairView), *view_outputs(runs_tab, lab.RunsView),
               *compare.runs.values(), runs_tab.pick]
    demo.load(page_load, None, with_captions(outputs), api_name="page_load",
              inputs_kwargs={"teacher": pair.teacher, "student": pair.student,
                             "seeking_run": compare.runs["seeking"],
                             "laten_run": compare.runs["laten"], "mine": transfer.mine})


# ---- 7. the page ---------------------------------------------------------------------------------
def build_app() -> gr.Blocks:
    # Gradio's cache (copies of downloads) is swept hourly of files older than an hour.
    with gr.Blocks(title="PKT Lab", delete_cache=(3600, 3600)) as demo:
        gr.Markdown("# PKT Lab — cross-scale parametric knowledge transfer\n"
                    "Move knowledge from a bigger *teacher* into a smaller *student* through their "
                    "weights, and see why that is hard. New here? Start with **Learn**.")
        gr.Markdown(lab.device_banner(), elem_id="device-banner")
        if policy.public_mode():
            gr.Markdown(policy.public_summary(), elem_id="public-mode")
        with gr.Tabs() as tabs:
            with gr.Tab("Pair", id="pair"):
                pair = pair_tab()
            with gr.Tab("Locate", id="locate"):
                locate = locate_tab()
            with gr.Tab("Incompatibility", id="incompat"):
                incompatibility = incompatibility_tab()
                ladder_section()
            with gr.Tab("Transfer", id="transfer"):
                transfer = transfer_tab()
            with gr.Tab("Compare", id="compare"):
                compare = compare_tab(pair.student.value)
            with gr.Tab("Runs", id="runs"):
                runs = runs_tab()
            with gr.Tab("Learn", id="learn") as learn:
                learn_steps = learn_tab()
        wire_pair(pair)
        wire_locate(locate, pair)
        wire_incompatibility(incompatibility, pair)
        wire_transfer(transfer, pair, compare, runs)
        wire_compare(compare, pair)
        runs_event = wire_runs(runs, pair, compare, transfer)
        wire_page_load(demo, pair, compare, runs, transfer, runs_event)
        wire_learn(learn, learn_steps, tabs, {"pair": pair, "locate": locate, "incompat": incompatibility,
                                              "transfer": transfer, "compare": compare, "runs": runs})
        demo.unload(session_closed)
    # Heavy jobs are counted per session by lab.GATE, so the queue itself can be long.
    demo.queue(max_size=256, default_concurrency_limit=4)
    return demo


if __name__ == "__main__":
    demo = build_app()
    mark_interrupted()  # runs a crash or restart left "running" are listed as interrupted
    lab.tidy_runs()
    demo.launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                prevent_thread_lock=True, **launch_options())
    if os.environ.get("PKT_WARM_UP", "1") != "0":
        lab.warm_up()  # after the server answers: imports and the embedded pair, in the background
    demo.block_thread()
