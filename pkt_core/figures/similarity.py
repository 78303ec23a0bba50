"""Representation similarity (student layer × teacher layer heatmaps, the table beside the paper's
means) and parametric similarity (cosines of LoRA inits with the student's weights)."""
from __future__ import annotations

import math
import re
from typing import Any, Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..analyse import ParametricResult, SimilarityResult
from ..paper import PAIR, PARAMETRIC_COSINES, SIMILARITY_MEANS, SIMILARITY_SOURCE
from .common import (DIVERGING, HEIGHT, METHOD_LABEL, METHOD_SHORT, MODULE_COLOURS, SEQUENTIAL,
                     captioned, finite_or_none, fmt_signed, legend_below)


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


def inputs_text(result: SimilarityResult) -> str:
    """The inputs with the number of texts actually used. The description counts the texts given
    ("24 facts/test examples; 768 tokens"); a token cap may leave some out (`n_texts`), and the
    title must not claim the ones left out: → "21 of 24 facts/test examples; 768 tokens"."""
    described = result.inputs_description
    given = re.match(r"(\d+) ", described)
    if result.n_texts and given and int(given[1]) != result.n_texts:
        return f"{result.n_texts} of {described}"
    capped = next((m for note in result.notes if (m := re.search(r"\d+ of \d+ texts used", note))),
                  None)
    return f"{described} ({capped[0]})" if capped and not given else described


def _heatmap(result: SimilarityResult, module: str, **colour: Any) -> go.Heatmap:
    z = np.asarray(result.matrices[module], dtype=float)
    return go.Heatmap(
        z=finite_or_none(z), x=list(range(z.shape[1])), y=list(range(z.shape[0])), name=module,
        hovertemplate=(f"teacher layer %{{x}}<br>student layer %{{y}}<br>{result.label} "
                       f"= %{{z:.6f}}<extra>{module}</extra>"), **colour)


def _similarity_caption(result: SimilarityResult, modules: list[str]) -> str:
    if result.metric == "cka":
        scale = "linear CKA, from 0 (dark: unrelated) to 1 (yellow: the same up to rotation and scale)"
    else:
        scale = "a signed cosine from −1 (blue) through 0 (white: unrelated) to 1 (red)"
    what = "each panel is one module, " if len(modules) > 1 else ""
    ours = ", ".join(f"{m} {result.mean[m]:.3f}" for m in modules)
    paper = ", ".join(f"{m} {SIMILARITY_MEANS[m]:.3f}" for m in modules if m in SIMILARITY_MEANS)
    return (f"How to read: {what}rows are student layers, columns teacher layers, and each cell is "
            f"{scale} between the two layers' outputs on the same inputs ({inputs_text(result)}); a diagonal "
            "of high values would mean layers at matching depth compute alike. "
            f"For {PAIR} the paper found low similarity with no clear diagonal"
            + (f" (its means: {paper}; metric unspecified)" if paper else "")
            + f"; here the mean{' is' if len(modules) == 1 else 's are'} {ours}.")


def similarity_heatmap(result: SimilarityResult | Mapping[str, Any], module: str) -> go.Figure:
    """One module's student-layer × teacher-layer heatmap."""
    result = _similarity(result)
    fig = go.Figure(_heatmap(result, module, **_colours(result),
                             colorbar={"title": {"text": result.label}}))
    mean, std = result.mean[module], result.std[module]
    fig.update_layout(
        title={"text": f"{result.label} of {module} outputs (mean {mean:.3f} ± {std:.3f})<br>"
                       f"<sup>{_pair_text(result)}; inputs: {inputs_text(result)}</sup>"},
        height=HEIGHT, autosize=True, xaxis={"title": {"text": "teacher layer"}, "dtick": 1},
        yaxis={"title": {"text": "student layer"}, "dtick": 1})
    return captioned(fig, _similarity_caption(result, [module]))


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
        coloraxis=axis, height=HEIGHT * rows, autosize=True,
        title={"text": f"{result.label} per module, student layer × teacher layer<br>"
                       f"<sup>{_pair_text(result)}; inputs: {inputs_text(result)}</sup>"})
    fig.update_xaxes(title_text="teacher layer", dtick=1)
    fig.update_yaxes(title_text="student layer", dtick=1)
    return captioned(fig, _similarity_caption(result, modules))


# ---- parametric similarity -----------------------------------------------------------------------
MEASURES = (("vs_original", "cos(BA, W)"), ("vs_remainder", "cos(BA, W − BA)"))


def _paper_cosines(method: str) -> list[str]:
    """The paper's words for (vs W, vs W − BA), e.g. ["≈ 0.15", "≈ 0"]; [] when it has none."""
    words = PARAMETRIC_COSINES.get(method, "").split(" · ")
    return words if len(words) == len(MEASURES) else []


def _paper_value(words: str) -> float | None:
    found = re.search(r"[−-]?\d+(\.\d+)?", words)
    return float(found[0].replace("−", "-")) if found else None


