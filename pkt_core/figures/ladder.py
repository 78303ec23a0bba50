"""The scale ladder (pkt_core.experiments.ladder): similarity and transfer against the parameter ratio."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .. import paper
from .common import HEIGHT, MODULE_COLOURS, captioned, legend_below

CONTROL_SUFFIX = "@shuffled"  # a row from the shuffled teacher, as reproduce names it


def _transfers(ladder: Mapping[str, Any]) -> dict[str, str]:
    """The ladder's transfer rows (no controls) → their titles, as `pkt_core.experiments.ladder` lists them."""
    return {row: title for row, title in ladder.get("transfers", {}).items()
            if not row.endswith(CONTROL_SUFFIX)}


def _short(name: str) -> str:
    return name.replace("pkt-tiny-", "")


def _similarity_traces(fig: go.Figure, pairs: list[Mapping[str, Any]]) -> None:
    ratios = [p["param_ratio"] for p in pairs]
    labels = [f"{_short(p['teacher'])} → {_short(p['student'])}" for p in pairs]
    for module in pairs[0]["cka"]:
        fig.add_trace(go.Scatter(
            x=ratios, y=[p["cka"][module] for p in pairs], mode="markers", name=module,
            legendgroup=module, marker={"color": MODULE_COLOURS.get(module), "size": 9},
            text=labels, hovertemplate="%{text}<br>ratio %{x:.1f}×<br>CKA %{y:.3f}<extra>"
                                       + module + "</extra>"), row=1, col=1)
    mean = [float(np.mean(list(p["cka"].values()))) for p in pairs]
    order = np.argsort(ratios)
    fig.add_trace(go.Scatter(x=[ratios[i] for i in order], y=[mean[i] for i in order],
                             mode="lines", name="mean of modules", line={"color": "#444"}),
                  row=1, col=1)
    same = [(p, m) for p, m in zip(pairs, mean) if p["same_size"]]
    if same:  # the same-size sibling pair: its mean as a star, and said in words
        fig.add_trace(go.Scatter(x=[p["param_ratio"] for p, _ in same], y=[m for _, m in same],
                                 mode="markers", name="same-size sibling pair (mean)",
                                 marker={"symbol": "star", "size": 16, "color": "#444"}),
                      row=1, col=1)
        fig.add_annotation(x=np.log10(same[0][0]["param_ratio"]), y=same[0][1],
                           text="sibling (same size)", showarrow=True, arrowhead=2, ax=60,
                           ay=-30, row=1, col=1)


def _transfer_traces(fig: go.Figure, pairs: list[Mapping[str, Any]], task: str,
                     transfers: Mapping[str, str]) -> int:
    """Score change on `task` with its 95 % interval, per transfer and its control; returns how
    many pairs have shipped transfer numbers."""
    shown = [p for p in pairs if p.get("transfer", {}).get("rows")]
    for row, label in transfers.items():
        for control in (False, True):
            key = row + CONTROL_SUFFIX if control else row
            cells = [(p["param_ratio"], p["transfer"]["rows"].get(key, {}).get(task)) for p in shown]
            cells = [(x, c) for x, c in cells if c]
            if not cells:
                continue
            nudge = {(row, control): 0.94 + 0.04 * i for i, (row, control) in
                     enumerate((r, c) for r in transfers for c in (False, True))}[(row, control)]
            fig.add_trace(go.Scatter(  # nudged apart on x so a control never hides its transfer
                x=[x * nudge for x, _ in cells], y=[c["change"] for _, c in cells], mode="markers",
                name=f"{label} from {'the shuffled teacher' if control else 'the teacher'}",
                marker={"symbol": "circle-open" if control else "circle", "size": 10},
                error_y={"type": "data", "symmetric": False,
                         "array": [c["ci95"][1] - c["change"] for _, c in cells],
                         "arrayminus": [c["change"] - c["ci95"][0] for _, c in cells]}),
                row=1, col=2)
    fig.add_hline(y=0, line={"dash": "dot", "color": "#888"}, row=1, col=2)
    return len(shown)


def ladder_figure(ladder: Mapping[str, Any], task: str | None = None) -> go.Figure:
    """Left: mean CKA per module for every pair against the parameter ratio (log), the sibling
    pair starred. Right: transfer score changes with 95 % intervals where shipped."""
    pairs = sorted(ladder["pairs"], key=lambda p: p["param_ratio"])
    task = task or ladder.get("task", "facts")
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12, subplot_titles=(
        "representation similarity (linear CKA)", f"transfer: change in {task} score (95 % CI)"))
    _similarity_traces(fig, pairs)
    n_transfer = _transfer_traces(fig, pairs, task, _transfers(ladder))
    fig.update_xaxes(type="log", title_text="teacher params / student params")
    fig.update_yaxes(title_text="mean CKA", range=[0, 1], row=1, col=1)
    fig.update_yaxes(title_text="score change", row=1, col=2)
    fig.update_layout(height=HEIGHT + 60, title={"text": "The scale ladder: every pair of the "
                                                         "embedded family"})
    legend_below(fig, gap_px=100)  # log axes print minor tick labels: the title sits lower
    published = paper.SIMILARITY_MEANS
    mean_by = {f"{_short(p['teacher'])}→{_short(p['student'])}":
               float(np.mean(list(p["cka"].values()))) for p in pairs}
    quoted = "; ".join(f"{k} {v:.2f}" for k, v in mean_by.items())
    paper_text = (f" For {paper.PAIR} (about 1.9× the parameters) the paper's module means range "
                  f"{min(published.values()):.2f}–{max(published.values()):.2f}, its metric "
                  f"unspecified; it compared no other pair.")
    return captioned(fig, (
        "How to read: each point is one teacher → student pair of the embedded family, placed by "
        "how many times more parameters the teacher has (log scale; the star is the same-size "
        "sibling, trained on the same tokens from another random start); left, how alike their "
        f"layers' outputs are (1 = the same up to rotation and scale, 0 = unrelated): {quoted}; "
        "right, what a transfer changed on the test set, solid from the teacher and open from its "
        f"shuffled control ({n_transfer} pair(s) with shipped transfer runs)." + paper_text))
