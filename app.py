"""PKT Lab — the Gradio dashboard: the page's layout and launch. Every event calls pkt_core.lab.

Each tab is a module of the `ui` package: a builder that returns its widgets as a named
structure and a `wire_…` function; here the tabs are laid out and wired to one another. Handlers
receive inputs by name (`inputs_kwargs`) and map the fields of a typed view (pkt_core.lab.views)
to the widgets of the same name (ui.glue.ViewWidgets). Every event has an api_name
(`gradio_client` drives the whole lab); heavy work waits in lab.GATE (one job at a time, a
per-session quota in public mode); per-visitor state lives in gr.State; errors are one line.
"""
from __future__ import annotations

import os
from typing import Any, Callable

# Before torch loads: idle OpenMP threads sleep instead of spinning. On a small shared CPU a
# spinning thread stalls every small matmul (the tiny models' forward passes) by orders of
# magnitude.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import gradio as gr  # noqa: E402

from pkt_core import lab  # noqa: E402
from pkt_core.infra import policy  # noqa: E402
from pkt_core.infra.runs import mark_interrupted  # noqa: E402
from pkt_core.lab import lab_limits  # noqa: E402
from ui.compare import CompareTab, compare_tab, run_inputs, wire_compare  # noqa: E402
from ui.glue import declare_keywords, safe, session_closed, with_captions  # noqa: E402
from ui.incompatibility import incompatibility_tab, wire_incompatibility  # noqa: E402
from ui.learn import learn_tab, wire_learn  # noqa: E402
from ui.locate import locate_tab, wire_locate  # noqa: E402
from ui.pair import PairTab, pair_tab, pair_view, wire_pair  # noqa: E402
from ui.runs import RunsTab, runs_outputs, runs_tab, wire_runs  # noqa: E402
from ui.transfer import transfer_tab, wire_transfer  # noqa: E402


def wire_page_load(demo: gr.Blocks, pair: PairTab, compare: CompareTab, runs: RunsTab,
                   mine: Any, refresh_runs: Callable) -> None:
    """On opening the page: the pair's cards and verdict, the runs and every run picker."""
    report = pair_view(pair)

    @safe
    def page_load(teacher, student, mine, **chosen):
        return {**report.updates(lab.pair_report(teacher, student)),
                **refresh_runs(student, mine, **chosen)}

    declare_keywords(page_load, list(run_inputs(compare)))
    demo.load(page_load, None, with_captions([*report.outputs, *runs_outputs(runs, compare)]),
              api_name="page_load",
              inputs_kwargs={"teacher": pair.teacher, "student": pair.student,
                             **run_inputs(compare), "mine": mine})


def _header() -> None:
    gr.Markdown("# PKT Lab — cross-scale parametric knowledge transfer\n"
                "Move knowledge from a bigger *teacher* into a smaller *student* through their "
                "weights, and see why that is hard. New here? Start with **Learn**.")
    gr.Markdown(lab.device_banner(), elem_id="device-banner")
    limits = lab_limits()
    if limits.public:
        gr.Markdown(policy.public_summary(limits), elem_id="public-mode")


def build_app() -> gr.Blocks:
    # Gradio's cache (copies of downloads) is swept hourly of files older than an hour.
    with gr.Blocks(title="PKT Lab", delete_cache=(3600, 3600)) as demo:
        _header()
        with gr.Tabs() as tabs:
            with gr.Tab("Pair", id="pair"):
                pair = pair_tab()
            with gr.Tab("Locate", id="locate"):
                locate = locate_tab()
            with gr.Tab("Incompatibility", id="incompat"):
                incompatibility = incompatibility_tab()
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
        refresh_runs = wire_runs(runs, pair, compare, transfer.mine)
        wire_page_load(demo, pair, compare, runs, transfer.mine, refresh_runs)
        wire_learn(learn, learn_steps, tabs, {"pair": pair, "locate": locate,
                                              "incompat": incompatibility, "transfer": transfer,
                                              "compare": compare, "runs": runs})
        demo.unload(session_closed)
    # Heavy jobs are counted per session by lab.GATE, so the queue itself can be long.
    demo.queue(max_size=256, default_concurrency_limit=4)
    return demo


class RefuseUploads:
    """ASGI middleware for public mode: the upload route answers 403. No input of the lab takes a
    file, and an uploaded folder was usable as a model directory (and a 20 MB upload was kept)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") == "http" and scope.get("path", "").rstrip("/").endswith("/upload"):
            body = b"Uploads are off in this public lab."
            await send({"type": "http.response.start", "status": 403,
                        "headers": [(b"content-type", b"text/plain"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def launch_options() -> dict[str, Any]:
    """demo.launch() keywords: the theme, and in public mode uploads refused (by size and by route).

    The theme uses the system's sans-serif fonts: Gradio's default ships Source Sans Pro in
    weights 400 and 600 only, so bold text fell back glyph by glyph to another font (the last
    letters of a bold paradigm title looked different)."""
    options: dict[str, Any] = {"theme": gr.themes.Default(
        font=["ui-sans-serif", "system-ui", "sans-serif"],
        font_mono=["ui-monospace", "Consolas", "monospace"])}
    if lab_limits().public:
        from starlette.middleware import Middleware

        options |= {"max_file_size": 0, "app_kwargs": {"middleware": [Middleware(RefuseUploads)]}}
    return options


def main() -> None:
    """`python app.py`: the page, then the warm-up in the background once the server answers."""
    demo = build_app()
    mark_interrupted()  # runs a crash or restart left "running" are listed as interrupted
    lab.tidy_runs()
    demo.launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                prevent_thread_lock=True, **launch_options())
    if os.environ.get("PKT_WARM_UP", "1") != "0":
        lab.warm_up()  # after the server answers: imports and the embedded pair, in the background
    demo.block_thread()


if __name__ == "__main__":
    main()
