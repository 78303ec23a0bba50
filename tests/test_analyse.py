"""The neural-incompatibility analysis on tiny random Llama models (teacher 4×64, student 2×32)."""
from __future__ import annotations

import dataclasses
import itertools
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from pkt_core.analyse import (PROJECTIONS, REPR_MODULES, LayerComparison, LayerPair,
                              ParametricResult, SimilarityResult, StabilityResult,
                              compare_layer_attribution, depth_layer_map, largest_subblock,
                              linear_cka, locate_stability, parametric_similarity, relative_depth,
                              representation_similarity, subblock_lora_init, select_layers,
                              signed_similarity, svd_lora_init)
from pkt_core.locate import LocateError, LocateResult
from pkt_core.models.architectures import arch_for_config, block_part
from pkt_core.models.synthetic import byte_tokenizer, random_model

TEXTS = ["The capital of Velora is Amrit.", "2 + 3 = 5", "def add(a, b):\n    return a + b",
         "<|user|>\nQuestion?\n\n<|assistant|>\nAnswer.\n\n", "The river runs north to the sea."]


def _loaded(model, tokenizer):
    return SimpleNamespace(model=model, tokenizer=tokenizer, spec=arch_for_config(model.config))


@pytest.fixture(scope="module")
def tok():
    return byte_tokenizer()


@pytest.fixture(scope="module")
def teacher(tok):
    return _loaded(random_model(0, n_layers=4, hidden=64, ffn=128, n_heads=4, vocab=320), tok)


@pytest.fixture(scope="module")
def student(tok):
    return _loaded(random_model(1, n_layers=2, hidden=32, ffn=64, n_heads=4, vocab=320), tok)


def _orthogonal(d: int, seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(seed),
                                       dtype=torch.float64))
    return q.float()


# ---- metrics on feature matrices ---------------------------------------------------------------
def test_cka_invariant_to_rotation_and_isotropic_scale():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(60, 16, generator=g), torch.randn(60, 24, generator=g)
    y = y + 0.5 * x @ torch.randn(16, 24, generator=g)  # some shared structure
    for unbiased in (False, True):
        base = linear_cka(x, y, unbiased)
        rotated_x = x @ _orthogonal(16, 1) * 3.7
        rotated_y = y @ _orthogonal(24, 2) * 0.05 + 2.0
        assert linear_cka(rotated_x, y, unbiased) == pytest.approx(base, abs=1e-5)
        assert linear_cka(x, rotated_y, unbiased) == pytest.approx(base, abs=1e-5)
        assert linear_cka(x, x, unbiased) == pytest.approx(1.0, abs=1e-6)
    assert 0.0 <= linear_cka(x, y) <= 1.0


def _hsic_u_statistic(k: np.ndarray, l: np.ndarray) -> float:
    """HSIC by its definition as a U-statistic over distinct index 4-tuples (Song et al. 2012)."""
    n, total, count = len(k), 0.0, 0
    for i, j, q, r in itertools.permutations(range(n), 4):
        total += k[i, j] * l[i, j] + k[i, j] * l[q, r] - 2 * k[i, j] * l[i, q]
        count += 1
    return total / count


def test_unbiased_cka_matches_u_statistic():
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(7, 5, generator=g, dtype=torch.float64), torch.randn(7, 3, generator=g,
                                                                            dtype=torch.float64)
    k, l = (x @ x.T).numpy(), (y @ y.T).numpy()
    expected = _hsic_u_statistic(k, l) / np.sqrt(_hsic_u_statistic(k, k) * _hsic_u_statistic(l, l))
    assert linear_cka(x, y, unbiased=True) == pytest.approx(expected, abs=1e-5)
    assert linear_cka(x, y, unbiased=True) != pytest.approx(linear_cka(x, y), abs=1e-3)


def test_signed_similarity_is_one_for_identical_and_can_go_negative():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 12, generator=g)
    assert signed_similarity(x, x) == pytest.approx(1.0, abs=1e-6)
    assert signed_similarity(x, x @ _orthogonal(12, 4) * 5 + 1) == pytest.approx(1.0, abs=1e-5)
    # Tokens 0,1 together and 2,3 together in one model; 0,2 and 1,3 in the other (another width):
    # every token's similarity row disagrees on 2 of 3 neighbours → exactly −1/3.
    a = torch.tensor([[1.0], [1.0], [-1.0], [-1.0]])
    b = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    assert signed_similarity(a, b) == pytest.approx(-1 / 3, abs=1e-6)
    assert linear_cka(a, b) >= 0  # CKA cannot see the disagreement as negative
    y = torch.randn(40, 7, generator=g)
    assert abs(signed_similarity(x, y)) < 0.3  # unrelated → near 0


