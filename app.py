"""PKT Lab — the Gradio dashboard. Layout and wiring only: every event calls pkt_core.lab.

Tabs: Pair · Locate · Incompatibility · Transfer · Compare · Runs · Learn. Every event has an
api_name (so `gradio_client` can drive the whole lab); heavy work shares one concurrency slot;
per-visitor state lives in gr.State; errors reach the page as one readable line.
"""
from __future__ import annotations

import functools
import inspect
import os

# Before torch loads: idle OpenMP threads sleep instead of spinning. On a small shared CPU a
# spinning thread stalls every small matmul (the tiny models' forward passes) by orders of magnitude.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import gradio as gr  # noqa: E402

from pkt_core import lab  # noqa: E402

try:  # ZeroGPU Spaces: GPU-bound functions borrow a GPU per call; a no-op everywhere else.
    import spaces

    GPU = spaces.GPU
except ImportError:
    def GPU(fn=None, **_):  # type: ignore[no-redef]
        return fn if callable(fn) else (lambda f: f)

HEAVY = {"concurrency_id": "heavy", "concurrency_limit": 1}  # one model-bound job at a time
TASKS = list(lab.TOY_TASKS)


def _safe(fn):
    """Turn any failure into a readable gr.Error (no traceback on the page); generators too."""
    def fail(err: Exception) -> gr.Error:
        expected = isinstance(err, (lab.LabError, ValueError))
        return gr.Error(lab.readable(err), print_exception=not expected)

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except gr.Error:
                raise
            except Exception as err:
                raise fail(err) from err
        return gen

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as err:
            raise fail(err) from err
    return call


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "local"


# ---- events -------------------------------------------------------------------------------------
@_safe
def pair_event(teacher, student):
    view = lab.pair_report(teacher, student)
    return view.teacher_card, view.student_card, view.verdict


@_safe
def preset_event(name):
    return lab.preset_pair(name)


@_safe
def example_event(task, index):
    return lab.task_example(task, index)


@_safe
@GPU(duration=60)
def locate_event(teacher, student, prompt, answer, chat, normalise, previous,
                 progress=gr.Progress(track_tqdm=True)):
    progress(0.1, desc="locating in teacher and student")
    view = lab.locate_pair(teacher, student, prompt, answer, bool(chat), bool(normalise), previous)
    m = view.maps
    return (view.summary, view.layer_ffn, view.layer_attn, m["teacher_ffn"], m["student_ffn"],
            m["teacher_attn"], m["student_attn"], view.top_rows, view.state)


@_safe
@GPU(duration=60)
def similarity_event(teacher, student, task, metric, n_texts, progress=gr.Progress(track_tqdm=True)):
    progress(0.1, desc="module outputs of both models")
    return lab.similarity_view(teacher, student, task, metric, n_texts)


@_safe
@GPU(duration=60)
def parametric_event(teacher, student, rank, progress=gr.Progress(track_tqdm=True)):
    progress(0.1, desc="SVD of every matrix")
    return lab.parametric_view(teacher, student, rank)


def _run_dropdowns(student=None, seeking=None, laten=None):
    """Fresh choices for the run pickers, keeping a still-valid selection."""
    def pick(paradigm, current):
        choices = lab.run_choices(paradigm)
        values = [v for _, v in choices]
        value = current if current in values else lab.default_run(paradigm, student)
        return gr.Dropdown(choices=choices, value=value)
    all_choices = lab.run_choices(finished_only=False)
    return (pick("seeking", seeking), pick("laten", laten),
            gr.Dropdown(choices=all_choices, value=all_choices[0][1] if all_choices else None))


