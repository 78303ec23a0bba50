"""The Transfer tab: a paradigm of the registry, its settings (widgets generated from its config's
declared settings, filled by its presets), the expected run time, and a live, cancellable run
saved as a run directory (which the Compare and Runs pickers then offer)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from pkt_core import lab
from pkt_core.lab import lab_limits
from pkt_core.paradigms import default_paradigm

from .compare import CompareTab
from .glue import (HEAVY, NAV, ViewWidgets, cancel_job, capped_slider, captioned_plot,
                   declare_keywords, heavy, safe, session_key, with_captions)
from .pair import PairTab
from .runs import RunsTab

PRESET_INFO = ("lab: tuned on the embedded pair so the update is large enough to matter at this "
               "width; research: the paper's settings, made for 7B-13B models")


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


def setting_widget(spec: Any, elem_id: str, value: Any) -> Any:
    """A widget for one paradigm setting, from the setting's declaration (label, help, range);
    in public mode its maximum is the public cap, shown beside it."""
    limits = lab_limits()
    top = spec.max_under(limits)
    capped = limits.public and top is not None
    info = spec.help + (f" (public cap {top:g})" if capped else "")
    common = {"label": spec.label, "info": info, "elem_id": elem_id}
    if spec.lo is not None and spec.hi is not None and spec.step is not None:
        return gr.Slider(spec.lo, top, value=min(value, top), step=spec.step, **common)
    if spec.kind is bool:
        return gr.Checkbox(value, **common)
    if spec.kind is str:
        return gr.Textbox(value, **common)
    # No minimum/maximum here: the setting's own check names it in its message ("epochs must be …").
    return gr.Number(value, precision=0 if spec.kind is int else None, **common)


def _settings_group(name: str, title: str, shown: bool) -> tuple[Any, Any, dict[str, Any]]:
    """One paradigm's settings: its group, its preset switch (None with one preset) and a widget
    per setting, starting at its default preset's values."""
    with gr.Group(visible=shown) as group:
        gr.Markdown(f"**{title}** — {lab.paradigm_description(name)}")
        named = lab.presets(name)
        preset = lab.default_preset(name)
        switch = None
        if len(named) > 1:
            switch = gr.Radio(list(named), value=preset, label="defaults",
                              elem_id=f"{name}-defaults", info=PRESET_INFO)
        with gr.Row():
            widgets = {s.name: setting_widget(s, f"{name}-{s.name.replace('_', '-')}",
                                              named[preset].get(s.name, s.default))
                       for s in lab.ui_settings(name)}
    return group, switch, widgets


def transfer_tab() -> TransferTab:
    first = default_paradigm()
    with gr.Row():
        paradigm = gr.Radio(lab.paradigm_choices(), value=first, label="paradigm")
        task = gr.Dropdown(lab.task_choices(), value="facts", label="task")
    groups, presets, settings = {}, {}, {}
    with gr.Accordion("Advanced — settings and their defaults", open=False):
        for title, name in lab.paradigm_choices():
            groups[name], switch, settings[name] = _settings_group(name, title, name == first)
            if switch is not None:
                presets[name] = switch
        with gr.Row():
            seed = gr.Number(0, label="seed", precision=0)
            eval_limit = capped_slider(1, 300, "eval_limit", value=lab.UI_EVAL_LIMIT, step=1,
                                       label="test items scored before/after")
    # Filled on change, not here: the estimate imports transformers.
    plan = gr.Markdown(elem_id="transfer-plan")
    with gr.Row():
        run = gr.Button("Run transfer", variant="primary", elem_id="run-transfer")
        cancel = gr.Button("Cancel", variant="stop")
    status, cancel_note = gr.Markdown(elem_id="transfer-status"), gr.Markdown()
    loss = captioned_plot(label="loss", elem_id="transfer-loss")
    return TransferTab(paradigm, task, groups, presets, settings, seed, eval_limit, plan, run,
                       cancel, status, cancel_note, loss, gr.Markdown(elem_id="transfer-result"),
                       gr.State([]))


def setting_inputs(tab: TransferTab) -> dict[str, Any]:
    """Every paradigm's setting widgets by API name (`<paradigm>_<setting>`), and its preset
    switch (`<paradigm>_defaults`)."""
    inputs = {f"{p}_{name}": widget for p, widgets in tab.settings.items()
              for name, widget in widgets.items()}
    return inputs | {f"{p}_defaults": switch for p, switch in tab.presets.items()}


