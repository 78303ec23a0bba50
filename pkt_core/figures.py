"""Plotly figures for the analysis; the UI shows them, the CLI saves them as standalone HTML.

Conventions, so every figure reads the same way: rows are student layers and columns teacher
layers; a signed quantity gets a diverging colour scale centred at 0, CKA a sequential one on
[0, 1]; hovering shows the exact value; titles name the metric and the inputs; heights are fixed.
No gradio here: figures are plain `go.Figure`s.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from .analyse import ParametricResult, SimilarityResult, compare_layer_attribution
from .locate import LocateResult
from .models.architectures import NEURON_MODULES, PROJECTIONS
from .paper import SIMILARITY_MEANS, SIMILARITY_SOURCE

HEIGHT = 420  # px, per row of subplots
SEQUENTIAL = "Viridis"  # CKA: [0, 1]
DIVERGING = "RdBu_r"  # signed: blue < 0 < red, centred at 0
MODULE_COLOURS = dict(zip(PROJECTIONS, qualitative.D3))
METHOD_DASH = {"pissa": "solid", "seeking": "dash"}
METHOD_LABEL = {"pissa": "PiSSA (student's own top-r)", "seeking": "Seeking-style (teacher sub-block)"}

def _similarity(result: SimilarityResult | Mapping[str, Any]) -> SimilarityResult:
    return result if isinstance(result, SimilarityResult) else SimilarityResult.from_json(result)


def _parametric(result: ParametricResult | Mapping[str, Any]) -> ParametricResult:
    return result if isinstance(result, ParametricResult) else ParametricResult.from_json(result)


def _colours(result: SimilarityResult) -> dict[str, Any]:
    if result.metric == "cka":
        return {"colorscale": SEQUENTIAL, "zmin": 0.0, "zmax": 1.0}
    return {"colorscale": DIVERGING, "zmid": 0.0}


def _pair_text(result: SimilarityResult) -> str:
    names = [f"{n} ({role})" for n, role in ((result.teacher, "teacher"), (result.student, "student"))
             if n]
    return " vs ".join(names)


def _heatmap(result: SimilarityResult, module: str, **colour: Any) -> go.Heatmap:
    z = np.asarray(result.matrices[module], dtype=float)
    return go.Heatmap(
        z=np.where(np.isnan(z), None, z).tolist(), x=list(range(z.shape[1])),
        y=list(range(z.shape[0])), name=module,
        hovertemplate=(f"teacher layer %{{x}}<br>student layer %{{y}}<br>{result.label} "
                       f"= %{{z:.6f}}<extra>{module}</extra>"), **colour)


def similarity_heatmap(result: SimilarityResult | Mapping[str, Any], module: str) -> go.Figure:
    """One module's student-layer × teacher-layer heatmap."""
    result = _similarity(result)
    fig = go.Figure(_heatmap(result, module, **_colours(result),
                             colorbar={"title": {"text": result.label}}))
    mean, std = result.mean[module], result.std[module]
    fig.update_layout(
        title={"text": f"{result.label} of {module} outputs (mean {mean:.3f} ± {std:.3f})<br>"
                       f"<sup>{_pair_text(result)}; inputs: {result.inputs_description}</sup>"},
        height=HEIGHT, xaxis={"title": {"text": "teacher layer"}, "dtick": 1},
        yaxis={"title": {"text": "student layer"}, "dtick": 1})
    return fig


def similarity_heatmaps(result: SimilarityResult | Mapping[str, Any]) -> go.Figure:
    """All modules in a grid (two per row) sharing one colour axis, so colours compare."""
    result = _similarity(result)
    modules = list(result.matrices)
    cols = 1 if len(modules) == 1 else 2
    rows = math.ceil(len(modules) / cols)
    fig = make_subplots(rows=rows, cols=cols, horizontal_spacing=0.12, vertical_spacing=0.18,
                        subplot_titles=[f"{m} (mean {result.mean[m]:.3f} ± {result.std[m]:.3f})"
                                        for m in modules])
    for i, module in enumerate(modules):
        fig.add_trace(_heatmap(result, module, coloraxis="coloraxis"), row=i // cols + 1,
                      col=i % cols + 1)
    colours = _colours(result)
    axis = {"colorscale": colours["colorscale"], "colorbar": {"title": {"text": result.label}}}
    if "zmid" in colours:
        axis["cmid"] = 0.0
    else:
        axis.update(cmin=colours["zmin"], cmax=colours["zmax"])
    fig.update_layout(
        coloraxis=axis, height=HEIGHT * rows,
        title={"text": f"{result.label} per module, student layer × teacher layer<br>"
                       f"<sup>{_pair_text(result)}; inputs: {result.inputs_description}</sup>"})
    fig.update_xaxes(title_text="teacher layer", dtick=1)
    fig.update_yaxes(title_text="student layer", dtick=1)
    return fig