@_safe
@GPU(duration=300)
def transfer_event(paradigm, teacher, student, task, steps, rate, laten_lr, rank, epochs, lora_lr,
                   batch_size, seed, eval_limit, mine, request: gr.Request,
                   progress=gr.Progress(track_tqdm=True)):
    settings = lab.transfer_settings(paradigm, steps, rate, laten_lr, rank, epochs, lora_lr,
                                     batch_size)
    key = _session(request)
    job = lab.start_transfer(paradigm, teacher, student, task, settings, seed, eval_limit,
                             session=key)
    title, shown = lab.paradigm_title(paradigm), -1
    skip = gr.skip()
    try:
        for snap in job.watch(0.5):
            progress((snap.done, max(snap.total, 1)), desc=snap.message, unit="steps")
            if snap.status != "running":
                break
            fig = skip
            if len(snap.rows) != shown:
                shown, fig = len(snap.rows), lab.loss_figure(snap.rows, f"{title}: training loss")
            result = "" if shown <= 1 else skip  # clear the previous run's scores at the start
            yield lab.snapshot_markdown(snap, title), fig, result, skip, skip, skip, skip, skip
    finally:
        if job.running:  # the visitor left: stop the worker so the heavy slot is really free
            job.cancel()
        lab.JOBS.remove(key, job)
    if snap.status == "failed":
        gr.Warning(f"{title} failed: {snap.error}")
    run_path = str(snap.run_dir.resolve())
    mine = list(mine or []) + [run_path]
    seeking_dd = laten_dd = skip
    if snap.status == "complete" and paradigm in ("seeking", "laten"):
        newest = gr.Dropdown(choices=lab.run_choices(paradigm), value=run_path)
        seeking_dd, laten_dd = (newest, skip) if paradigm == "seeking" else (skip, newest)
    run_dd = gr.Dropdown(choices=lab.run_choices(finished_only=False), value=run_path)
    yield (lab.snapshot_markdown(snap, title), lab.loss_figure(snap.rows, f"{title}: training loss"),
           lab.result_markdown(snap.metrics, title), lab.runs_rows(mine), seeking_dd, laten_dd,
           run_dd, mine)


def cancel_event(request: gr.Request):
    if lab.JOBS.cancel(_session(request)):
        return "⏹️ Cancelling — the run stops after its current step and keeps its checkpoints."
    return "Nothing to cancel: no transfer is running in this session."


@_safe
@GPU(duration=60)
def compare_event(student, seeking_run, laten_run, teacher, with_teacher, prompt, max_new_tokens,
                  temperature, seed):
    slots = lab.lineup(student, seeking_run, laten_run, teacher, bool(with_teacher))
    for texts in lab.compare_stream(slots, prompt, max_new_tokens, temperature, seed):
        yield tuple(texts)


@_safe
@GPU(duration=120)
def quick_eval_event(student, seeking_run, laten_run, teacher, with_teacher, task, n_items,
                     progress=gr.Progress(track_tqdm=True)):
    progress(0.05, desc="evaluating")
    slots = lab.lineup(student, seeking_run, laten_run, teacher, bool(with_teacher))
    return lab.quick_eval(slots, task, n_items)


@_safe
def runs_event(student, seeking, laten, mine):
    return (lab.runs_rows(mine), lab.runs_chart(), *_run_dropdowns(student, seeking, laten))


@_safe
def run_detail_event(run):
    if not run:
        return "Pick a run.", lab.loss_figure([]), {}
    return lab.run_detail(run)


@_safe
def run_files_event(run):
    return lab.run_files(run)


@_safe
def load_event(teacher, student, seeking, laten, mine):
    view = lab.pair_report(teacher, student)
    return (view.teacher_card, view.student_card, view.verdict, lab.runs_rows(mine), lab.runs_chart(),
            *_run_dropdowns(student, seeking, laten))


