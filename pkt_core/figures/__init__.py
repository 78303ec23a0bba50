"""Plotly figures for the analysis; the UI shows them, the CLI saves them as standalone HTML.

Conventions, so every figure reads the same way: rows are student layers and columns teacher
layers; a signed quantity gets a diverging colour scale centred at 0, CKA a sequential one on
[0, 1], heavy-tailed scores a signed log (asinh) scale labelled in raw values; hovering shows the
exact value; titles name the metric and the inputs; heights are fixed, widths never (a figure
takes its container's width; legends sit horizontally below the plot). Every builder stores a
"how to read this" caption in the figure: `caption_of(fig)` returns it for the page to show
under the plot. No gradio here: figures are plain `go.Figure`s.

A package of modules by subject; import everything from `pkt_core.figures`.
"""
from __future__ import annotations

from .alignment import ALIGN_METHODS, ALIGN_MODULES, alignment_curves, alignment_heatmaps
from .attribution import layer_score_curves, neuron_score_map
from .common import (DIVERGING, HEIGHT, LIVE_HEIGHT, METHOD_DASH, METHOD_LABEL, MODULE_COLOURS,
                     SEQUENTIAL, caption_of)
from .ladder import ladder_figure
from .runs import incompatibility_curve_figure, loss_figure, option_likelihoods_figure, runs_chart
from .save import save_figure
from .similarity import (inputs_text, parametric_curves, published_reference_table,
                         reference_table_figure, similarity_heatmap, similarity_heatmaps)

__all__ = [
    "ALIGN_METHODS", "ALIGN_MODULES", "DIVERGING", "HEIGHT", "LIVE_HEIGHT", "METHOD_DASH",
    "METHOD_LABEL", "MODULE_COLOURS", "SEQUENTIAL", "alignment_curves", "alignment_heatmaps",
    "caption_of", "incompatibility_curve_figure", "ladder_figure", "inputs_text", "layer_score_curves", "loss_figure",
    "neuron_score_map", "option_likelihoods_figure", "parametric_curves",
    "published_reference_table", "reference_table_figure", "runs_chart", "save_figure",
    "similarity_heatmap", "similarity_heatmaps",
]