def parametric_curves(result: ParametricResult | Mapping[str, Any]) -> go.Figure:
    """Per student layer: cos(BA, W) (left) and cos(BA, W − BA) (right), per method and module."""
    result = _parametric(result)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=("cos(BA, W): vs the student's original W",
                                        "cos(BA, W − BA): vs the remainder"))
    for method, per_module in result.curves.items():
        for module, curves in per_module.items():
            for col, measure in ((1, "vs_original"), (2, "vs_remainder")):
                y = [None if v is None or (isinstance(v, float) and math.isnan(v)) else v
                     for v in curves[measure]]
                fig.add_trace(go.Scatter(
                    x=list(range(len(y))), y=y, mode="lines+markers",
                    name=f"{method} {module}", legendgroup=f"{method} {module}",
                    showlegend=col == 1, customdata=result.layer_map,
                    line={"color": MODULE_COLOURS.get(module), "dash": METHOD_DASH.get(method)},
                    hovertemplate=(f"{METHOD_LABEL.get(method, method)} · {module}<br>student "
                                   f"layer %{{x}}" + (" ← teacher layer %{customdata}"
                                                      if method == "seeking" else "")
                                   + f"<br>{measure.replace('_', ' ')}: %{{y:.6f}}<extra></extra>")),
                    row=1, col=col)
    for col in (1, 2):
        fig.add_hline(y=0, line={"color": "grey", "width": 1, "dash": "dot"}, row=1, col=col)
    names = " → ".join(n for n in (result.teacher, result.student) if n)
    fig.update_layout(
        height=HEIGHT,
        title={"text": f"Parametric similarity of rank-{result.rank} LoRA inits (cosine of "
                       f"flattened matrices)<br><sup>{names}; Seeking-style teacher layers: "
                       f"{result.layer_map_rule} {result.layer_map}</sup>"})
    fig.update_xaxes(title_text="student layer", dtick=1)
    fig.update_yaxes(title_text="cosine", zeroline=True)
    return fig


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
    label = {"ffn": "FFN", "attn": "attention"}.get(kind, kind)
    fig.update_layout(
        height=HEIGHT,
        title={"text": f"{label} layer attribution on relative depth<br><sup>profile Spearman "
                       f"{rho_text}; top-{cmp.top_k} overlap {cmp.top_overlap:.2f}; mean "
                       f"depth shift of LaTen's mapping {cmp.mean_depth_shift:.3f}</sup>"},
        xaxis={"title": {"text": "relative depth (layer + 0.5) / L"}, "range": [0, 1]},
        yaxis={"title": {"text": f"{label} layer score" + (" (normalised)" if normalise else "")}})
    return fig


def _colour_limit(z: np.ndarray, percentile: float) -> tuple[float, bool]:
    """A symmetric colour limit for signed values: the `percentile` of |z| (the full range when that
    is 0). → (limit, whether some values lie beyond it and so get the end colours)."""
    mags = np.abs(z[np.isfinite(z)])
    if not mags.size or not mags.max() > 0:
        return 1.0, False  # all zero (or empty): any range will do
    limit = float(np.percentile(mags, percentile))
    if limit <= 0:  # most values are exactly 0: the full range, or nothing would show
        limit = float(mags.max())
    return limit, float(mags.max()) > limit


