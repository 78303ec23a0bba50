"""The small pieces every tab's wiring uses: readable errors, the heavy slot and the ZeroGPU shim,
the visitor's session, plot captions, and the check that a view's fields match a tab's widgets.
Gradio only; what the page shows is computed in pkt_core.lab."""
from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Any, Callable

import gradio as gr
from gradio.blocks import Block

from pkt_core import lab
from pkt_core.infra import policy
from pkt_core.figures import caption_of
from pkt_core.lab import lab_limits

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


# ---- sessions, errors and the heavy slot ---------------------------------------------------------
def session_key(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "local"


def _request_session() -> str:
    """The visitor's session of the event being handled (Gradio keeps its request in a context
    variable while a handler runs, generators included)."""
    from gradio.context import LocalContext

    session = session_key(LocalContext.request.get(None))
    lab.session_seen(session)
    return session


def _readable_error(err: Exception) -> gr.Error:
    return gr.Error(lab.readable(err), print_exception=not isinstance(err, ValueError))


def _safe_generator(fn: Callable) -> Callable:
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
            raise _readable_error(err) from err
    return gen


def safe(fn: Callable) -> Callable:
    """Run a handler on behalf of its visitor (`policy.visitor`) and turn any failure into a
    readable gr.Error (no traceback on the page); generators too."""
    if inspect.isgeneratorfunction(fn):
        return _safe_generator(fn)

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            with policy.visitor(_request_session()):
                return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as err:
            raise _readable_error(err) from err
    return call


def heavy(duration: int) -> Callable[[Callable], Callable]:
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


def cancel_job(request: gr.Request) -> str:
    """Stop this visitor's running job (a transfer or the curve) after its current step."""
    if lab.JOBS.cancel(session_key(request)):
        return "⏹️ Cancelling — the job stops after its current step and keeps what it saved."
    return "Nothing to cancel: no job is running in this session."


def session_closed(request: gr.Request) -> None:
    """The visitor closed the page: their downloads go now, their runs after the public TTL."""
    lab.session_ended(session_key(request))


def declare_keywords(fn: Any, names: list[str]) -> None:
    """Declare a handler's `**kwargs` inputs as keyword parameters defaulting to None, so the API
    marks each optional even where its widget starts blank (blank = the research's default rule)."""
    signature = inspect.signature(fn)
    kept = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    extra = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None) for n in names]
    fn.__signature__ = signature.replace(parameters=kept + extra)


# ---- plots and their captions --------------------------------------------------------------------
CAPTIONS: dict[Any, Any] = {}  # a plot widget → the Markdown under it that says how to read it


def captioned_plot(value: Any = None, scale: int | None = None, **kwargs: Any) -> gr.Plot:
    """A plot with its "how to read this" caption under it (in a column of their own, so two
    captioned plots can sit side by side in a row); `ViewWidgets.updates` keeps it in step."""
    with gr.Column(scale=scale or 1, min_width=160):
        plot = gr.Plot(value, **kwargs)
        CAPTIONS[plot] = gr.Markdown(caption_of(value) if value is not None else "",
                                     elem_classes=["figure-caption"])
    return plot


def with_caption_updates(updates: dict[Any, Any]) -> dict[Any, Any]:
    """Updates plus, for each plot among them, its figure's caption (blank for no figure)."""
    captions = {CAPTIONS[w]: caption_of(v) if v is not None else "" for w, v in updates.items()
                if w in CAPTIONS}
    return {**updates, **captions}


def with_captions(outputs: list[Any]) -> list[Any]:
    """An event's outputs plus the captions of its plots, last (so the API's earlier outputs keep
    their positions)."""
    return list(outputs) + [CAPTIONS[w] for w in outputs if w in CAPTIONS]


# ---- a view's fields → a tab's widgets -----------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ViewWidgets:
    """The widgets of `tab` that a view of `view_class` fills: each field fills the tab's widget of
    the same name, except the fields named in `data` (values for the handler, shown nowhere).

    Checked when built, i.e. when the page is wired: a field with no widget of its name, or a
    `data` name that is no field, is refused with the names, so no field is silently dropped."""
    tab: Any
    view_class: type
    data: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        fields = [f.name for f in dataclasses.fields(self.view_class)]
        no_widget = [name for name in fields if name not in self.data
                     and not isinstance(getattr(self.tab, name, None), Block)]
        no_field = [name for name in self.data if name not in fields]
        problems = ([f"no widget for field(s) {', '.join(no_widget)} on "
                     f"{type(self.tab).__name__}"] if no_widget else [])
        problems += [f"data name(s) {', '.join(no_field)} are not fields"] if no_field else []
        if problems:
            raise ValueError(f"{self.view_class.__name__}: {'; '.join(problems)}")

    @property
    def shown(self) -> list[str]:
        """The fields that fill a widget, in the view's order."""
        return [f.name for f in dataclasses.fields(self.view_class) if f.name not in self.data]

    @property
    def outputs(self) -> list[Any]:
        """The widgets a view fills (an event's outputs), in the view's order."""
        return [getattr(self.tab, name) for name in self.shown]

    def updates(self, view: Any, clear_empty: bool = False) -> dict[Any, Any]:
        """A view's shown fields → their widgets, and each figure's caption → the Markdown under
        its plot. A None field leaves its widget as it is, or with `clear_empty` empties it."""
        if not isinstance(view, self.view_class):
            raise TypeError(f"expected a {self.view_class.__name__}, got {type(view).__name__}")
        return with_caption_updates({getattr(self.tab, name): getattr(view, name)
                                     for name in self.shown
                                     if clear_empty or getattr(view, name) is not None})


# ---- widgets capped in public mode ---------------------------------------------------------------
def capped_slider(lo: float, hi: float, cap: str, **kwargs: Any) -> gr.Slider:
    """A slider for one of the page's own inputs, its maximum lowered to the public cap (and the
    cap shown beside it) in public mode."""
    limits = lab_limits()
    top = min(hi, limits.lab_cap(cap))
    if limits.public:
        kwargs["info"] = (kwargs.get("info", "") + f" (public cap {top:g})").strip()
    return gr.Slider(lo, top, **kwargs)
