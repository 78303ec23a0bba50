"""The Locate tab: which layers and neurons push one example's answer out, by logit-lens
attribution in the teacher and the student side by side."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from pkt_core import lab

from .glue import HEAVY, ViewWidgets, captioned_plot, heavy, safe, with_captions
from .pair import PairTab


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
    state: Any  # this visitor's earlier locates (the stability between examples)


def _score_maps() -> tuple[Any, Any, Any, Any]:
    """Teacher and student neuron score maps (layer × neuron) for FFN and attention."""
    with gr.Accordion("Neuron score maps (layer × neuron)", open=True):
        with gr.Row():
            teacher_ffn = captioned_plot(label="teacher FFN")
            student_ffn = captioned_plot(label="student FFN")
        with gr.Row():
            teacher_attn = captioned_plot(label="teacher attention")
            student_attn = captioned_plot(label="student attention")
    return teacher_ffn, student_ffn, teacher_attn, student_attn


def locate_tab() -> LocateTab:
    prompt0, answer0 = lab.task_example("facts", 0)
    gr.Markdown("Which layers and neurons push the answer out? Logit-lens attribution in both "
                "models for one example (the neurons a locate-then-align transfer moves).")
    with gr.Row():
        task = gr.Dropdown(lab.task_choices(), value="facts", label="task")
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
    maps = _score_maps()
    top_rows = gr.Dataframe(headers=["model", "kind", "layer", "rank", "neuron", "score"],
                            label="top neurons of the top layers", max_height=320)
    return LocateTab(task, index, fill, prompt, answer, chat, normalise, run, summary, layer_ffn,
                     layer_attn, *maps, top_rows, gr.State(None))


def wire_locate(tab: LocateTab, pair: PairTab) -> None:
    located = ViewWidgets(tab, lab.LocateView, data=("seconds",))

    @safe
    def task_example(task, index):
        return lab.task_example(task, index)

    @safe
    @heavy(duration=60)
    def locate(teacher, student, prompt, answer, chat, normalise, previous,
               progress=gr.Progress(track_tqdm=True)):
        progress(0.1, desc="locating in teacher and student")
        return located.updates(lab.locate_pair(teacher, student, prompt, answer, bool(chat),
                                               bool(normalise), previous))

    tab.fill.click(task_example, None, [tab.prompt, tab.answer], api_name="task_example",
                   inputs_kwargs={"task": tab.task, "index": tab.index})
    tab.run.click(locate, None, with_captions(located.outputs), api_name="locate", **HEAVY,
                  inputs_kwargs={"teacher": pair.teacher, "student": pair.student,
                                 "prompt": tab.prompt, "answer": tab.answer, "chat": tab.chat,
                                 "normalise": tab.normalise, "previous": tab.state})
