"""The Pair tab: a teacher and a student (a preset pair or any model reference), their cards and
whether every paradigm can use them. Its pickers are the pair every other tab works on."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from pkt_core import lab

from .glue import ViewWidgets, safe


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


def pair_view(tab: PairTab) -> ViewWidgets:
    """What a pair report fills on the Pair tab (`ok` and `report` are for the caller)."""
    return ViewWidgets(tab, lab.PairView, data=("ok", "report"))


def wire_pair(tab: PairTab) -> None:
    report = pair_view(tab)

    @safe
    def check_pair(teacher, student):
        return report.updates(lab.pair_report(teacher, student))

    @safe
    def preset_pair(name):
        return lab.preset_pair(name)

    pair_in = {"teacher": tab.teacher, "student": tab.student}
    tab.check.click(check_pair, None, report.outputs, inputs_kwargs=pair_in,
                    api_name="check_pair")
    tab.preset.input(preset_pair, tab.preset, [tab.teacher, tab.student],
                     api_name="preset_pair").then(
        check_pair, None, report.outputs, inputs_kwargs=pair_in, api_name="check_preset_pair")
