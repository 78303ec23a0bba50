"""LaTen: does the hypernetwork bring teacher parameters into the student's space?"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..models.architectures import NEURON_MODULES
from .common import DIVERGING, HEIGHT, MODULE_COLOURS, captioned, fmt_signed, legend_below

ALIGN_MODULES = NEURON_MODULES
ALIGN_METHODS = {"hypernetwork": "trained hypernetwork", "naive": "naive sub-block (no learning)"}


def _on_used_pairs(alignment: Mapping[str, Any], method: str) -> float | None:
    """Mean cosine over the (student layer i, teacher layer LaTen mapped to i) cells of all modules."""
    used, values = alignment.get("teacher_layers", {}), []
    for module in ALIGN_MODULES:
        z = np.asarray(alignment["matrices"][module][method], dtype=float)
        pairs = used.get("ffn" if module.startswith(("up", "down")) else "attn", [])
        values += [z[i, t] for i, t in enumerate(pairs) if i < z.shape[0] and t < z.shape[1]]
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def _heatmaps_caption(alignment: Mapping[str, Any]) -> str:
    cells = np.concatenate([np.ravel(np.asarray(alignment["matrices"][m][k], dtype=float))
                            for m in ALIGN_MODULES for k in ALIGN_METHODS])
    cells = cells[np.isfinite(cells)]
    largest = f"{np.abs(cells).max():.3f}" if cells.size else "n/a"
    return ("How to read: rows are student layers, columns teacher layers; each cell is the mean "
            "cosine between the student's located rows/columns and the teacher's after mapping them "
            "into the student's space, by the trained hypernetwork (top row) or the naive sub-block "
            "(bottom row); 1 = pointing the same way, 0 = unrelated, and squares mark the layer "
            f"pairs LaTen used. Here the largest |cosine| is {largest} (the colours stretch to it), "
            f"and the mean on the squares is {fmt_signed(_on_used_pairs(alignment, 'hypernetwork'))} "
            f"for the hypernetwork against {fmt_signed(_on_used_pairs(alignment, 'naive'))} naive.")


def alignment_heatmaps(alignment: Mapping[str, Any]) -> go.Figure:
    """Student layer × teacher layer mean cosine between the student's located rows/columns and the
    teacher's, mapped by the trained hypernetwork (top row) and by the naive map (bottom row)."""
    matrices = alignment["matrices"]
    titles = [f"{m} — {'hypernetwork' if k == 'hypernetwork' else 'naive'}"
              for k in ALIGN_METHODS for m in ALIGN_MODULES]
    fig = make_subplots(rows=2, cols=4, subplot_titles=titles, horizontal_spacing=0.05,
                        vertical_spacing=0.18)
    used = alignment.get("teacher_layers", {})
    for r, method in enumerate(ALIGN_METHODS, start=1):
        for c, module in enumerate(ALIGN_MODULES, start=1):
            z = np.asarray(matrices[module][method], dtype=float)
            fig.add_trace(go.Heatmap(
                z=z.tolist(), coloraxis="coloraxis",
                hovertemplate=(f"{module}, {ALIGN_METHODS[method]}<br>student layer %{{y}} · teacher "
                               "layer %{x}<br>mean cosine %{z:.6f}<extra></extra>")), row=r, col=c)
            kind = "ffn" if module.startswith(("up", "down")) else "attn"
            pairs = used.get(kind, [])
            fig.add_trace(go.Scatter(x=pairs, y=list(range(len(pairs))), mode="markers",
                                     marker={"symbol": "square-open", "size": 12, "color": "black"},
                                     name="layer pairs LaTen used", showlegend=(r, c) == (1, 1),
                                     hoverinfo="skip"), row=r, col=c)
    fig.update_layout(height=2 * HEIGHT, coloraxis={"colorscale": DIVERGING, "cmid": 0.0,
                                                    "colorbar": {"title": {"text": "cosine"}}},
                      title={"text": "LaTen parameter-space alignment<br><sup>cosine of the "
                                     "student's located rows/columns with the teacher's, mapped into "
                                     "the student's space<br>top: trained hypernetwork · bottom: "
                                     "naive sub-block</sup>"}, margin={"t": 135})
    width = np.shape(matrices[ALIGN_MODULES[0]]["hypernetwork"])[-1]
    fig.update_xaxes(title_text="teacher layer", dtick=1, range=[-0.5, width - 0.5])
    fig.update_yaxes(dtick=1)
    fig.update_yaxes(title_text="student layer", col=1)
    fig.update_annotations(font_size=12)  # four subplot titles side by side
    legend_below(fig)
    return captioned(fig, _heatmaps_caption(alignment))


def alignment_curves(alignment: Mapping[str, Any]) -> go.Figure:
    """Per LaTen step: the alignment cosine on the layer pairs LaTen used, per module and method."""
    steps = alignment["per_step"]
    fig = go.Figure()
    for module in ALIGN_MODULES:
        for method, dash in (("hypernetwork", "solid"), ("naive", "dot")):
            y = [row[module][method] for row in steps]
            fig.add_trace(go.Scatter(
                x=list(range(1, len(y) + 1)), y=y, mode="lines+markers",
                name=f"{module} · {method}",
                line={"color": MODULE_COLOURS.get(module), "dash": dash},
                hovertemplate=f"{module}, {ALIGN_METHODS[method]}<br>step %{{x}}<br>"
                              "mean cosine %{y:.6f}<extra></extra>"))
    fig.add_hline(y=0, line={"color": "grey", "width": 1, "dash": "dot"})
    fig.update_layout(height=HEIGHT, title={"text": "Alignment on the layer pairs LaTen used, per step"},
                      xaxis={"title": {"text": "LaTen step"}, "dtick": 1},
                      yaxis={"title": {"text": "mean cosine (student vs mapped teacher)"}})
    legend_below(fig)
    last = steps[-1] if steps else {}
    means = {k: (float(np.mean([last[m][k] for m in ALIGN_MODULES])) if last else None)
             for k in ALIGN_METHODS}
    return captioned(fig, (
        "How to read: x is the LaTen training step, y the mean cosine, on the layer pairs LaTen "
        "used, between the student's located rows/columns and the teacher's mapped ones (solid: "
        "trained hypernetwork, dotted: naive sub-block; 0 = unrelated); a solid line climbing above "
        f"its dotted twin would mean the hypernetwork learns to align. After step {len(steps)} "
        f"the mean over modules is {fmt_signed(means['hypernetwork'])} for the hypernetwork and "
        f"{fmt_signed(means['naive'])} naive."))
