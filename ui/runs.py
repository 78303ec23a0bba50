"""The Runs tab: every saved run (this visitor's, others', the shipped examples) with their scores
beside the research's table, one run's details, and its downloads. Refreshing it also refreshes
the run pickers (Compare's, one per compared paradigm, and its own)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import gradio as gr

from pkt_core import lab

from .compare import CompareTab, chosen_runs, run_inputs
from .glue import ViewWidgets, captioned_plot, declare_keywords, safe, with_captions
from .pair import PairTab

RUN_COLUMN_WIDTHS = ["9%", "21%", "8%", "6%", "22%", "13%", "7%", "7%", "7%"]


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
                        column_widths=RUN_COLUMN_WIDTHS)
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


def run_pickers(compare: CompareTab, runs: RunsTab, student: str | None,
                chosen: dict[str, str | None], picked: str | None = None) -> dict[Any, Any]:
    """Fresh choices for the run pickers (Compare's per paradigm, Runs'), keeping a still-valid
    selection; after a transfer and on the Runs tab's refresh."""
    out = {}
    for paradigm, widget in compare.runs.items():
        choices = lab.run_choices(paradigm)
        value = chosen.get(paradigm)
        if value not in [v for _, v in choices]:
            value = lab.default_run(paradigm, student)
        out[widget] = gr.Dropdown(choices=choices, value=value)
    out[runs.pick] = gr.Dropdown(choices=lab.run_choices(finished_only=False),
                                 value=lab.default_run_pick(picked))
    return out


def runs_outputs(tab: RunsTab, compare: CompareTab) -> list[Any]:
    """What a refresh fills: the table and chart, Compare's run pickers, then this tab's."""
    return [*ViewWidgets(tab, lab.RunsView).outputs, *compare.runs.values(), tab.pick]


def wire_runs(tab: RunsTab, pair: PairTab, compare: CompareTab, mine: Any) -> Callable:
    """Wire the Runs tab; returns its refresh handler (the page load reuses it). `mine` is the
    Transfer tab's state of this visitor's runs."""
    listed = ViewWidgets(tab, lab.RunsView)
    detail = ViewWidgets(tab, lab.RunDetailView)

    @safe
    def refresh(student, mine, **runs):
        return {**listed.updates(lab.runs_view(mine)),
                **run_pickers(compare, tab, student, chosen_runs(compare, runs))}

    @safe
    def run_detail(run):
        if not run:
            return {tab.summary: "Pick a run.", tab.config: {}}
        return detail.updates(lab.run_detail(run))

    @safe
    def run_files(run):
        return lab.run_files(run)

    declare_keywords(refresh, list(run_inputs(compare)))
    runs_in = {"student": pair.student, **run_inputs(compare), "mine": mine}
    tab.refresh.click(refresh, None, with_captions(runs_outputs(tab, compare)),
                      inputs_kwargs=runs_in, api_name="runs")
    tab.pick.change(run_detail, tab.pick, with_captions(detail.outputs), api_name="run_detail")
    tab.prepare.click(run_files, tab.pick, tab.files, api_name="run_files")
    return refresh
