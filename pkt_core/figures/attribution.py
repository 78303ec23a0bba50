"""Logit-lens attribution: layer scores of teacher and student on one depth axis, and the
layer × neuron score map."""
from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from ..analyse import LayerComparison, compare_layer_attribution
from ..locate import LocateResult
from .common import (DIVERGING, HEIGHT, asinh_scale, asinh_ticks, captioned, colour_limit,
                     finite_or_none, legend_below)

KIND_LABEL = {"ffn": "FFN", "attn": "attention"}
SCALES = ("asinh", "linear")


def _layer_caption(label: str, cmp: LayerComparison, normalise: bool) -> str:
    rho = "undefined" if cmp.profile_spearman is None else f"{cmp.profile_spearman:+.2f}"
    return (f"How to read: x is relative depth (0 = first layer, 1 = last), so models of different "
            f"depth line up; y is how much adding that layer's {label} output raises the "
            "log-probability of the answer token (higher = the layer carries more of the answer"
            + ("; each curve divided by its largest |score|" if normalise else "")
            + "), and rings mark the teacher layers LaTen keeps. The research found that teacher "
            "and student rely on different layers for the same task (behavioural neural "
            f"incompatibility); here the two profiles' rank correlation is {rho} (1 = same shape).")


def layer_score_curves(teacher: LocateResult, student: LocateResult, kind: str = "ffn",
                       normalise: bool = False) -> go.Figure:
    """Teacher and student layer-attribution scores on a shared relative-depth axis.

    `normalise` divides each model's curve by its largest |score| (the two models' log-prob
    gains need not share a scale). The teacher layers LaTen would keep are ringed.
    """
    cmp = compare_layer_attribution(teacher, student, kind)
    fig = go.Figure()
    plotted: dict[str, np.ndarray] = {}
    for role, colour, depth, scores in (("teacher", "#d62728", cmp.teacher_depth, cmp.teacher_scores),
                                        ("student", "#1f77b4", cmp.student_depth, cmp.student_scores)):
        y = np.asarray(scores, dtype=float)
        if normalise and np.abs(y).max() > 0:
            y = y / np.abs(y).max()
        plotted[role] = y
        fig.add_trace(go.Scatter(
            x=depth, y=y.tolist(), mode="lines+markers", name=role,
            customdata=list(range(len(y))), line={"color": colour},
            hovertemplate=(f"{role} layer %{{customdata}}<br>relative depth %{{x:.3f}}<br>"
                           f"score %{{y:.6g}}<extra></extra>")))
    kept = [p.teacher_layer for p in cmp.pairs]
    fig.add_trace(go.Scatter(
        x=[cmp.teacher_depth[i] for i in kept],
        y=[float(plotted["teacher"][i]) for i in kept], mode="markers",
        name="teacher layers LaTen keeps",
        customdata=[[p.teacher_layer, p.student_layer] for p in cmp.pairs],
        marker={"size": 14, "symbol": "circle-open", "color": "#d62728", "line": {"width": 2}},
        hovertemplate="teacher layer %{customdata[0]} → student layer %{customdata[1]}"
                      "<extra></extra>"))
    rho_text = "n/a" if cmp.profile_spearman is None else f"{cmp.profile_spearman:.2f}"
    label = KIND_LABEL.get(kind, kind)
    fig.update_layout(
        height=HEIGHT,
        title={"text": f"{label} layer attribution on relative depth<br><sup>profile Spearman "
                       f"{rho_text}; top-{cmp.top_k} overlap {cmp.top_overlap:.2f}; mean "
                       f"depth shift of LaTen's mapping {cmp.mean_depth_shift:.3f}</sup>"},
        xaxis={"title": {"text": "relative depth (layer + 0.5) / L"}, "range": [0, 1]},
        yaxis={"title": {"text": f"{label} layer score" + (" (normalised)" if normalise else "")}})
    legend_below(fig)
    return captioned(fig, _layer_caption(label, cmp, normalise))


