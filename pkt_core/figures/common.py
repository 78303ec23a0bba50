"""What every figure shares: sizes, colour scales, the caption stored in the figure, the legend
below the plot, and the colour ranges that one outlier cannot wash out."""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

from ..models.architectures import PROJECTIONS

HEIGHT = 420  # px, per row of subplots
LIVE_HEIGHT = 340  # px, the Transfer tab's live plots
SEQUENTIAL = "Viridis"  # CKA: [0, 1]
DIVERGING = "RdBu_r"  # signed: blue < 0 < red, centred at 0
MODULE_COLOURS = dict(zip(PROJECTIONS, qualitative.D3))
# The two LoRA starts parametric similarity compares (pkt_core.analyse.parametric): the student's
# own top-r SVD (PiSSA's init) and a sub-block cut from the teacher (Seeking's init).
METHOD_DASH = {"own_top_r": "solid", "teacher_piece": "dash"}
METHOD_LABEL = {"own_top_r": "PiSSA (student's own top-r)",
                "teacher_piece": "Seeking-style (teacher sub-block)"}
METHOD_SHORT = {"own_top_r": "PiSSA", "teacher_piece": "Seeking-style"}


# ---- the caption: "how to read this", stored in the figure so it travels with it ----------------
def captioned(fig: go.Figure, caption: str) -> go.Figure:
    """Store `caption` in `fig.layout.meta["caption"]` (it survives `to_json` and `go.Figure(json)`;
    other keys of a dict `meta` are kept) and return the figure."""
    meta = fig.layout.meta
    meta = dict(meta) if isinstance(meta, Mapping) else {}
    fig.update_layout(meta={**meta, "caption": " ".join(caption.split())})
    return fig


def caption_of(fig: go.Figure | Mapping[str, Any]) -> str:
    """The "how to read this" text a builder stored in the figure ("" when it has none); a figure's
    JSON dict works too."""
    if isinstance(fig, Mapping):
        layout = fig.get("layout") or {}
        meta = layout.get("meta") if isinstance(layout, Mapping) else None
    else:
        meta = fig.layout.meta
    if isinstance(meta, Mapping) and meta.get("caption"):
        return str(meta["caption"])
    return ""


# ---- layout: nothing wider than its container ------------------------------------------------------
def legend_below(fig: go.Figure, gap_px: float = 75.0) -> None:
    """A horizontal legend under the plot (it wraps instead of pushing the plot off the right edge
    of a narrow page), `gap_px` below the lowest x axis so it clears the axis title. Plotly grows
    the bottom margin to fit it; no width is ever fixed, the figure takes its container's."""
    height, margin = fig.layout.height or HEIGHT, fig.layout.margin
    plot_px = max(height - (margin.t or 100) - (margin.b or 80), 100)  # plotly's default margins
    fig.update_layout(autosize=True, legend={"orientation": "h", "x": 0, "xanchor": "left",
                                             "y": -gap_px / plot_px, "yanchor": "top"})


# ---- colour ranges for heavy-tailed signed values ------------------------------------------------
def colour_limit(z: np.ndarray, percentile: float) -> tuple[float, bool]:
    """A symmetric colour limit for signed values: the `percentile` of |z| (the full range when that
    is 0). → (limit, whether some values lie beyond it and so get the end colours)."""
    mags = np.abs(z[np.isfinite(z)])
    if not mags.size or not mags.max() > 0:
        return 1.0, False  # all zero (or empty): any range will do
    limit = float(np.percentile(mags, percentile))
    if limit <= 0:  # most values are exactly 0: the full range, or nothing would show
        limit = float(mags.max())
    return limit, float(mags.max()) > limit


def asinh_scale(z: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Colour values `asinh(z / s)`: linear within ±s, logarithmic beyond, sign kept. s is the median
    nonzero |z|, so the typical cell gets a visible colour while a 1000× outlier only adds a few
    colour steps; nothing is clipped. → (transformed z, s, largest |transformed value|)."""
    mags = np.abs(z[np.isfinite(z)])
    nonzero = mags[mags > 0]
    if not nonzero.size:
        return np.zeros_like(z, dtype=float), 1.0, 1.0
    s = float(np.median(nonzero))
    return np.arcsinh(z / s), s, float(np.arcsinh(nonzero.max() / s))


def _tick_label(value: float) -> str:
    return "0" if value == 0 else ("−" if value < 0 else "") + f"{abs(value):.2g}"


def asinh_ticks(s: float, top: float) -> tuple[list[float], list[str]]:
    """Colourbar ticks for `asinh_scale`: positions in colour units, labels in raw values (0 and
    ±powers of ten from s up to the largest value, at most four per side; the largest value itself
    when no power of ten lies in between)."""
    largest = s * math.sinh(top)
    decades = [10.0 ** k for k in range(math.ceil(math.log10(s) - 1e-9),
                                        math.floor(math.log10(largest) + 1e-9) + 1)]
    while len(decades) > 4:
        decades = decades[::-1][::2][::-1]  # every other power, keeping the largest
    values = decades or [largest]
    raw = [-v for v in reversed(values)] + [0.0] + values
    return [float(np.arcsinh(v / s)) for v in raw], [_tick_label(v) for v in raw]


def finite_or_none(values: Any) -> list[Any]:
    """A nested list with NaN/inf as None (a gap in plotly, and strict JSON)."""
    z = np.asarray(values, dtype=float)
    return np.where(np.isfinite(z), z, None).tolist()


def fmt_signed(value: float | None) -> str:
    """+0.123 / −0.123 (a typographic minus, as the paper's numbers; never "−0.000")."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{round(value, 3) + 0.0:+.3f}".replace("-", "−")