# ---- layout -------------------------------------------------------------------------------------
def build_app() -> gr.Blocks:
    teacher0, student0 = lab.default_pair()
    models = lab.model_choices()
    prompt0, answer0 = lab.task_example("facts", 0)
    questions = [lab.task_example(task, 0, "test")[0] for task in ("facts", "arith", "write")]
    with gr.Blocks(title="PKT Lab") as demo:
        gr.Markdown("# PKT Lab — cross-scale parametric knowledge transfer\n"
                    "Move knowledge from a bigger *teacher* into a smaller *student* through their "
                    "weights, and see why that is hard. New here? Start with **Learn**.")
        gr.Markdown(lab.device_banner(), elem_id="device-banner")
        with gr.Tabs() as tabs:
            with gr.Tab("Pair", id="pair"):
                preset = gr.Dropdown(lab.preset_choices(), value="embedded", label="preset pair",
                                     info="hub pairs need network (and the big ones a GPU)")
                with gr.Row():
                    info = "embedded name, hub id (owner/name), local path or a run directory"
                    teacher = gr.Dropdown(models, value=teacher0, label="teacher", info=info,
                                          allow_custom_value=True, elem_id="teacher")
                    student = gr.Dropdown(models, value=student0, label="student", info=info,
                                          allow_custom_value=True, elem_id="student")
                check_btn = gr.Button("Check pair", variant="primary", elem_id="check-pair")
                with gr.Row(equal_height=True):
                    t_card = gr.Markdown(elem_id="teacher-card", container=True)
                    s_card = gr.Markdown(elem_id="student-card", container=True)
                verdict = gr.Markdown(elem_id="verdict")
            with gr.Tab("Locate", id="locate"):
                gr.Markdown("Which layers and neurons push the answer out? Logit-lens attribution in "
                            "both models for one example (what LaTen transfers).")
                with gr.Row():
                    l_task = gr.Dropdown(TASKS, value="facts", label="task")
                    l_index = gr.Number(0, label="example (extract split)", precision=0)
                    l_fill = gr.Button("Use this example")
                with gr.Row():
                    l_prompt = gr.Textbox(prompt0, label="prompt", lines=4, scale=3)
                    l_answer = gr.Textbox(answer0, label="answer", lines=4, scale=1)
                with gr.Row():
                    l_chat = gr.Checkbox(True, label="wrap the prompt in the chat format")
                    l_norm = gr.Checkbox(True, label="normalise each model's curve")
                l_btn = gr.Button("Locate", variant="primary", elem_id="locate-btn")
                l_summary = gr.Markdown()
                with gr.Row():
                    l_ffn, l_attn = gr.Plot(label="FFN layers"), gr.Plot(label="attention layers")
                with gr.Accordion("Neuron score maps (layer × neuron)", open=True):
                    with gr.Row():
                        m_tf, m_sf = gr.Plot(label="teacher FFN"), gr.Plot(label="student FFN")
                    with gr.Row():
                        m_ta = gr.Plot(label="teacher attention")
                    m_sa = gr.Plot(label="student attention")
                l_top = gr.Dataframe(headers=["model", "kind", "layer", "rank", "neuron", "score"],
                                     label="top neurons of the top layers", max_height=320)
                l_state = gr.State(None)
            with gr.Tab("Incompatibility", id="incompat"):
                gr.Markdown("How alike are the two models inside? Every student layer against every "
                            "teacher layer, beside the paper's Llama-2 numbers.")
                with gr.Row():
                    i_task = gr.Dropdown(TASKS, value="facts", label="inputs from task")
                    i_metric = gr.Radio([("linear CKA", "cka"), ("signed cosine", "cosine")],
                                        value="cka", label="metric")
                    i_n = gr.Slider(4, 64, value=24, step=1, label="texts")
                i_btn = gr.Button("Compute heatmaps", variant="primary", elem_id="heatmaps-btn")
                i_heat = gr.Plot(label="representation similarity", elem_id="heatmaps")
                with gr.Row():
                    i_ref = gr.Dataframe(headers=["module", "published mean (Llama-2)", "ours (mean)",
                                                  "ours (std)"], label="beside the paper", scale=2)
                    i_notes = gr.Markdown()
                with gr.Row():
                    p_rank = gr.Slider(1, 64, value=16, step=1, label="LoRA rank")
                    p_btn = gr.Button("Parametric similarity")
                p_plot, p_md = gr.Plot(label="parametric similarity"), gr.Markdown()
            with gr.Tab("Transfer", id="transfer"):
                lat, lora = lab.paradigm_defaults("laten"), lab.paradigm_defaults("seeking")
                with gr.Row():
                    x_para = gr.Radio(lab.paradigm_choices(), value="laten", label="paradigm")
                    x_task = gr.Dropdown(TASKS, value="facts", label="task")
                with gr.Accordion("Advanced — the research's defaults", open=False):
                    gr.Markdown("**LaTen** (PrePKT)")
                    with gr.Row():
                        x_steps = gr.Number(0, label="steps (0 = one per extract example, 20)",
                                            precision=0, elem_id="laten-steps")
                        x_rate = gr.Slider(0.01, 1.0, value=lat["transfer_rate"], step=0.01,
                                           label="transfer rate")
                        x_llr = gr.Number(lat["lr"], label="hypernetwork learning rate")
                    gr.Markdown("**Seeking / LoRA / PiSSA** (fine-tuning)")
                    with gr.Row():
                        x_rank = gr.Slider(1, 64, value=lora["rank"], step=1, label="LoRA rank")
                        x_epochs = gr.Number(lora["epochs"], label="epochs")
                        x_flr = gr.Number(lora["lr"], label="learning rate")
                        x_batch = gr.Number(lora["batch_size"], label="batch size", precision=0)
                    with gr.Row():
                        x_seed = gr.Number(0, label="seed", precision=0)
                        x_eval = gr.Slider(1, 300, value=50, step=1,
                                           label="test items scored before/after")
                with gr.Row():
                    x_run = gr.Button("Run transfer", variant="primary", elem_id="run-transfer")
                    x_cancel = gr.Button("Cancel", variant="stop")
                x_status, x_cancel_note = gr.Markdown(elem_id="transfer-status"), gr.Markdown()
                x_loss = gr.Plot(label="loss", elem_id="transfer-loss")
                x_result = gr.Markdown(elem_id="transfer-result")
                my_runs = gr.State([])
            with gr.Tab("Compare", id="compare"):
                gr.Markdown("The same prompt and decoding settings for the base student, a PostPKT "
                            "(Seeking) student, a PrePKT (LaTen) student and the teacher — streamed.")
                c_prompt = gr.Textbox(prompt0, label="prompt", lines=3, elem_id="compare-prompt")
                with gr.Row():
                    c_seek, c_lat = (gr.Dropdown(lab.run_choices(p), label=f"{name} run",
                                                 value=lab.default_run(p, student0),
                                                 allow_custom_value=True)
                                     for p, name in (("seeking", "Seeking"), ("laten", "LaTen")))
                    c_teach = gr.Checkbox(True, label="include the teacher")
                with gr.Row():
                    c_tokens = gr.Slider(1, 256, value=48, step=1, label="max new tokens")
                    c_temp = gr.Slider(0, 2, value=0, step=0.05, label="temperature (0 = greedy)")
                    c_seed = gr.Number(0, label="seed", precision=0)
                # Not cached: the answers depend on the chosen pair and runs, which change.
                gr.Examples([[q] for q in questions], [c_prompt], label="toy-world test questions",
                            cache_examples=False)
                c_btn = gr.Button("Generate side by side", variant="primary", elem_id="compare-btn")
                with gr.Row():
                    c_out = [gr.Textbox(label=label, lines=6, elem_id=f"out-{i}", buttons=["copy"])
                             for i, label in enumerate(lab.SLOTS)]
                gr.Markdown("### Quick evaluation")
                with gr.Row():
                    q_task = gr.Dropdown(TASKS, value="facts", label="task")
                    q_n = gr.Slider(1, 100, value=10, step=1, label="test items")
                    q_btn = gr.Button("Evaluate these models")
                q_md = gr.Markdown()
                q_df = gr.Dataframe(headers=["model", "item", "reference", "output", "extracted",
                                             "right"], label="per item", max_height=400, wrap=True)
            with gr.Tab("Runs", id="runs"):
                r_refresh = gr.Button("Refresh")
                r_df = gr.Dataframe(headers=lab.RUN_COLUMNS, max_height=360, elem_id="runs-table",
                                    label="saved runs (examples are read-only)", wrap=True,
                                    column_widths=["9%", "21%", "8%", "6%", "22%", "13%", "7%",
                                                   "7%", "7%"])
                r_chart = gr.Plot(label="scores")
                gr.Dataframe(lab.published_rows(), headers=list(lab.PUBLISHED_COLUMNS),
                             label="the research's table (Llama-2 13B → 7B chat; accuracy / pass@1, %)",
                             interactive=False)
                r_pick = gr.Dropdown(lab.run_choices(finished_only=False), label="run",
                                     allow_custom_value=True)
                r_detail, r_loss = gr.Markdown(), gr.Plot(label="training loss")
                with gr.Accordion("config.json", open=False):
                    r_config = gr.JSON()
                r_files_btn = gr.Button("Prepare downloads (config, metrics, figures, model)")
                r_files = gr.File(file_count="multiple", label="downloads")
            with gr.Tab("Learn", id="learn"):
                gr.Markdown(lab.LEARN_MD)
                gr.Markdown("**See it live:**")
                with gr.Row():
                    goto = {tab: gr.Button(f"Open {label}", size="sm") for tab, label in (
                        ("locate", "Locate"), ("incompat", "the heatmaps"),
                        ("transfer", "Transfer"), ("compare", "Compare"))}

        # ---- wiring (every event has an api_name) ----
        pair_io = ([teacher, student], [t_card, s_card, verdict])
        check_btn.click(pair_event, *pair_io, api_name="check_pair")
        preset.input(preset_event, preset, [teacher, student], api_name="preset_pair").then(
            pair_event, *pair_io, api_name="check_preset_pair")
        l_fill.click(example_event, [l_task, l_index], [l_prompt, l_answer], api_name="task_example")
        l_btn.click(locate_event, [teacher, student, l_prompt, l_answer, l_chat, l_norm, l_state],
                    [l_summary, l_ffn, l_attn, m_tf, m_sf, m_ta, m_sa, l_top, l_state],
                    api_name="locate", **HEAVY)
        i_btn.click(similarity_event, [teacher, student, i_task, i_metric, i_n],
                    [i_heat, i_ref, i_notes], api_name="similarity", **HEAVY)
        p_btn.click(parametric_event, [teacher, student, p_rank], [p_plot, p_md],
                    api_name="parametric", **HEAVY)
        x_run.click(transfer_event,
                    [x_para, teacher, student, x_task, x_steps, x_rate, x_llr, x_rank, x_epochs,
                     x_flr, x_batch, x_seed, x_eval, my_runs],
                    [x_status, x_loss, x_result, r_df, c_seek, c_lat, r_pick, my_runs],
                    api_name="transfer", show_progress_on=[x_status], **HEAVY)
        x_cancel.click(cancel_event, None, x_cancel_note, api_name="cancel_transfer",
                       concurrency_limit=None)
        c_inputs = [student, c_seek, c_lat, teacher, c_teach]
        c_btn.click(compare_event, c_inputs + [c_prompt, c_tokens, c_temp, c_seed], c_out,
                    api_name="compare", **HEAVY)
        q_btn.click(quick_eval_event, c_inputs + [q_task, q_n], [q_md, q_df], api_name="quick_eval",
                    **HEAVY)
        runs_out = [r_df, r_chart, c_seek, c_lat, r_pick]
        r_refresh.click(runs_event, [student, c_seek, c_lat, my_runs], runs_out, api_name="runs")
        r_pick.change(run_detail_event, r_pick, [r_detail, r_loss, r_config], api_name="run_detail")
        r_files_btn.click(run_files_event, r_pick, r_files, api_name="run_files")
        for tab, button in goto.items():  # navigation only: not part of the documented API
            button.click(lambda t=tab: gr.Tabs(selected=t), None, tabs, api_name=f"goto_{tab}",
                         api_visibility="undocumented", queue=False)
        demo.load(load_event, [teacher, student, c_seek, c_lat, my_runs],
                  [t_card, s_card, verdict] + runs_out, api_name="page_load")
    demo.queue(max_size=32, default_concurrency_limit=4)
    return demo


if __name__ == "__main__":
    demo = build_app()
    demo.launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                prevent_thread_lock=True)
    if os.environ.get("PKT_WARM_UP", "1") != "0":
        lab.warm_up()  # after the server answers: imports and the embedded pair, in the background
    demo.block_thread()
