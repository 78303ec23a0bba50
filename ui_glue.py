"""The small pieces every tab's wiring in app.py uses: readable errors, the visitor's session,
name-based outputs, widgets generated from a paradigm's declared settings, and the ZeroGPU shim.
Gradio only; what the page shows is computed in pkt_core.lab."""
from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Any

import gradio as gr

from pkt_core import lab

try:  # ZeroGPU Spaces: GPU-bound functions borrow a GPU per call; a no-op everywhere else.
    import spaces

    GPU = spaces.GPU
except ImportError:
    def GPU(fn=None, **_):  # type: ignore[no-redef]
        return fn if callable(fn) else (lambda f: f)

HEAVY = {"concurrency_id": "heavy", "concurrency_limit": 1}  # one model-bound job at a time
NAV = {"api_visibility": "undocumented", "queue": False}  # page-only helpers, not the API


def safe(fn):
    """Turn any failure into a readable gr.Error (no traceback on the page); generators too."""
    def fail(err: Exception) -> gr.Error:
        return gr.Error(lab.readable(err), print_exception=not isinstance(err, ValueError))

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


def setting_widget(spec: Any, elem_id: str, value: Any) -> Any:
    """A widget for one paradigm setting, from the setting's declaration (label, help, range)."""
    common = {"label": spec.label, "info": spec.help, "elem_id": elem_id}
    if spec.lo is not None and spec.hi is not None and spec.step is not None:
        return gr.Slider(spec.lo, spec.hi, value=value, step=spec.step, **common)
    if spec.kind is bool:
        return gr.Checkbox(value, **common)
    if spec.kind is str:
        return gr.Textbox(value, **common)
    # No minimum/maximum here: the setting's own check names it in its message ("epochs must be …").
    return gr.Number(value, precision=0 if spec.kind is int else None, **common)
