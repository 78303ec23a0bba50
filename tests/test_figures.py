"""Figure builders: labelled axes, centred colour scales, fixed heights, hover values, offline HTML."""
from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from pkt_core.analyse import SimilarityResult, compare_layer_attribution, parametric_similarity
from pkt_core.figures import (HEIGHT, layer_score_curves, neuron_score_map, parametric_curves,
                              published_reference_table, reference_table_figure, save_figure,
                              similarity_heatmap, similarity_heatmaps)
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
    assert len(fig.data) == 2 * 7 * 2 and fig.layout.height == HEIGHT
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
    assert "%{z" in heat.hovertemplate and nmap.layout.height == HEIGHT
    assert "teacher-x" in nmap.layout.title.text
    assert np.shape(neuron_score_map(teacher, "attn").data[0].z) == (4, 8)


def test_neuron_map_colours_are_not_set_by_one_outlier():
    result = _locate(4, 50, 2)
    result.ffn_neuron_scores[2, 7] = 1000.0  # one neuron far above the ~N(0, 1) rest
    heat = neuron_score_map(result).data[0]
    limit = np.percentile(np.abs(result.ffn_neuron_scores), 99)
    assert heat.zmax == pytest.approx(limit) and heat.zmin == pytest.approx(-limit) and heat.zmax < 10
    assert "99th percentile" in heat.colorbar.title.text and f"{limit:.3g}" in heat.colorbar.title.text
    assert heat.z[2][7] == 1000.0  # the value itself is kept: hover shows it exactly
    assert neuron_score_map(result, percentile=100).data[0].zmax == 1000.0
    result.ffn_neuron_scores[:] = 0.0  # nothing to scale: a valid range, no claim of capping
    flat = neuron_score_map(result).data[0]
    assert flat.zmax == -flat.zmin > 0 and flat.colorbar.title.text == "score"
    result.ffn_neuron_scores[0, 3] = -4.0  # > 99 % exactly 0: the full range, not ±0
    sparse = neuron_score_map(result).data[0]
    assert sparse.zmax == 4.0 and sparse.colorbar.title.text == "score"


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