def neuron_score_map(result: LocateResult, kind: str = "ffn", name: str = "",
                     percentile: float = 99.0) -> go.Figure:
    """Layer × neuron heatmap of one locate result's neuron scores (signed: centred at 0).

    A few neurons score far above the rest, so a colour range set by the largest |score| leaves
    every other cell white; the range is capped at the `percentile` of |score| instead (cells
    beyond it take the end colours, and the colourbar says so). Hovering shows the exact score.
    """
    z = np.asarray(result.neuron_scores(kind), dtype=float)  # [L, width]
    limit, capped = _colour_limit(z, percentile)
    bar_title = (f"score<br><sup>colours capped at ±{limit:.3g},<br>the {percentile:g}th percentile "
                 "of |score|</sup>" if capped else "score")
    label = {"ffn": "FFN neuron", "attn": "attention neuron (head · d_head + j)"}.get(kind, kind)
    fig = go.Figure(go.Heatmap(
        z=z.tolist(), x=list(range(z.shape[1])), y=list(range(z.shape[0])), zmin=-limit, zmax=limit,
        colorscale=DIVERGING, colorbar={"title": {"text": bar_title}},
        hovertemplate="layer %{y}<br>neuron %{x}<br>score %{z:.6g}<extra></extra>"))
    fig.update_layout(
        height=HEIGHT,
        title={"text": f"{label} attribution scores, layer × neuron" + (f" — {name}" if name else "")},
        xaxis={"title": {"text": label}}, yaxis={"title": {"text": "layer"}, "dtick": 1})
    return fig


def published_reference_table(result: SimilarityResult | Mapping[str, Any] | None = None
                               ) -> list[dict[str, Any]]:
    """Rows (module, published mean, ours) to show our means beside the paper's."""
    ours = _similarity(result) if result is not None else None
    rows = []
    for module, published in SIMILARITY_MEANS.items():
        row: dict[str, Any] = {"module": module, "published_mean": published,
                               "published_source": SIMILARITY_SOURCE}
        if ours is not None and module in ours.matrices:
            row.update(our_mean=ours.mean[module], our_std=ours.std[module], our_metric=ours.label)
        rows.append(row)
    return rows


def reference_table_figure(result: SimilarityResult | Mapping[str, Any] | None = None) -> go.Figure:
    rows = published_reference_table(result)
    header = ["module", "published (Llama-2 13B vs 7B)"]
    cells = [[r["module"] for r in rows], [f"{r['published_mean']:.3f}" for r in rows]]
    if result is not None:
        header.append(f"ours ({rows[0].get('our_metric', '')})")
        cells.append([f"{r['our_mean']:.3f} ± {r['our_std']:.3f}" if "our_mean" in r else "—"
                      for r in rows])
    fig = go.Figure(go.Table(header={"values": header}, cells={"values": cells}))
    fig.update_layout(height=HEIGHT, title={"text": f"Mean similarity per module<br><sup>"
                                                    f"{SIMILARITY_SOURCE}</sup>"})
    return fig


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "to_json") and callable(obj.to_json):
        obj = obj.to_json()
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def save_figure(fig: go.Figure, path_html: str | Path, data: Any = None) -> tuple[Path, Path | None]:
    """Write `x.html` (plotly.js embedded, so it opens offline) and, given data, `x.json` beside it.

    `data` may be a JSON-ready dict or a result object with `.to_json()`. Returns both paths.
    """
    path = Path(path_html)
    if path.suffix.lower() != ".html":
        path = path.with_name(path.name + ".html")
    path.parent.mkdir(parents=True, exist_ok=True)
    # A fixed div id makes the file a function of the figure alone: the same download prepared
    # twice is the same bytes, which Gradio's content-hashed cache stores once (a random id
    # made every click of "Prepare downloads" add another 5 MB copy of plotly.js).
    fig.write_html(path, include_plotlyjs=True, full_html=True, div_id=path.stem.replace(".", "-"))
    if data is None:
        return path, None
    json_path = path.with_suffix(".json")
    json_path.write_text(json.dumps(_jsonable(data), indent=2, allow_nan=False), encoding="utf-8")
    return path, json_path


# ---- LaTen: does the hypernetwork bring teacher parameters into the student's space? ----------
ALIGN_MODULES = NEURON_MODULES
ALIGN_METHODS = {"hypernetwork": "trained hypernetwork", "naive": "naive sub-block (no learning)"}