# ---- representation similarity on models -------------------------------------------------------
@pytest.mark.parametrize("metric,unbiased", [("cka", False), ("cka", True), ("cosine", False)])
def test_self_similarity_diagonal_is_one(teacher, metric, unbiased):
    result = representation_similarity(teacher, teacher, TEXTS, metric=metric, unbiased=unbiased)
    assert set(result.matrices) == set(REPR_MODULES)
    for matrix in result.matrices.values():
        assert matrix.shape == (4, 4)
        np.testing.assert_allclose(np.diag(matrix), 1.0, atol=1e-4)
    assert result.token_aligned and result.unbiased == unbiased


def _outputs(loaded, layer: int, module: str, texts: list[str]) -> torch.Tensor:
    """The module's output at every token of `texts`, one text per forward (no padding)."""
    rows: list[torch.Tensor] = []
    part = block_part(loaded.model, loaded.spec, layer, module)
    handle = part.register_forward_hook(lambda _mod, _inp, out: rows.append(out[0]))
    try:
        with torch.no_grad():
            for text in texts:
                loaded.model(input_ids=torch.tensor([loaded.tokenizer(text)["input_ids"]]))
    finally:
        handle.remove()
    return torch.cat(rows)


def test_teacher_student_shapes_cells_and_json(teacher, student):
    result = representation_similarity(teacher, student, TEXTS, metric="cosine",
                                       inputs_description="five texts")
    for module, matrix in result.matrices.items():
        assert matrix.shape == (2, 4)  # [L_S, L_T]
        assert np.all(np.abs(matrix) <= 1 + 1e-6)
    # A cell recomputed apart: that student layer's and that teacher layer's outputs, captured
    # text by text, compared by the metric itself.
    for module, s_layer, t_layer in (("down_proj", 1, 2), ("v_proj", 0, 3)):
        expected = signed_similarity(_outputs(student, s_layer, module, TEXTS),
                                     _outputs(teacher, t_layer, module, TEXTS))
        assert result.matrices[module][s_layer, t_layer] == pytest.approx(expected, abs=1e-4)
    assert result.inputs_description.startswith("five texts")
    back = SimilarityResult.from_json(json.loads(json.dumps(result.to_json())))
    for module in result.matrices:
        np.testing.assert_allclose(back.matrices[module], result.matrices[module])
    assert back.mean == result.mean and back.metric == "cosine" and back.n_points == result.n_points


def test_mean_and_std_leave_undefined_cells_out():
    cells = np.array([[0.5, np.nan], [-0.1, 0.2]])  # NaN: a constant representation
    result = SimilarityResult("cosine", False, {"up_proj": cells}, "hand-made")
    assert result.mean["up_proj"] == pytest.approx(0.2)  # (0.5 − 0.1 + 0.2) / 3
    assert result.std["up_proj"] == pytest.approx(np.sqrt((0.3 ** 2 + 0.3 ** 2 + 0.0) / 3))
    data = json.loads(json.dumps(result.to_json()))
    assert data["matrices"]["up_proj"][0][1] is None
    assert data["mean"]["up_proj"] == pytest.approx(0.2)


def test_token_cap_first_token_and_plain_tuples(teacher, student):
    capped = representation_similarity(teacher, (student.model, student.tokenizer), TEXTS,
                                       max_tokens=12)
    assert capped.n_points == 12 and any("capped" in note for note in capped.notes)
    full = representation_similarity(teacher, student, TEXTS[:2])
    dropped = representation_similarity(teacher, student, TEXTS[:2], exclude_first_token=True)
    assert dropped.n_points == full.n_points - 2


def test_different_tokenizers_fall_back_to_mean_pooled_texts(teacher, student):
    other = _loaded(student.model, byte_tokenizer(vocab=280))
    result = representation_similarity(teacher, other, TEXTS)
    assert not result.token_aligned and result.n_points == len(TEXTS)
    assert any("mean-pooled" in note for note in result.notes)
    assert result.matrices["up_proj"].shape == (2, 4)


