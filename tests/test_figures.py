"""Figure builders: labelled axes, centred colour scales, fixed heights, hover values, offline HTML."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from pkt_core.analyse import SimilarityResult, compare_layer_attribution, parametric_similarity
from pkt_core.figures import (HEIGHT, caption_of, layer_score_curves, neuron_score_map,
                              parametric_curves, published_reference_table, reference_table_figure,
                              save_figure, similarity_heatmap, similarity_heatmaps)
from pkt_core.locate import LocateResult
from pkt_core.models.architectures import arch_for_config
from pkt_core.models.synthetic import random_model
from pkt_core.paper import SIMILARITY_MEANS as PUBLISHED_MEANS

MODULES = ("up_proj", "down_proj", "v_proj", "o_proj")


def _similarity(metric: str) -> SimilarityResult:
    rng = np.random.default_rng(0)
    low = 0.0 if metric == "cka" else -1.0
    matrices = {m: rng.uniform(low, 1.0, size=(2, 4)) for m in MODULES}
    return SimilarityResult(metric, False, matrices, "5 texts; 61 tokens", "teacher-x", "student-y")


def _locate(n_layers: int, width: int, seed: int) -> LocateResult:
    rng = np.random.default_rng(seed)
    return LocateResult.from_json({
        "target_token_ids": [5], "ffn_layer_scores": rng.normal(size=n_layers).tolist(),
        "attn_layer_scores": rng.normal(size=n_layers).tolist(),
        "ffn_neuron_scores": rng.normal(size=(n_layers, width)).tolist(),
        "attn_neuron_scores": rng.normal(size=(n_layers, width // 2)).tolist()})


def test_single_heatmap_cka_and_signed():
    fig = similarity_heatmap(_similarity("cka"), "up_proj")
    assert fig.layout.xaxis.title.text == "teacher layer"
    assert fig.layout.yaxis.title.text == "student layer"
    assert fig.layout.height == HEIGHT
    trace = fig.data[0]
    assert (trace.zmin, trace.zmax) == (0.0, 1.0) and trace.zmid is None
    assert "%{z" in trace.hovertemplate and "teacher layer" in trace.hovertemplate
    assert "linear CKA" in fig.layout.title.text and "5 texts" in fig.layout.title.text

    signed = similarity_heatmap(_similarity("cosine").to_json(), "o_proj")  # JSON dicts work too
    assert signed.data[0].zmid == 0 and signed.data[0].zmin is None
    assert "signed" in signed.layout.title.text


@pytest.mark.parametrize("metric", ["cka", "cosine"])
def test_heatmap_grid(metric):
    fig = similarity_heatmaps(_similarity(metric))
    assert len(fig.data) == 4 and fig.layout.height == 2 * HEIGHT
    if metric == "cka":
        assert (fig.layout.coloraxis.cmin, fig.layout.coloraxis.cmax) == (0.0, 1.0)
    else:
        assert fig.layout.coloraxis.cmid == 0
    for axis in ("xaxis", "xaxis2", "xaxis3", "xaxis4"):
        assert fig.layout[axis].title.text == "teacher layer"
    for axis in ("yaxis", "yaxis2", "yaxis3", "yaxis4"):
        assert fig.layout[axis].title.text == "student layer"
    assert all("%{z" in t.hovertemplate for t in fig.data)


def test_parametric_curves_from_tiny_models():
    def loaded(**kw):
        model = random_model(0, vocab=320, n_heads=4, **kw)
        return SimpleNamespace(model=model, tokenizer=None, spec=arch_for_config(model.config))
    result = parametric_similarity(loaded(n_layers=4, hidden=64, ffn=128),
                                   loaded(n_layers=2, hidden=32, ffn=64), rank=4)
    fig = parametric_curves(result)
    # one row of panels per method (PiSSA, Seeking-style), one column per measure
    assert len(fig.data) == 2 * 7 * 2 and fig.layout.height == 2 * HEIGHT
    assert fig.layout.xaxis.title.text == "student layer" and fig.layout.yaxis.title.text == "cosine"
    assert all("%{y" in t.hovertemplate for t in fig.data)
    assert "rank-4" in fig.layout.title.text
    assert len(parametric_curves(result.to_json()).data) == 28


def test_layer_score_curves_and_neuron_map():
    teacher, student = _locate(4, 16, 0), _locate(2, 8, 1)
    fig = layer_score_curves(teacher, student, kind="attn", normalise=True)
    assert fig.layout.height == HEIGHT and tuple(fig.layout.xaxis.range) == (0, 1)
    assert "relative depth" in fig.layout.xaxis.title.text
    assert [t.name for t in fig.data][:2] == ["teacher", "student"]
    assert all(t.hovertemplate for t in fig.data)
    assert len(fig.data[2].x) == 2  # the teacher layers LaTen keeps (L_S of them)
    kept = [p.teacher_layer for p in compare_layer_attribution(teacher, student, "attn").pairs]
    t_attn, s_attn = teacher.layer_scores("attn"), student.layer_scores("attn")
    np.testing.assert_allclose(fig.data[2].y, t_attn[kept] / np.abs(t_attn).max())  # on the normalised curve
    np.testing.assert_allclose(fig.data[1].y, s_attn / np.abs(s_attn).max())
    raw = layer_score_curves(teacher, student)
    np.testing.assert_allclose(raw.data[0].y, teacher.ffn_layer_scores)
    assert "FFN" in raw.layout.title.text and "Spearman" in raw.layout.title.text

    nmap = neuron_score_map(teacher, "ffn", name="teacher-x")
    heat = nmap.data[0]
    assert heat.zmin == -heat.zmax and heat.zmax > 0 and np.shape(heat.z) == (4, 16)  # centred at 0
    assert nmap.layout.yaxis.title.text == "layer" and "neuron" in nmap.layout.xaxis.title.text
    # colours are asinh(score / s); hover reads the raw score from customdata
    assert "%{customdata" in heat.hovertemplate and nmap.layout.height == HEIGHT
    np.testing.assert_allclose(heat.customdata, teacher.ffn_neuron_scores)
    assert "teacher-x" in nmap.layout.title.text
    assert np.shape(neuron_score_map(teacher, "attn").data[0].z) == (4, 8)


def test_neuron_map_colours_are_not_set_by_one_outlier():
    """The linear scale (an option since the asinh scale became the default) caps at a percentile."""
    result = _locate(4, 50, 2)
    result.ffn_neuron_scores[2, 7] = 1000.0  # one neuron far above the ~N(0, 1) rest
    fig = neuron_score_map(result, scale="linear")
    heat = fig.data[0]
    limit = np.percentile(np.abs(result.ffn_neuron_scores), 99)
    assert heat.zmax == pytest.approx(limit) and heat.zmin == pytest.approx(-limit) and heat.zmax < 10
    assert "99th percentile" in heat.colorbar.title.text and f"{limit:.3g}" in heat.colorbar.title.text
    assert heat.z[2][7] == 1000.0  # the value itself is kept: hover shows it exactly
    caption = caption_of(fig)  # the clipped case says so, with the numbers
    assert "clipped at ±" in caption and f"{limit:.3g}" in caption and "99th percentile" in caption
    assert "1e+03" in caption  # the largest value, beyond the range
    full = neuron_score_map(result, percentile=100, scale="linear")
    assert full.data[0].zmax == 1000.0 and "clipped" not in caption_of(full)
    result.ffn_neuron_scores[:] = 0.0  # nothing to scale: a valid range, no claim of capping
    flat = neuron_score_map(result, scale="linear").data[0]
    assert flat.zmax == -flat.zmin > 0 and flat.colorbar.title.text == "score"
    result.ffn_neuron_scores[0, 3] = -4.0  # > 99 % exactly 0: the full range, not ±0
    sparse = neuron_score_map(result, scale="linear").data[0]
    assert sparse.zmax == 4.0 and sparse.colorbar.title.text == "score"
    asinh_flat = neuron_score_map(result).data[0]  # the default copes with zeros too
    assert asinh_flat.zmax == -asinh_flat.zmin > 0
    with pytest.raises(ValueError, match="colour scale"):
        neuron_score_map(result, scale="log")


def test_published_reference_table():
    rows = published_reference_table()
    assert {r["module"]: r["published_mean"] for r in rows} == PUBLISHED_MEANS
    assert PUBLISHED_MEANS == {"up_proj": 0.691, "down_proj": 0.450, "v_proj": 0.479, "o_proj": 0.411}
    ours = _similarity("cosine")
    beside = published_reference_table(ours)
    assert all(r["our_mean"] == pytest.approx(ours.mean[r["module"]]) for r in beside)
    assert len(reference_table_figure(ours).data[0].header.values) == 3


def test_save_figure_writes_offline_html_and_json(tmp_path):
    result = _similarity("cosine")
    result.matrices["v_proj"][0, 0] = float("nan")  # a missing value must still give strict JSON
    html, data = save_figure(similarity_heatmaps(result), tmp_path / "sub" / "sim", data=result)
    assert html.name == "sim.html" and data is not None and data.name == "sim.json"
    text = html.read_text(encoding="utf-8")
    assert "plotly.js v" in text and '<script src="https://cdn' not in text  # embedded
    back = SimilarityResult.from_json(json.loads(data.read_text(encoding="utf-8")))
    assert np.isnan(back.matrices["v_proj"][0, 0])
    np.testing.assert_allclose(back.matrices["up_proj"], result.matrices["up_proj"])
    html2, none = save_figure(neuron_score_map(_locate(2, 4, 0)), tmp_path / "n.html")
    assert html2.exists() and none is None


def test_no_gradio_import():
    # in a fresh interpreter: other tests (the app's) may import gradio into this process
    import subprocess

    code = ("import sys, pkt_core.figures, pkt_core.analyse, pkt_core.lab, pkt_core.transfer; "
            "print('gradio' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


# ---- captions, colour scales, legends and widths (what a class stumbled on) ----------------------
def _parametric_result():
    from pkt_core.analyse import ParametricResult
    from pkt_core.models.architectures import PROJECTIONS

    rng = np.random.default_rng(3)
    curves = {method: {m: {k: rng.uniform(-0.3, 0.3, size=2).tolist()
                           for k in ("vs_original", "vs_remainder", "norm_ratio")}
                       for m in PROJECTIONS} for method in ("own_top_r", "teacher_piece")}
    return ParametricResult(4, list(PROJECTIONS), [0, 3], "proportional depth", curves, {},
                            "teacher-x", "student-y")


def _alignment():
    rng = np.random.default_rng(4)
    modules = ("up_proj", "down_proj", "v_proj", "o_proj")
    return {"matrices": {m: {k: rng.uniform(-0.2, 0.2, size=(2, 4)).tolist()
                             for k in ("hypernetwork", "naive")} for m in modules},
            "teacher_layers": {"ffn": [0, 3], "attn": [1, 2]},
            "per_step": [{m: {"hypernetwork": 0.01 * i, "naive": -0.01} for m in modules}
                         for i in range(3)]}


def _curve():
    def point(x, change, vs=None):
        p = {"lr": x, "relative_update": x, "change": change, "ci95": [change - 0.02, change + 0.02]}
        return {**p, "vs_shuffled": {"change": vs, "ci95": [vs - 0.01, vs + 0.01]}} if vs is not None else p
    return {"teacher": "teacher-x", "task": "facts", "seeds": [0, 1], "eval_limit": 8,
            "paradigms": {"method": {"title": "Method", "setting": "lr"}},
            "series": {"method": [point(1e-3, 0.0, 0.0), point(1e-2, 0.1, 0.05)],
                       "method@shuffled": [point(1e-3, 0.0), point(1e-2, 0.05)]}}


def _ladder() -> dict:
    def pair(t: str, s: str, ratio: float, cka: float, transfer: dict | None = None) -> dict:
        modules = ("up_proj", "down_proj", "v_proj", "o_proj")
        return {"teacher": t, "student": s, "param_ratio": ratio, "same_size": ratio == 1.0,
                "cka": dict.fromkeys(modules, cka), "transfer": transfer or {}}
    cell = {"facts": {"change": 0.04, "ci95": [0.0, 0.08]}}
    return {"task": "facts", "transfers": {"seeking": "Seeking", "seeking@shuffled": "control"},
            "pairs": [
        pair("teacher", "student", 13.5, 0.4, {"rows": {"seeking": cell, "seeking@shuffled": cell}}),
        pair("middle", "student", 6.0, 0.5), pair("sibling", "student", 1.0, 0.6)]}


# Every public figure builder, built from small synthetic inputs. A new builder must be added here
# (test_every_builder_is_listed fails otherwise), so it cannot ship without a caption.
BUILDERS = {
    "similarity_heatmap": lambda f: f.similarity_heatmap(_similarity("cka"), "up_proj"),
    "similarity_heatmaps": lambda f: f.similarity_heatmaps(_similarity("cosine")),
    "parametric_curves": lambda f: f.parametric_curves(_parametric_result()),
    "layer_score_curves": lambda f: f.layer_score_curves(_locate(4, 16, 0), _locate(2, 8, 1)),
    "neuron_score_map": lambda f: f.neuron_score_map(_locate(4, 16, 0)),
    "reference_table_figure": lambda f: f.reference_table_figure(_similarity("cka")),
    "alignment_heatmaps": lambda f: f.alignment_heatmaps(_alignment()),
    "alignment_curves": lambda f: f.alignment_curves(_alignment()),
    "loss_figure": lambda f: f.loss_figure([{"step": i, "loss": 2.0 / i} for i in range(1, 6)]),
    "runs_chart": lambda f: f.runs_chart(["facts"], {"student (untouched)": {"facts": [0.5, 0.6]},
                                                     "teacher": {"facts": [0.8]}}),
    "incompatibility_curve_figure": lambda f: f.incompatibility_curve_figure(_curve()),
    "ladder_figure": lambda f: f.ladder_figure(_ladder()),
    "option_likelihoods_figure": lambda f: f.option_likelihoods_figure(
        ["a", "b", "c"], {"teacher": [-1.0, -2.0, -3.0], "student": [-2.0, -1.0, -3.0]}, 0),
}


def _figure_builders() -> dict[str, object]:
    """Public functions of pkt_core.figures and its submodules whose return annotation is a Figure."""
    import importlib
    import inspect
    import pkgutil

    import plotly.graph_objects as go

    import pkt_core.figures as package

    modules = [package] + [importlib.import_module(f"{package.__name__}.{m.name}")
                           for m in pkgutil.iter_modules(getattr(package, "__path__", []))]
    found = {}
    for module in modules:
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("_") or not fn.__module__.startswith(package.__name__):
                continue
            signature = inspect.signature(fn, eval_str=True)
            first = next(iter(signature.parameters.values()), None)
            takes_figure = first is not None and first.annotation is go.Figure  # e.g. captioned()
            if signature.return_annotation is go.Figure and not takes_figure:
                found[name] = fn
    return found


def _built() -> dict[str, object]:
    import pkt_core.figures as figures
    return {name: build(figures) for name, build in BUILDERS.items()}


def _legend_entries(fig) -> list[str]:
    return [t.name for t in fig.data
            if t.type not in ("heatmap", "table") and t.showlegend is not False]


def test_every_builder_is_listed_and_importable_from_the_package():
    import pkt_core.figures as figures

    builders = _figure_builders()
    assert set(builders) == set(BUILDERS), "add the new builder to BUILDERS (and give it a caption)"
    assert all(getattr(figures, name) is fn for name, fn in builders.items())  # re-exported


def test_every_builder_stores_a_caption_that_survives_json():
    import plotly.graph_objects as go
    import plotly.io as pio

    for name, fig in _built().items():
        caption = caption_of(fig)
        assert caption.startswith("How to read:") and len(caption) > 80, name
        assert caption_of(go.Figure(json.loads(fig.to_json()))) == caption, name
        assert caption_of(pio.from_json(fig.to_json())) == caption, name
        assert caption_of(json.loads(fig.to_json())) == caption, name  # a figure's JSON dict too
    assert caption_of(go.Figure()) == "" and caption_of({"layout": {"meta": [1, 2]}}) == ""
    import pkt_core.figures as figures  # edge cases still explain themselves
    assert "No step" in caption_of(figures.loss_figure([]))
    assert "no finished runs" in caption_of(figures.runs_chart([], {}))


def test_captions_quote_the_paper_and_the_data():
    from pkt_core import paper

    built = _built()
    sim = caption_of(built["similarity_heatmaps"])
    assert "no clear diagonal" in sim and all(f"{v:.3f}" in sim for v in paper.SIMILARITY_MEANS.values())
    assert "5 texts" in sim and "signed cosine" in sim
    assert "linear CKA" in caption_of(built["similarity_heatmap"])
    par = caption_of(built["parametric_curves"])
    assert all(words in par for words in paper.PARAMETRIC_COSINES.values())  # ≈ 0.15 · ≈ 0, …
    assert "rank-4" in par
    runs = caption_of(built["runs_chart"])
    assert "44.20" in runs and "49.60" in runs and "52.90" in runs  # paper.TABLE, MMLU
    assert "1 of 2 points" in caption_of(built["incompatibility_curve_figure"])
    assert "teacher right, student wrong" in caption_of(built["option_likelihoods_figure"])
    assert "5 steps so far" in caption_of(built["loss_figure"])


def test_no_figure_fixes_its_width_and_legends_sit_horizontally_below():
    for name, fig in _built().items():
        assert fig.layout.width is None, name  # the container decides; autosize fills it
        entries = _legend_entries(fig)
        multi_panel = sum(k.startswith("xaxis") for k in fig.to_plotly_json()["layout"]) > 1
        if entries and (multi_panel or len(entries) > 1):
            assert fig.layout.legend.orientation == "h" and fig.layout.legend.y < 0, name


def test_parametric_legend_has_one_entry_per_module():
    """7 entries (one per module, each toggling that module in all four panels) instead of 14:
    methods are rows of panels, measures columns, so neither needs a legend entry."""
    fig = parametric_curves(_parametric_result())
    entries = _legend_entries(fig)
    assert len(entries) == 7 and len(set(entries)) == 7 and len(fig.data) == 28
    assert all(t.legendgroup == t.name for t in fig.data)
    axes = ("yaxis", "yaxis2", "yaxis3", "yaxis4")  # one y range for all panels: rows compare
    assert len({fig.layout[a].matches or a.replace("axis", "") for a in axes}) == 1
    assert [a.text for a in fig.layout.annotations][:4] == [
        "PiSSA: cos(BA, W) (paper ≈ 0.15)", "PiSSA: cos(BA, W − BA) (paper ≈ 0)",
        "Seeking-style: cos(BA, W) (paper ≈ 0)", "Seeking-style: cos(BA, W − BA) (paper ≈ −0.12)"]


def _heavy_tailed(n_layers: int = 8, width: int = 688, seed: int = 5) -> LocateResult:
    """Scores shaped like the shipped teacher's FFN map: |score| log-normal around 1e-3 with a few
    neurons orders of magnitude above (one at 2.0)."""
    rng = np.random.default_rng(seed)
    z = rng.choice([-1.0, 1.0], size=(n_layers, width)) * np.exp(rng.normal(np.log(1.3e-3), 1.6,
                                                                           (n_layers, width)))
    z[0, 657] = 2.0
    result = _locate(n_layers, width, seed)
    result.ffn_neuron_scores[:] = z
    return result


def _pale_share(heat) -> float:
    """Share of cells within a tenth of the colour range of 0 (near white on RdBu)."""
    return float(np.mean(np.abs(np.asarray(heat.z, dtype=float)) < 0.1 * heat.zmax))


def test_neuron_map_default_scale_survives_outliers_with_honest_ticks():
    result = _heavy_tailed()
    z = result.ffn_neuron_scores
    fig = neuron_score_map(result)
    heat = fig.data[0]
    s = float(np.median(np.abs(z[z != 0])))
    assert heat.zmax == pytest.approx(np.arcsinh(2.0 / s)) and heat.zmin == -heat.zmax  # no clip
    np.testing.assert_allclose(heat.z, np.arcsinh(z / s))
    np.testing.assert_allclose(heat.customdata, z)  # hover: the raw score
    ticks = heat.colorbar
    assert "0" in ticks.ticktext and len(ticks.tickvals) == len(ticks.ticktext) <= 9
    for position, label in zip(ticks.tickvals, ticks.ticktext):  # labels are the raw scores there
        assert s * np.sinh(position) == pytest.approx(float(label.replace("−", "-")), rel=1e-9)
    assert _pale_share(heat) < 0.55 < 0.75 < _pale_share(neuron_score_map(result, scale="linear").data[0])
    caption = caption_of(fig)
    assert "signed log scale" in caption and "nothing is clipped" in caption and "clipped at" not in caption


def test_similarity_title_counts_the_texts_actually_used():
    result = _similarity("cka")
    result.inputs_description, result.n_texts = "24 facts/test examples; 768 tokens", 21
    result.notes = ["capped at 768 tokens: 21 of 24 texts used"]
    for fig in (similarity_heatmaps(result), similarity_heatmap(result, "v_proj"),
                similarity_heatmaps(result.to_json())):
        assert "inputs: 21 of 24 facts/test examples" in fig.layout.title.text
        assert "21 of 24 facts/test examples" in caption_of(fig)
    result.n_texts = 24  # all used: the description as given
    assert "inputs: 24 facts/test examples; 768" in similarity_heatmaps(result).layout.title.text
    result.inputs_description, result.n_texts = "typed texts; 768 tokens", 2  # no count to fix
    result.notes = ["capped at 768 tokens: 2 of 3 texts used"]
    assert "typed texts; 768 tokens (2 of 3 texts used)" in similarity_heatmaps(result).layout.title.text


def test_runs_chart_legend_reads_teacher():
    from pkt_core.figures import runs_chart
    from pkt_core.experiments.reproduce import row_title

    fig = runs_chart(["facts"], {row_title("student"): {"facts": [0.5]},
                                 row_title("teacher"): {"facts": [0.8]}})
    assert [t.name for t in fig.data] == ["student (untouched)", "teacher"]


@pytest.mark.skipif(not (Path(__file__).resolve().parents[1] / "assets" / "models"
                         / "pkt-tiny-teacher").is_dir(), reason="the shipped models are not here")
def test_shipped_teacher_neuron_map_is_readable():
    """On the shipped teacher (facts, first extract example, as the Locate tab runs it) the scores
    are heavy-tailed — median |score| ~1e-3, largest 2.0 — and a 99th-percentile cap still leaves
    ~85 % of cells near white; the asinh scale leaves about half (those below the median)."""
    from pkt_core.locate import LocateConfig, locate
    from pkt_core.models.provider import MODELS
    from pkt_core.tasks import get_task, render_chat

    loaded = MODELS.get("pkt-tiny-teacher")
    example = get_task("facts").split("extract")[0]
    result = locate(loaded.model, loaded.tokenizer, loaded.spec,
                    [(render_chat(example.prompt), example.answer)], LocateConfig(), top_k=10)
    mags = np.abs(result.ffn_neuron_scores)
    assert mags.max() > 100 * np.median(mags)  # heavy-tailed: what the scale is for
    assert _pale_share(neuron_score_map(result, scale="linear").data[0]) > 0.75
    assert _pale_share(neuron_score_map(result).data[0]) < 0.55
