"""The small pieces every tab's wiring in app.py uses: readable errors, the visitor's session,
name-based outputs, widgets generated from a paradigm's declared settings, and the ZeroGPU shim.
Gradio only; what the page shows is computed in pkt_core.lab."""
from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Any

import gradio as gr

from pkt_core import lab, policy
from pkt_core.figures import caption_of

try:  # ZeroGPU Spaces: GPU-bound functions borrow a GPU per call; a no-op everywhere else.
    import spaces

    GPU = spaces.GPU
except ImportError:
    def GPU(fn=None, **_):  # type: ignore[no-redef]
        return fn if callable(fn) else (lambda f: f)

# Heavy handlers (decorated with `heavy`) wait in pkt_core's HeavyGate, which runs one at a time
# and enforces the per-session quota; Gradio only needs enough workers for the waiting ones, in a
# group of their own so that light actions never queue behind them.
HEAVY = {"concurrency_id": "heavy", "concurrency_limit": 24}
NAV = {"api_visibility": "undocumented", "queue": False}  # page-only helpers, not the API


def _request_session() -> str:
    """The visitor's session of the event being handled (Gradio keeps its request in a context
    variable while a handler runs, generators included)."""
    from gradio.context import LocalContext

    session = session_key(LocalContext.request.get(None))
    lab.session_seen(session)
    return session


def safe(fn):
    """Run a handler on behalf of its visitor (`policy.visitor`) and turn any failure into a
    readable gr.Error (no traceback on the page); generators too."""
    def fail(err: Exception) -> gr.Error:
        return gr.Error(lab.readable(err), print_exception=not isinstance(err, ValueError))

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen(*args, **kwargs):
            session = _request_session()
            try:
                with policy.visitor(session):
                    steps = fn(*args, **kwargs)
                while True:  # each step on the visitor's behalf: a step may run in another thread
                    with policy.visitor(session):
                        try:
                            item = next(steps)
                        except StopIteration:
                            return
                    yield item
            except gr.Error:
                raise
            except Exception as err:
                raise fail(err) from err
        return gen

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            with policy.visitor(_request_session()):
                return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as err:
            raise fail(err) from err
    return call


def heavy(duration: int):
    """A model-bound handler: it waits for the heavy slot (refused at once over the session's
    quota), then borrows a GPU for up to `duration` seconds on ZeroGPU."""
    def wrap(fn):
        inner = GPU(duration=duration)(fn)
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def gen(*args, **kwargs):
                with lab.GATE.hold(policy.current_session() or "local"):
                    yield from inner(*args, **kwargs)
            return gen

        @functools.wraps(fn)
        def call(*args, **kwargs):
            with lab.GATE.hold(policy.current_session() or "local"):
                return inner(*args, **kwargs)
        return call
    return wrap


def session_key(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "local"


def cancel_job(request: gr.Request):
    """Stop this visitor's running job (a transfer or the curve) after its current step."""
    if lab.JOBS.cancel(session_key(request)):
        return "⏹️ Cancelling — the job stops after its current step and keeps what it saved."
    return "Nothing to cancel: no job is running in this session."


CAPTIONS: dict[Any, Any] = {}  # a plot widget → the Markdown under it that says how to read it


def captioned_plot(value: Any = None, scale: int | None = None, **kwargs: Any) -> gr.Plot:
    """A plot with its "how to read this" caption under it (in a column of their own, so two
    captioned plots can sit side by side in a row); `view_updates` keeps the caption in step."""
    with gr.Column(scale=scale or 1, min_width=160):
        plot = gr.Plot(value, **kwargs)
        CAPTIONS[plot] = gr.Markdown(caption_of(value) if value is not None else "",
                                     elem_classes=["figure-caption"])
    return plot


def view_updates(tab: Any, view: Any) -> dict[Any, Any]:
    """A view's fields → the tab's widgets of the same name (None = leave the widget as it is),
    and each figure's caption → the Markdown under its plot."""
    return with_caption_updates({getattr(tab, f.name): getattr(view, f.name)
                                 for f in dataclasses.fields(view)
                                 if hasattr(tab, f.name) and getattr(view, f.name) is not None})


def with_caption_updates(updates: dict[Any, Any]) -> dict[Any, Any]:
    """Updates plus, for each plot among them, its figure's caption (blank for no figure)."""
    captions = {CAPTIONS[w]: caption_of(v) if v is not None else "" for w, v in updates.items()
                if w in CAPTIONS}
    return {**updates, **captions}


def declare_keywords(fn: Any, names: list[str]) -> None:
    """Declare a handler's `**kwargs` inputs as keyword parameters defaulting to None, so the API
    marks each optional even where its widget starts blank (blank = the research's default rule)."""
    signature = inspect.signature(fn)
    kept = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    extra = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None) for n in names]
    fn.__signature__ = signature.replace(parameters=kept + extra)


def view_outputs(tab: Any, view_class: type) -> list[Any]:
    """The tab's widgets a view of this class fills (the event's outputs)."""
    return [getattr(tab, f.name) for f in dataclasses.fields(view_class) if hasattr(tab, f.name)]