def _form(tab: TransferTab, paradigm: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The chosen paradigm's settings out of every paradigm's (`setting_inputs` names)."""
    return {name: settings[f"{paradigm}_{name}"] for name in tab.settings.get(paradigm, {})}


def _transfer_handler(tab: TransferTab, compare: CompareTab, runs: RunsTab) -> Any:
    """The run: streams the live view, then adds the run to this visitor's runs and pickers."""
    live = ViewWidgets(tab, lab.TransferView, data=("running", "run_path", "done", "total",
                                                    "message", "finished", "cancelled", "error"))

    @safe
    @heavy(duration=300)
    def transfer(paradigm, teacher, student, task, seed, eval_limit, mine, request: gr.Request,
                 progress=gr.Progress(track_tqdm=True), **settings):
        preset = settings.get(f"{paradigm}_defaults") or "research"
        key = session_key(request)
        job = lab.start_transfer(paradigm, teacher, student, task, _form(tab, paradigm, settings),
                                 seed, eval_limit, session=key, preset=preset)
        try:
            for view in job.views(0.5):
                progress((view.done, max(view.total, 1)), desc=view.message, unit="steps")
                if not view.running:
                    break
                yield {**live.updates(view), tab.cancel_note: ""}
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
        yield {**live.updates(view), tab.mine: mine, runs.rows: lab.runs_rows(mine), **pickers}

    declare_keywords(transfer, list(setting_inputs(tab)))
    return transfer


def _wire_presets(tab: TransferTab, pair: PairTab) -> None:
    """A preset fills its paradigm's widgets; a new teacher picks the preset made for it (lab
    for an embedded teacher, research for a hub pair: made for 7B-13B widths)."""
    for name, switch in tab.presets.items():
        widgets = tab.settings[name]
        switch.change(lambda preset, n=name: list(lab.presets(n)[preset].values()), switch,
                      list(widgets.values()), api_name=f"{name}_preset_values", **NAV)
        pair.teacher.change(safe(lambda teacher, n=name: lab.default_preset(n, teacher)),
                            pair.teacher, switch, api_name=f"{name}_preset_for_teacher", **NAV)


def _wire_plan(tab: TransferTab, pair: PairTab, inputs: dict[str, Any]) -> None:
    """The pair, paradigm and expected run time, refreshed whenever one of them changes."""
    @safe
    def plan(paradigm, teacher, student, task, eval_limit, **settings):
        return lab.transfer_plan(paradigm, teacher, student, task, _form(tab, paradigm, settings),
                                 settings.get(f"{paradigm}_defaults"), eval_limit)

    declare_keywords(plan, list(setting_inputs(tab)))
    plan_in = {k: v for k, v in inputs.items() if k not in ("seed", "mine")}
    widgets = [w for ws in tab.settings.values() for w in ws.values()]
    gr.on([tab.paradigm.change, tab.task.change, tab.eval_limit.change, pair.teacher.change,
           pair.student.change, *(s.change for s in tab.presets.values()),
           *(w.change for w in widgets)], plan, None, tab.plan, inputs_kwargs=plan_in,
          api_name="transfer_plan", queue=False)


def wire_transfer(tab: TransferTab, pair: PairTab, compare: CompareTab, runs: RunsTab) -> None:
    _wire_presets(tab, pair)
    inputs = {"paradigm": tab.paradigm, "teacher": pair.teacher, "student": pair.student,
              "task": tab.task, "seed": tab.seed, "eval_limit": tab.eval_limit, "mine": tab.mine,
              **setting_inputs(tab)}
    outs = [tab.status, tab.loss, tab.result, tab.cancel_note, tab.mine, runs.rows, runs.pick,
            *compare.runs.values()]
    # A new run clears the last one's status and notes at once (a refusal would leave them).
    tab.run.click(lambda: {tab.status: "", tab.cancel_note: "", tab.result: ""}, None,
                  [tab.status, tab.cancel_note, tab.result], api_name="clear_transfer", **NAV)
    tab.run.click(_transfer_handler(tab, compare, runs), None, with_captions(outs),
                  inputs_kwargs=inputs, api_name="transfer", show_progress_on=[tab.status],
                  **HEAVY)
    tab.cancel.click(cancel_job, None, tab.cancel_note, api_name="cancel_transfer",
                     concurrency_limit=None)
    tab.paradigm.change(lambda paradigm: [gr.Group(visible=name == paradigm)
                                          for name in tab.groups],
                        tab.paradigm, list(tab.groups.values()), api_name="show_settings", **NAV)
    _wire_plan(tab, pair, inputs)
