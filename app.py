"""PKT Lab — Gradio UI. Layout only: every event calls one pkt_core function.

This first page offers what the foundation can already do (inspect a pair, generate, evaluate);
the Locate, Incompatibility, Transfer, Compare and Runs tabs arrive with their issues.
"""
from __future__ import annotations

import os
from functools import lru_cache

import gradio as gr

from pkt_core.evaluate import evaluate_task, generate
from pkt_core.models import PRESET_PAIRS, check_pair, embedded_models, inspect_model, load_model
from pkt_core.tasks import get_task, list_tasks, render_chat

DEFAULT_TEACHER, DEFAULT_STUDENT = PRESET_PAIRS[0].teacher, PRESET_PAIRS[0].student
EMBEDDED_TASKS = ["facts", "arith", "complete", "write"]


@lru_cache(maxsize=4)
def _model(ref: str):
    return load_model(ref)


def _shape_rows(ref: str) -> list[list[str]]:
    shape = inspect_model(ref)
    return [[k, f"{v:,}" if isinstance(v, int) else str(v)] for k, v in shape.as_dict().items()]


def check_pair_event(teacher: str, student: str):
    try:
        report = check_pair(inspect_model(teacher), inspect_model(student), same_tokenizer=True)
        return _shape_rows(teacher), _shape_rows(student), report.verdict()
    except Exception as err:  # shown next to the control, never a traceback
        raise gr.Error(str(err)) from err


def generate_event(model_ref: str, prompt: str, max_new_tokens: float) -> str:
    if not prompt.strip():
        raise gr.Error("Type a prompt first.")
    try:
        loaded = _model(model_ref)
        return generate(loaded.model, loaded.tokenizer, [render_chat(prompt)], int(max_new_tokens))[0]
    except Exception as err:
        raise gr.Error(str(err)) from err


def evaluate_event(model_ref: str, task_name: str, limit: float):
    try:
        loaded = _model(model_ref)
        result = evaluate_task(loaded.model, loaded.tokenizer, get_task(task_name), "test",
                               int(limit), model_name=model_ref)
    except Exception as err:
        raise gr.Error(str(err)) from err
    rows = [[it["id"], it["output"][:200], it["extracted"][:80], "✓" if it["correct"] else "✗"]
            for it in result.items]
    return f"**{result.score:.1%}** on {result.n} test items of `{task_name}`", rows


def build_app() -> gr.Blocks:
    names = embedded_models() or [DEFAULT_TEACHER, DEFAULT_STUDENT]
    with gr.Blocks(title="PKT Lab") as demo:
        gr.Markdown("# PKT Lab — cross-scale parametric knowledge transfer\n"
                    "Pick a teacher and a student, inspect them, generate and evaluate. "
                    "Locate, incompatibility heatmaps, transfer and side-by-side comparison "
                    "are being added.")
        with gr.Tab("Pair"):
            with gr.Row():
                teacher = gr.Dropdown(names, value=DEFAULT_TEACHER, label="teacher",
                                      allow_custom_value=True)
                student = gr.Dropdown(names, value=DEFAULT_STUDENT, label="student",
                                      allow_custom_value=True)
            check = gr.Button("Check pair", variant="primary")
            with gr.Row():
                t_card = gr.Dataframe(headers=["teacher", "value"], label="teacher")
                s_card = gr.Dataframe(headers=["student", "value"], label="student")
            verdict = gr.Markdown()
            check.click(check_pair_event, [teacher, student], [t_card, s_card, verdict],
                        api_name="check_pair")
        with gr.Tab("Generate"):
            g_model = gr.Dropdown(names, value=DEFAULT_STUDENT, label="model", allow_custom_value=True)
            prompt = gr.Textbox(label="prompt", value="What is the capital of Velora?")
            tokens = gr.Slider(1, 256, value=64, step=1, label="max new tokens")
            out = gr.Textbox(label="output")
            gr.Button("Generate").click(generate_event, [g_model, prompt, tokens], out,
                                        api_name="generate")
        with gr.Tab("Evaluate"):
            e_model = gr.Dropdown(names, value=DEFAULT_STUDENT, label="model", allow_custom_value=True)
            task = gr.Dropdown([t for t in EMBEDDED_TASKS if t in list_tasks()], value="facts",
                               label="task")
            limit = gr.Slider(1, 300, value=20, step=1, label="test items")
            summary = gr.Markdown()
            table = gr.Dataframe(headers=["id", "output", "extracted", "correct"])
            gr.Button("Evaluate").click(evaluate_event, [e_model, task, limit], [summary, table],
                                        api_name="evaluate")
    demo.queue(max_size=32, default_concurrency_limit=1)
    return demo


if __name__ == "__main__":
    build_app().launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