def alignment_heatmaps(alignment: Mapping[str, Any]) -> go.Figure:
    """Student layer × teacher layer mean cosine between the student's located rows/columns and the
    teacher's, mapped by the trained hypernetwork (top row) and by the naive map (bottom row)."""
    matrices = alignment["matrices"]
    titles = [f"{m} — {ALIGN_METHODS[k]}" for k in ALIGN_METHODS for m in ALIGN_MODULES]
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
                      title={"text": "LaTen parameter-space alignment: cosine of the student's located "
                                     "rows/columns with the teacher's, mapped into the student's space"})
    fig.update_xaxes(title_text="teacher layer", dtick=1)
    fig.update_yaxes(title_text="student layer", dtick=1)
    return fig


def alignment_curves(alignment: Mapping[str, Any]) -> go.Figure:
    """Per LaTen step: the alignment cosine on the layer pairs LaTen used, per module and method."""
    steps = alignment["per_step"]
    fig = go.Figure()
    for module in ALIGN_MODULES:
        for method, dash in (("hypernetwork", "solid"), ("naive", "dot")):
            y = [row[module][method] for row in steps]
            fig.add_trace(go.Scatter(
                x=list(range(1, len(y) + 1)), y=y, mode="lines+markers",
                name=f"{module} · {ALIGN_METHODS[method]}",
                line={"color": MODULE_COLOURS.get(module), "dash": dash},
                hovertemplate=f"{module}, {ALIGN_METHODS[method]}<br>step %{{x}}<br>"
                              "mean cosine %{y:.6f}<extra></extra>"))
    fig.add_hline(y=0, line={"color": "grey", "width": 1, "dash": "dot"})
    fig.update_layout(height=HEIGHT, title={"text": "Alignment on the layer pairs LaTen used, per step"},
                      xaxis={"title": {"text": "LaTen step"}, "dtick": 1},
                      yaxis={"title": {"text": "mean cosine (student vs mapped teacher)"}})
    return fig


# ---- runs: training loss and the results table as bars ------------------------------------------
LIVE_HEIGHT = 340  # px, the Transfer tab's live plots


