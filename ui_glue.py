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


def view_updates(tab: Any, view: Any) -> dict[Any, Any]:
    """A view's fields → the tab's widgets of the same name (None = leave the widget as it is)."""
    return {getattr(tab, f.name): getattr(view, f.name) for f in dataclasses.fields(view)
            if hasattr(tab, f.name) and getattr(view, f.name) is not None}


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