# ---- parametric similarity ---------------------------------------------------------------------
def test_svd_lora_init_is_best_rank_r():
    w = torch.randn(20, 12, generator=torch.Generator().manual_seed(0))
    b, a = svd_lora_init(w, 4)
    assert b.shape == (20, 4) and a.shape == (4, 12)
    torch.testing.assert_close(a @ a.T, torch.eye(4), atol=1e-5, rtol=0)
    s = torch.linalg.svdvals(w)
    assert float((w - b @ a).norm() ** 2) == pytest.approx(float((s[4:] ** 2).sum()), rel=1e-4)


def test_pissa_identities(teacher, student):
    result = parametric_similarity(teacher, student, rank=16)
    assert result.layer_map == [0, 3] and result.layer_map_rule == "proportional depth"
    for module in PROJECTIONS:
        curves = result.curves["own_top_r"][module]
        assert len(curves["vs_original"]) == 2
        np.testing.assert_allclose(curves["vs_remainder"], 0.0, atol=1e-5)
        for layer in range(2):
            w = getattr(student.model.model.layers[layer].self_attn if module[0] in "qkvo"
                        else student.model.model.layers[layer].mlp, module).weight.detach()
            s = torch.linalg.svdvals(w.double())
            ratio = float((s[:16] ** 2).sum().sqrt() / (s ** 2).sum().sqrt())
            assert curves["vs_original"][layer] == pytest.approx(ratio, abs=1e-5)
        seeking = result.curves["teacher_piece"][module]
        assert all(-1 <= v <= 1 for v in seeking["vs_original"] + seeking["vs_remainder"])
    back = ParametricResult.from_json(json.loads(json.dumps(result.to_json())))
    assert back.curves == result.curves and back.subblocks == result.subblocks


def test_seeking_uses_sensitivity_for_layers_and_subblock(teacher, student):
    spike = torch.zeros(128, 64)
    spike[100, 50] = 1.0  # teacher up_proj is 128×64; the student's is 64×32
    result = parametric_similarity(teacher, student, modules=("up_proj", "o_proj"),
                                   sensitivity={(2, "up_proj"): spike})
    assert result.layer_map == [0, 2] and "sensitivity" in result.layer_map_rule
    # Every block holding the spike ties; the first in row-major order wins.
    assert result.subblocks["up_proj"][1] == [100 - 63, 50 - 31]
    explicit = parametric_similarity(teacher, student, modules=("v_proj",), layer_map=[3, 1])
    assert explicit.layer_map == [3, 1] and explicit.layer_map_rule == "given"
    with pytest.raises(ValueError):
        parametric_similarity(teacher, student, layer_map=[0, 9])


def test_largest_subblock_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    for rows, cols, shape in ((3, 4, (7, 9)), (1, 1, (5, 6)), (7, 9, (7, 9)), (2, 5, (6, 5))):
        score = torch.rand(*shape, generator=g)
        best = max(((float(score[r:r + rows, c:c + cols].sum()), (r, c))
                    for r in range(shape[0] - rows + 1) for c in range(shape[1] - cols + 1)))
        assert largest_subblock(score, rows, cols) == best[1]
    with pytest.raises(ValueError):
        largest_subblock(torch.rand(3, 3), 4, 1)


def test_subblock_lora_init_cuts_the_highest_scoring_block_then_its_svd():
    g = torch.Generator().manual_seed(1)
    teacher_weight = torch.randn(12, 10, generator=g)
    score = torch.zeros(12, 10)
    score[7:12, 4:10] = 1.0  # only the bottom-right 5×6 block scores
    piece = subblock_lora_init(teacher_weight, score, (5, 6), rank=3)
    assert (piece.row0, piece.col0) == (7, 4)
    block = teacher_weight[7:12, 4:10]
    s = torch.linalg.svdvals(block)
    residual = float((block - piece.lora_b @ piece.lora_a).norm() ** 2)
    assert residual == pytest.approx(float((s[3:] ** 2).sum()), rel=1e-4)  # best rank 3
    # Without a score the block with the largest Σ|W| is cut (a signed sum would skip (0, 0)).
    spiky = torch.zeros(12, 10)
    spiky[0, 0] = -50.0
    unscored = subblock_lora_init(spiky, None, (5, 6), rank=2)
    assert (unscored.row0, unscored.col0) == (0, 0)
    assert subblock_lora_init(teacher_weight, score, (13, 6), rank=3) is None  # teacher too small