def loss_figure(rows: Sequence[Mapping[str, Any]], title: str = "") -> go.Figure:
    """The loss curve of a run's log rows (LaTen: LM loss per example; LoRA: batch loss)."""
    steps = [r for r in rows if "step" in r and ("loss" in r or "lm_loss" in r)]
    key, name = ("lm_loss", "LM loss (mean per example)") if steps and "lm_loss" in steps[0] \
        else ("loss", "training loss")
    fig = go.Figure()
    if steps:
        fig.add_trace(go.Scatter(x=[r["step"] for r in steps], y=[r[key] for r in steps],
                                 mode="lines+markers", name=name,
                                 hovertemplate=f"step %{{x}}<br>{name.split(' (')[0]} %{{y:.4f}}"
                                               "<extra></extra>"))
    fig.update_layout(height=LIVE_HEIGHT, title={"text": title or "Training loss"},
                      xaxis={"title": {"text": "step"}, **({"dtick": 1} if len(steps) <= 25 else {})},
                      yaxis={"title": {"text": "loss (answer tokens)"}},
                      margin={"t": 60, "b": 50, "l": 60, "r": 20}, showlegend=True)
    if not steps:
        fig.add_annotation(text="waiting for the first step…", showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper")
    return fig


def runs_chart(tasks: Sequence[str], series: Mapping[str, Mapping[str, Sequence[float]]]) -> go.Figure:
    """Bars in the shape of the research's table: per task, one bar per row of `series` (row →
    task → scores over runs), at the mean, with whiskers from the lowest to the highest run."""
    fig = go.Figure()
    for name, per_task in series.items():
        values = [list(per_task.get(t, ())) for t in tasks]
        means = [sum(v) / len(v) if v else None for v in values]
        fig.add_trace(go.Bar(
            name=name, x=list(tasks), y=means, customdata=[len(v) for v in values],
            error_y={"type": "data", "symmetric": False,
                     "array": [max(v) - m if v else 0 for v, m in zip(values, means)],
                     "arrayminus": [m - min(v) if v else 0 for v, m in zip(values, means)]},
            hovertemplate=f"{name}<br>%{{x}}: %{{y:.3f}} (%{{customdata}} runs)<extra></extra>"))
    fig.update_layout(barmode="group", height=380,
                      title={"text": "Test scores by task — the research's table at the lab's scale"},
                      xaxis={"title": {"text": "task"}},
                      yaxis={"title": {"text": "test score"}, "range": [0, 1]},
                      margin={"t": 60, "b": 50, "l": 60, "r": 20})
    if not series or not tasks:
        fig.add_annotation(text="no finished runs yet", showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper")
    return fig


def incompatibility_curve_figure(curve: Mapping[str, Any]) -> go.Figure:
    """Score change against update size (log x), the real teacher beside its shuffled control,
    with 95 % intervals: where the two overlap, the teacher's parameters added nothing."""
    colours = {"teacher": "#d62728", "shuffled": "#7f7f7f", "seeking": "#1f77b4",
               "seeking_shuffled": "#9ecae1"}
    names = {"teacher": f"LaTen from the teacher ({curve.get('teacher', '')})",
             "shuffled": "LaTen from the shuffled teacher (control)",
             "seeking": "Seeking from the teacher", "seeking_shuffled": "Seeking from the shuffled teacher"}
    fig = go.Figure()
    for series, points in curve.get("series", {}).items():
        x = [p["relative_update"] for p in points]
        y = [p["change"] for p in points]
        knob = "lr" if points and "lr" in points[0] else "epochs"
        fig.add_trace(go.Scatter(
            x=x, y=y, mode="lines+markers", name=names.get(series, series),
            line={"color": colours.get(series), "dash": "dot" if "shuffled" in series else "solid"},
            error_y={"type": "data", "symmetric": False,
                     "array": [p["ci95"][1] - p["change"] for p in points],
                     "arrayminus": [p["change"] - p["ci95"][0] for p in points]},
            customdata=[[p[knob], p["ci95"][0], p["ci95"][1]] for p in points],
            hovertemplate=(f"‖ΔW‖/‖W‖ %{{x:.2g}} ({knob} %{{customdata[0]:.2g}})<br>change "
                           "%{y:+.3f} [%{customdata[1]:+.3f}, %{customdata[2]:+.3f}]<extra></extra>")))
    fig.add_hline(y=0, line={"color": "black", "width": 1, "dash": "dot"})
    seeds = len(curve.get("seeds", []))
    fig.update_layout(
        height=HEIGHT, title={"text": "The incompatibility curve: a transfer's effect against the "
                              f"size of its update<br><sup>{curve.get('task')} · {seeds} seeds × "
                              f"{curve.get('eval_limit')} test items · 95 % paired intervals</sup>"},
        xaxis={"title": {"text": "relative update ‖ΔW‖/‖W‖ (log)"}, "type": "log"},
        yaxis={"title": {"text": "score change against the untouched student"}},
        legend={"orientation": "h", "y": -0.25}, margin={"t": 80, "b": 90, "l": 70, "r": 20})
    return fig


def option_likelihoods_figure(options: Sequence[str], per_model: Mapping[str, Sequence[float]],
                              correct: int) -> go.Figure:
    """Each model's summed log-likelihood of every option after the prompt (how a multiple-choice
    item is scored: the highest bar is the model's pick); the reference option is marked."""
    labels = [f"✓ {o}" if i == correct else o for i, o in enumerate(options)]
    fig = go.Figure()
    for model, logprobs in per_model.items():
        best = max(range(len(logprobs)), key=lambda k: logprobs[k])
        fig.add_trace(go.Bar(name=model, x=labels, y=list(logprobs),
                             marker={"line": {"width": [3 if k == best else 0 for k in range(len(logprobs))],
                                              "color": "black"}},
                             hovertemplate=f"{model}<br>%{{x}}: log p = %{{y:.2f}}<extra></extra>"))
    fig.update_layout(barmode="group", height=LIVE_HEIGHT,
                      title={"text": "How this item is scored: log-likelihood of each option<br><sup>"
                                     "each model picks its highest bar (outlined); ✓ = the reference"
                                     "</sup>"},
                      yaxis={"title": {"text": "log p(option | prompt)"}},
                      margin={"t": 70, "b": 50, "l": 60, "r": 20})
    return fig