def _parametric_caption(result: ParametricResult) -> str:
    summary = result.summary()
    ours, paper = [], []
    for method in result.curves:
        means = [float(np.nanmean([v[k] for v in summary[method].values()]))
                 if summary[method] else math.nan for k, _ in MEASURES]
        ours.append(f"{METHOD_SHORT.get(method, method)} {' · '.join(map(fmt_signed, means))}")
        if _paper_cosines(method):
            paper.append(f"{METHOD_SHORT.get(method, method)} {' · '.join(_paper_cosines(method))}")
    return (f"How to read: rows are the two ways to build a rank-{result.rank} LoRA piece BA, x is "
            "the student layer, y the cosine of BA with the student's own W (left) or with the "
            "remainder W − BA (right), one line per kind of weight matrix; near 0 means the piece "
            "shares nothing with what the student already has. "
            + (f"For {PAIR} the paper reports {', '.join(paper)} (vs W · vs W − BA); " if paper
               else "") + f"here, averaged over layers and matrices: {', '.join(ours)}.")


def _parametric_trace(result: ParametricResult, method: str, module: str, measure: str,
                      shown: set[str]) -> go.Scatter:
    y = [None if v is None or (isinstance(v, float) and math.isnan(v)) else v
         for v in result.curves[method][module][measure]]
    first = module not in shown
    shown.add(module)
    return go.Scatter(
        x=list(range(len(y))), y=y, mode="lines+markers", name=module, legendgroup=module,
        showlegend=first, customdata=result.layer_map, line={"color": MODULE_COLOURS.get(module)},
        hovertemplate=(f"{METHOD_LABEL.get(method, method)} · {module}<br>student layer %{{x}}"
                       + (" ← teacher layer %{customdata}" if method == "teacher_piece" else "")
                       + f"<br>{measure.replace('_', ' ')}: %{{y:.6f}}<extra></extra>"))


def parametric_curves(result: ParametricResult | Mapping[str, Any]) -> go.Figure:
    """Per student layer: cos(BA, W) (left) and cos(BA, W − BA) (right), one row per method, one
    line (and one legend entry, shared by all panels) per module; all panels share the y axis."""
    result = _parametric(result)
    methods = list(result.curves) or ["own_top_r"]
    titles = []
    for method in methods:
        words = _paper_cosines(method) or [""] * len(MEASURES)
        titles += [f"{METHOD_SHORT.get(method, method)}: {label}" + (f" (paper {w})" if w else "")
                   for (_, label), w in zip(MEASURES, words)]
    fig = make_subplots(rows=len(methods), cols=2, shared_yaxes="all", horizontal_spacing=0.08,
                        vertical_spacing=0.16, subplot_titles=titles)
    shown: set[str] = set()
    for row, method in enumerate(methods, start=1):
        words = _paper_cosines(method)
        for col, (measure, _) in enumerate(MEASURES, start=1):
            for module in result.curves.get(method, {}):
                fig.add_trace(_parametric_trace(result, method, module, measure, shown),
                              row=row, col=col)
            fig.add_hline(y=0, line={"color": "grey", "width": 1, "dash": "dot"}, row=row, col=col)
            value = _paper_value(words[col - 1]) if words else None
            if value:  # the paper's value, where it is not the zero line already drawn
                fig.add_hline(y=value, line={"color": "black", "width": 1, "dash": "dash"},
                              annotation_text="paper", annotation_position="top left",
                              row=row, col=col)
    names = " → ".join(n for n in (result.teacher, result.student) if n)
    fig.update_layout(
        height=HEIGHT * len(methods),
        title={"text": f"Parametric similarity of rank-{result.rank} LoRA inits (cosine of "
                       f"flattened matrices)<br><sup>{names}; Seeking-style teacher layers: "
                       f"{result.layer_map_rule} {result.layer_map}</sup>"})
    fig.update_xaxes(title_text="student layer", dtick=1)
    fig.update_yaxes(title_text="cosine", zeroline=True, col=1)
    fig.update_annotations(font_size=13)  # subplot titles that still fit side by side at ~700 px
    legend_below(fig)
    return captioned(fig, _parametric_caption(result))


# ---- the paper's means beside ours ---------------------------------------------------------------
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
    """The paper's mean similarity per module, beside ours when a result is given."""
    ours = _similarity(result) if result is not None else None
    rows = published_reference_table(ours)
    header = ["module", "published (Llama-2 13B vs 7B)"]
    cells = [[r["module"] for r in rows], [f"{r['published_mean']:.3f}" for r in rows]]
    if ours is not None:
        header.append(f"ours ({ours.label})")
        cells.append([f"{r['our_mean']:.3f} ± {r['our_std']:.3f}" if "our_mean" in r else "—"
                      for r in rows])
    fig = go.Figure(go.Table(header={"values": header}, cells={"values": cells}))
    fig.update_layout(height=HEIGHT, autosize=True,
                      title={"text": f"Mean similarity per module<br><sup>{SIMILARITY_SOURCE}</sup>"})
    beside = (f" beside ours ({ours.label} on {inputs_text(ours)}, mean ± std over layer pairs)"
              if ours is not None else "")
    return captioned(fig, (
        f"How to read: each row is one module; the paper's mean layer-to-layer similarity for "
        f"{PAIR}{beside}. The paper does not say which metric it used and its values go negative, "
        "so compare which modules rank higher, not the digits."))