def test_layer_maps():
    assert depth_layer_map(2, 4) == [0, 3]
    assert depth_layer_map(3, 4) == [0, 2, 3]  # 1.5 rounds half up
    assert depth_layer_map(1, 5) == [2]
    assert select_layers([0.1, 0.5, 0.9, 0.5], 2) == [1, 2]  # tie 0.5 → lower index


# ---- layer attribution -------------------------------------------------------------------------
def _located(ffn_layers, attn_layers, ffn_neurons=None, width: int = 8) -> LocateResult:
    n = len(ffn_layers)
    zeros = [[0.0] * width] * n
    return LocateResult.from_json({"target_token_ids": [1], "ffn_layer_scores": ffn_layers,
                                   "attn_layer_scores": attn_layers, "attn_neuron_scores": zeros,
                                   "ffn_neuron_scores": zeros if ffn_neurons is None
                                   else ffn_neurons})


def test_compare_layer_attribution():
    teacher = _located([0.1, 0.5, 0.9, 0.2], [0, 0, 0, 0])
    student = _located([0.2, 0.8], [0, 0])
    cmp = compare_layer_attribution(teacher, student, "ffn")
    assert isinstance(cmp, LayerComparison) and cmp.kind == "ffn"
    np.testing.assert_allclose(cmp.teacher_depth, relative_depth(4))
    np.testing.assert_allclose(cmp.student_depth, relative_depth(2))
    assert cmp.teacher_scores == [0.1, 0.5, 0.9, 0.2] and cmp.student_scores == [0.2, 0.8]
    np.testing.assert_allclose(cmp.teacher_at_student_depth,
                               np.interp(relative_depth(2), relative_depth(4),
                                         [0.1, 0.5, 0.9, 0.2]))
    assert cmp.pairs == [LayerPair(1, 0, 0.375, 0.25), LayerPair(2, 1, 0.625, 0.75)]
    assert [(p.teacher_layer, p.student_layer) for p in cmp.pairs] == [(1, 0), (2, 1)]
    assert cmp.mean_depth_shift == pytest.approx(0.125)
    assert cmp.profile_spearman == pytest.approx(1.0) and cmp.top_k == 1 and cmp.top_overlap == 1.0
    assert compare_layer_attribution(teacher, student, "attn").profile_spearman is None
    assert compare_layer_attribution(teacher, student, "ffn", top_k=2).top_k == 2
    data = json.loads(json.dumps(cmp.as_dict()))  # the JSON boundary: plain dicts and lists
    assert data["pairs"][0] == {"teacher_layer": 1, "student_layer": 0, "teacher_depth": 0.375,
                                "student_depth": 0.25}
    assert set(data) == {f.name for f in dataclasses.fields(LayerComparison)}
    assert data["profile_spearman"] == pytest.approx(1.0)
    assert data["mean_depth_shift"] == cmp.mean_depth_shift
    with pytest.raises(dataclasses.FrozenInstanceError):
        cmp.top_k = 3  # type: ignore[misc]
    with pytest.raises(LocateError, match="kind"):
        compare_layer_attribution(teacher, student, "mlp")
    # the old dict API, told how to move on
    with pytest.raises(TypeError, match="LocateResult.from_json"):
        compare_layer_attribution(teacher.to_json(), student, "ffn")  # type: ignore[arg-type]


def test_locate_stability():
    scores = np.random.default_rng(0).normal(size=(3, 40))
    a = _located([0.0] * 3, [0.0] * 3, scores.tolist(), width=40)
    same = locate_stability(a, a)
    assert isinstance(same, StabilityResult) and same.mean == 1.0 and same.per_layer == [1.0] * 3
    flipped = locate_stability(a, _located([0.0] * 3, [0.0] * 3, (-scores).tolist(), width=40))
    assert (flipped.kind, flipped.k, flipped.width) == ("ffn", 4, 40)
    assert flipped.mean == 0.0 and flipped.chance == pytest.approx(0.1)
    assert json.loads(json.dumps(flipped.as_dict())) == {"kind": "ffn", "k": 4, "width": 40,
                                                         "per_layer": [0.0] * 3, "mean": 0.0,
                                                         "chance": 0.1}
    # attention scores here are all tied: index order
    assert locate_stability(a, a, "attn", k=3).k == 3
    with pytest.raises(ValueError, match="differ in shape"):
        locate_stability(a, _located([0.0] * 3, [0.0] * 3, width=8))
    with pytest.raises(TypeError, match="LocateResult"):
        locate_stability(a.to_state(), a)  # type: ignore[arg-type]