def _linear_colours(z: np.ndarray, percentile: float) -> tuple[dict[str, Any], str, str]:
    """Raw scores, the range capped at the `percentile` of |score|. → (trace kwargs, colourbar
    title, the caption's sentence on colours)."""
    limit, capped = colour_limit(z, percentile)
    trace = {"z": finite_or_none(z), "zmin": -limit, "zmax": limit,
             "hovertemplate": "layer %{y}<br>neuron %{x}<br>score %{z:.6g}<extra></extra>"}
    if not capped:
        return trace, "score", "Colours are linear in the score."
    beyond = int((np.abs(z) > limit).sum())
    return (trace, f"score<br><sup>colours capped at ±{limit:.3g},<br>the {percentile:g}th "
                   "percentile of |score|</sup>",
            f"Colours are clipped at ±{limit:.3g} (the {percentile:g}th percentile of |score|): "
            f"the {beyond} cells beyond it, up to {np.nanmax(np.abs(z)):.3g}, take the end "
            "colours; hover shows exact scores.")


def _asinh_colours(z: np.ndarray) -> tuple[dict[str, Any], str, str]:
    """Colours asinh(score / s), ticks labelled with raw scores, hover with the raw score."""
    coloured, s, top = asinh_scale(z)
    tickvals, ticktext = asinh_ticks(s, top)
    trace = {"z": finite_or_none(coloured), "zmin": -top, "zmax": top,
             "customdata": finite_or_none(z),
             "hovertemplate": "layer %{y}<br>neuron %{x}<br>score %{customdata:.6g}<extra></extra>",
             "colorbar": {"tickvals": tickvals, "ticktext": ticktext}}
    return (trace, "score<br><sup>signed log scale</sup>",
            f"Colours use a signed log scale (asinh, linear within ±{s:.2g}, the median |score|), "
            f"so the many small scores and the few large ones (up to {s * np.sinh(top):.3g}) both "
            "show and nothing is clipped; the colourbar is labelled in raw scores and hover shows "
            "exact ones.")


def neuron_score_map(result: LocateResult, kind: str = "ffn", name: str = "",
                     percentile: float = 99.0, scale: str = "asinh") -> go.Figure:
    """Layer × neuron heatmap of one locate result's neuron scores (signed: centred at 0).

    Neuron scores are heavy-tailed (on the shipped tiny teacher's FFN: median |score| 0.0013, 99th
    percentile 0.083, largest 2.01), so a linear range set by the largest |score| leaves nearly
    every cell white, and even one capped at the 99th percentile leaves 85 % of cells within a
    tenth of it. `scale="asinh"` (default) colours asinh(score / median |score|) with the
    colourbar labelled in raw scores; `scale="linear"` caps a linear range at the `percentile` of
    |score| (cells beyond take the end colours). Hovering shows the exact score either way.
    """
    if scale not in SCALES:
        raise ValueError(f"unknown colour scale '{scale}'; choose one of {', '.join(SCALES)}")
    z = np.asarray(result.neuron_scores(kind), dtype=float)  # [L, width]
    trace, bar_title, colour_words = (_asinh_colours(z) if scale == "asinh"
                                      else _linear_colours(z, percentile))
    colorbar = {**trace.pop("colorbar", {}), "title": {"text": bar_title}}
    label = {"ffn": "FFN neuron", "attn": "attention neuron (head · d_head + j)"}.get(kind, kind)
    fig = go.Figure(go.Heatmap(x=list(range(z.shape[1])), y=list(range(z.shape[0])),
                               colorscale=DIVERGING, colorbar=colorbar, **trace))
    fig.update_layout(
        height=HEIGHT, autosize=True,
        title={"text": f"{label} attribution scores, layer × neuron" + (f" — {name}" if name else "")},
        xaxis={"title": {"text": label}}, yaxis={"title": {"text": "layer"}, "dtick": 1})
    what = KIND_LABEL.get(kind, kind)
    return captioned(fig, (
        f"How to read: each cell is one {what} neuron (column) in one layer (row); red means adding "
        "that neuron's output raises the answer token's log-probability, blue lowers it, white is "
        f"no effect. {colour_words}"))