def with_captions(outputs: list[Any]) -> list[Any]:
    """An event's outputs plus the captions of its plots, last (so the API's earlier outputs keep
    their positions)."""
    return list(outputs) + [CAPTIONS[w] for w in outputs if w in CAPTIONS]


PRESET_INFO = ("lab: tuned on the embedded pair so the update is large enough to matter at this "
               "width; research: the paper's settings, made for 7B-13B models")


def capped_slider(lo: float, hi: float, cap: str, **kwargs: Any) -> gr.Slider:
    """A slider for one of the page's own inputs, its maximum lowered to the public cap (and the
    cap shown beside it) in public mode."""
    top = min(hi, policy.lab_cap(cap))
    if policy.public_mode():
        kwargs["info"] = (kwargs.get("info", "") + f" (public cap {top:g})").strip()
    return gr.Slider(lo, top, **kwargs)


def setting_widget(spec: Any, elem_id: str, value: Any) -> Any:
    """A widget for one paradigm setting, from the setting's declaration (label, help, range);
    in public mode its maximum is the public cap, shown beside it."""
    top = spec.max_now()
    info = spec.help + (f" (public cap {top:g})" if policy.public_mode() and top is not None else "")
    common = {"label": spec.label, "info": info, "elem_id": elem_id}
    if spec.lo is not None and spec.hi is not None and spec.step is not None:
        return gr.Slider(spec.lo, top, value=min(value, top), step=spec.step, **common)
    if spec.kind is bool:
        return gr.Checkbox(value, **common)
    if spec.kind is str:
        return gr.Textbox(value, **common)
    # No minimum/maximum here: the setting's own check names it in its message ("epochs must be …").
    return gr.Number(value, precision=0 if spec.kind is int else None, **common)


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
    letters of a bold "LoRA" or "PiSSA" looked different)."""
    options: dict[str, Any] = {"theme": gr.themes.Default(
        font=["ui-sans-serif", "system-ui", "sans-serif"],
        font_mono=["ui-monospace", "Consolas", "monospace"])}
    if policy.public_mode():
        from starlette.middleware import Middleware

        options |= {"max_file_size": 0, "app_kwargs": {"middleware": [Middleware(RefuseUploads)]}}
    return options


def run_pickers(compare: Any, runs: Any, student: str | None, chosen: dict[str, str | None],
                picked: str | None = None) -> dict[Any, Any]:
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


def session_closed(request: gr.Request) -> None:
    """The visitor closed the page: their downloads go now, their runs after the public TTL."""
    lab.session_ended(session_key(request))


# ---- the Learn tab: a guided path through the live tabs ------------------------------------------
def learn_tab() -> list[tuple[Any, Any, Any]]:
    """One Markdown and one button per step of lab.learn_steps() (no model is loaded here: the
    live numbers are filled when the tab is opened, see wire_learn)."""
    out = []
    for step in lab.learn_steps():
        text = gr.Markdown(f"## {step.title}\n\n{step.markdown}")
        out.append((step, text, gr.Button(step.button, size="sm")))
    return out


def _learn_widgets(step: Any, tabs_by_id: dict[str, Any]) -> list[Any]:
    """The widgets a Learn step fills, in the order of its inputs: `teacher`/`student` are the
    Pair tab's pickers, `preset` the Transfer tab's preset of the step's paradigm."""
    out = []
    for name in step.inputs:
        if name in ("teacher", "student"):
            out.append(getattr(tabs_by_id["pair"], name))
        elif name == "preset" and step.tab == "transfer":
            out.append(tabs_by_id["transfer"].presets[step.inputs["paradigm"]])
        else:
            out.append(getattr(tabs_by_id[step.tab], name))
    return out


def wire_learn(learn: Any, steps: list[tuple[Any, Any, Any]], tabs: gr.Tabs,
               tabs_by_id: dict[str, Any]) -> None:
    """Each step's button opens its tab with its inputs filled in; opening Learn fills the live
    numbers (the first example's agreement, …), which needs the models: a heavy job."""
    for step, _, button in steps:
        button.click(lambda s=step: [gr.Tabs(selected=s.tab), *s.inputs.values()], None,
                     [tabs, *_learn_widgets(step, tabs_by_id)], api_name=f"goto_learn_{step.key}",
                     **NAV)

    @safe
    @heavy(duration=60)
    def learn_live():
        return [f"## {s.title}\n\n{s.markdown}" for s in lab.learn_steps(live=True)]

    learn.select(learn_live, None, [text for _, text, _ in steps], api_name="learn_live", **HEAVY)


def ladder_section(task: str = "facts") -> None:
    """The Incompatibility tab's scale ladder: precomputed (`python -m pkt_core ladder`), static."""
    gr.Markdown("### The scale ladder\nIs incompatibility about scale or about separate training? "
                "Every pair of the embedded family, including a same-size sibling trained from "
                "another random start, against how many times larger the teacher is.")
    figure, notes = lab.shipped_ladder_view(task)
    if figure is not None:
        captioned_plot(figure, label="scale ladder", elem_id="ladder")
    gr.Markdown(notes, elem_id="ladder-notes")
