"""Logit-lens attribution (pkt_core.locate) against a slow, per-neuron reference built from the
weights."""
from __future__ import annotations

import dataclasses
import json
from functools import partial

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pkt_core.locate import (LocateCache, LocateConfig, LocateError, LocateResult,
                             locate, unembed_neuron_matrices)
from pkt_core.models.architectures import arch_for_config as spec_of
from pkt_core.models.synthetic import byte_tokenizer, random_model

# docs/SCIENCE.md §2: trailing characters stripped from prompt + answer
STRIP = '. ")\n,]'
E1 = ("The capital of Velora is", " Amrit.")
E2 = ("def add(a, b):\n    return", " a + b\n")
E3 = ("2 + 3 =", " 5")
SHAPES = {"llama": dict(n_kv_heads=4), "qwen2": dict(n_kv_heads=2), "mistral": dict(n_kv_heads=1),
          "qwen3": dict(n_kv_heads=2)}
ATOL = 1e-4
SCORE_NAMES = ("attn_layer_scores", "ffn_layer_scores", "ffn_neuron_scores", "attn_neuron_scores")


def make(family: str = "llama", seed: int = 0, **kw):
    cfg = dict(family=family, n_layers=2, hidden=64, ffn=172, n_heads=4, vocab=512,
               **SHAPES[family])
    cfg.update(kw)
    model = random_model(seed, **cfg)
    with torch.no_grad():  # random init gives near-uniform logits; make the lens less flat
        model.lm_head.weight.mul_(20.0)
        model.model.norm.weight.uniform_(0.5, 1.5)
    return model, spec_of(model.config)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models gain nothing from threads, and on a shared CPU their synchronisation is
    costly."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def tok():
    return byte_tokenizer()


@pytest.fixture(scope="module")
def models():
    return {fam: make(fam) for fam in SHAPES}


# ---- the slow reference: explicit vectors, explicit bs, one neuron at a time ---------------------
def tokens(tok, example) -> list[int]:
    """prompt + answer, trailing STRIP characters stripped; the last token is the target."""
    prompt, answer = example
    return tok((prompt + answer).rstrip(STRIP), add_special_tokens=False)["input_ids"]


def hook_last_position_states(model, cap: dict) -> list:
    """Hooks that store each layer's states at the last position in `cap`; → their handles."""
    def keep(key, tensor) -> None:  # (a hook that returns something replaces the output)
        cap[key] = tensor[0, -1]

    def keep_o_proj(i, module, args, out) -> None:
        keep(("o_in", i), args[0])
        keep(("attn", i), out)

    handles = []
    for i, layer in enumerate(model.model.layers):
        attn = layer.self_attn
        handles += [
            layer.register_forward_pre_hook(lambda m, a, i=i: keep(("x", i), a[0])),
            attn.o_proj.register_forward_hook(partial(keep_o_proj, i)),
            attn.v_proj.register_forward_hook(lambda m, a, o, i=i: keep(("v", i), o)),
            layer.mlp.register_forward_hook(lambda m, a, o, i=i: keep(("ffn", i), o))]
    last = model.model.layers[-1]
    handles.append(last.register_forward_hook(lambda m, a, o: keep("h", o)))
    return handles


def eager_forward(model, inp: torch.Tensor, handles: list):
    """The model's output with eager attention (for the probabilities); removes `handles` after."""
    prev = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            return model(inp, output_attentions=True)
    finally:
        model.set_attn_implementation(prev)
        for h in handles:
            h.remove()


def lens_scale(h: torch.Tensor, scale: str, eps: float) -> torch.Tensor:
    if scale == "sigma_sqrt":
        return 1.0 / torch.sqrt(torch.sqrt(h.var(unbiased=False) + 1e-5) + 1e-6)
    return 1.0 / torch.sqrt(h.pow(2).mean() + eps)


def neuron_coefficients(model, layer, i: int, mid: torch.Tensor, cap: dict, attentions,
                        attn_term: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(m, s): FFN neuron activations rebuilt from the weights, and attention-neuron coefficients
    (o_proj's input when summed, else the last query's own term α_TT·v_T per head)."""
    cfg = model.config
    H, n_kv = cfg.num_attention_heads, cfg.num_key_value_heads
    hd = layer.self_attn.o_proj.weight.shape[1] // H
    # m from the weights: silu(gate·n) ⊙ up·n with n = post_attention_layernorm(mid)
    n = layer.post_attention_layernorm(mid)
    m = F.silu(layer.mlp.gate_proj(n)) * layer.mlp.up_proj(n)
    if attn_term == "summed":
        return m, cap["o_in", i]
    alpha = attentions[i][0, :, -1, -1]  # last query on itself, per head
    v = cap["v", i].view(n_kv, hd)
    s = torch.stack([alpha[hh] * v[hh // (H // n_kv)] for hh in range(H)]).reshape(-1)
    return m, s


def reference(model, tok, example, scale="sigma_sqrt", attn_term="self"):
    ids = tokens(tok, example)
    inp, w = torch.tensor([ids[:-1]]), ids[-1]
    cap = {}
    out = eager_forward(model, inp, hook_last_position_states(model, cap))
    r = lens_scale(cap["h"], scale, model.config.rms_norm_eps)
    W_U, g = model.lm_head.weight, model.model.norm.weight

    def bs(v):
        return F.linear(g * v * r, W_U)

    def score(v, b):
        return (torch.log_softmax(bs(b + v), -1)[w] - torch.log_softmax(bs(b), -1)[w]).item()

    res = {"attn_l": [], "ffn_l": [], "ffn_n": [], "attn_n": [], "logits": out.logits[0, -1],
           "bs": bs, "r": r, "cap": cap, "w": w}
    for i, layer in enumerate(model.model.layers):
        x, attn, ffn = cap["x", i], cap["attn", i], cap["ffn", i]
        mid = x + attn
        res["attn_l"].append(score(attn, x))
        res["ffn_l"].append(score(ffn, mid))
        with torch.no_grad():
            m, s = neuron_coefficients(model, layer, i, mid, cap, out.attentions, attn_term)
            W_down, W_o = layer.mlp.down_proj.weight, layer.self_attn.o_proj.weight
            res["ffn_n"].append([score(m[k] * W_down[:, k], mid) for k in range(m.shape[0])])
            res["attn_n"].append([score(s[j] * W_o[:, j], x) for j in range(s.shape[0])])
        cap["m", i], cap["s", i] = m, s
    return res


@pytest.mark.parametrize("family", list(SHAPES))
@pytest.mark.parametrize("scale,attn_term", [("sigma_sqrt", "self"), ("sigma_sqrt", "summed"),
                                             ("rms", "self"), ("rms", "summed")])
def test_vectorised_scores_match_slow_reference(models, tok, family, scale, attn_term):
    model, spec = models[family]
    res = locate(model, tok, spec, [E1], LocateConfig(scale=scale, attn_term=attn_term))
    ref = reference(model, tok, E1, scale, attn_term)
    assert res.target_token_ids == [ref["w"]]
    np.testing.assert_allclose(res.attn_layer_scores, ref["attn_l"], atol=ATOL)
    np.testing.assert_allclose(res.ffn_layer_scores, ref["ffn_l"], atol=ATOL)
    np.testing.assert_allclose(res.ffn_neuron_scores, np.array(ref["ffn_n"]), atol=ATOL)
    np.testing.assert_allclose(res.attn_neuron_scores, np.array(ref["attn_n"]), atol=ATOL)
    assert np.abs(res.ffn_neuron_scores).max() > 1e-3  # the comparison is not vacuous
    assert np.abs(res.attn_neuron_scores).max() > 1e-4


def test_self_term_respects_sliding_windows_and_padding(tok):
    """α_TT is recomputed from the q/k states sdpa receives: check it where the window and the
    right padding of a batch change the softmax's denominator (eager attention is the reference)."""
    model, spec = make("mistral", seed=2)
    model.config.sliding_window = 5  # shorter than every example: the window drops early keys
    res = locate(model, tok, spec, [E1, E3], LocateConfig())  # E3 is shorter: padded in the batch
    refs = [reference(model, tok, e) for e in (E1, E3)]
    summed = sum(np.array(r["attn_n"]) for r in refs)
    np.testing.assert_allclose(res.attn_neuron_scores, summed, atol=ATOL)
    model.config.sliding_window = None
    unwindowed = locate(model, tok, spec, [E1, E3], LocateConfig())
    # not vacuous
    assert np.abs(unwindowed.attn_neuron_scores - res.attn_neuron_scores).max() > 1e-3
    assert model.config._attn_implementation == "sdpa"


def test_huge_neuron_effects_take_the_stable_path(tok):
    model, spec = make("llama", seed=4)
    # sharp logits + a few strong neurons: logit shifts that overflow exp() in fp32
    with torch.no_grad():
        model.lm_head.weight.mul_(100.0)
        model.model.layers[1].mlp.down_proj.weight[:, :3] *= 1000.0
    res = locate(model, tok, spec, [E1], LocateConfig(attn_term="summed"))
    ref = reference(model, tok, E1, attn_term="summed")
    W_U, g = model.lm_head.weight, model.model.norm.weight
    W_down = model.model.layers[1].mlp.down_proj.weight
    shifts = ref["r"] * ref["cap"]["m", 1][:3] * (W_U @ (g[:, None] * W_down[:, :3]))
    assert shifts.max() > 88.8  # exp() overflows in fp32: these neurons need the fallback
    np.testing.assert_allclose(res.ffn_neuron_scores, np.array(ref["ffn_n"]),
                               atol=ATOL, rtol=1e-5)
    np.testing.assert_allclose(res.attn_neuron_scores, np.array(ref["attn_n"]),
                               atol=ATOL, rtol=1e-5)


def test_rms_scale_is_the_models_own_final_norm(models, tok):
    model, _ = models["llama"]
    ref = reference(model, tok, E1, scale="rms")
    torch.testing.assert_close(ref["bs"](ref["cap"]["h"]), ref["logits"], atol=1e-4, rtol=1e-4)


def test_logit_lens_is_linear(models, tok):
    model, _ = models["qwen2"]
    ref = reference(model, tok, E1)
    bs, cap = ref["bs"], ref["cap"]
    b, u = cap["x", 1] + cap["attn", 1], model.model.layers[1].mlp.down_proj.weight[:, 5]
    for c in (-3.0, 0.1, 7.5):
        torch.testing.assert_close(bs(b + c * u), bs(b) + c * bs(u), atol=1e-4, rtol=1e-5)


def test_neuron_contributions_rebuild_module_outputs(models, tok):
    model, _ = models["qwen2"]  # grouped-query attention: 4 query heads share 2 kv heads
    ref = reference(model, tok, E1, attn_term="self")
    cap, H, hd, group = ref["cap"], 4, 16, 2
    ids = torch.tensor([tokens(tok, E1)[:-1]])
    v_all = {}
    hooks = [layer.self_attn.v_proj.register_forward_hook(
                 lambda m, a, o, i=i: v_all.__setitem__(i, o[0]))
             for i, layer in enumerate(model.model.layers)]
    model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            attentions = model(ids, output_attentions=True).attentions
    finally:
        model.set_attn_implementation("sdpa")
        for h in hooks:
            h.remove()
    for i, layer in enumerate(model.model.layers):
        W_down, W_o = layer.mlp.down_proj.weight, layer.self_attn.o_proj.weight
        torch.testing.assert_close((W_down * cap["m", i]).sum(1), cap["ffn", i],
                                   atol=1e-5, rtol=1e-4)
        torch.testing.assert_close((W_o * cap["o_in", i]).sum(1), cap["attn", i],
                                   atol=1e-5, rtol=1e-4)
        # o_proj's input, head h = Σ_s α[h, T, s]·v[s, kv(h)]; the self term is its s = T summand
        v = v_all[i].view(-1, 2, hd)
        alpha = attentions[i][0, :, -1]  # [H, T]
        summed = torch.stack([alpha[h] @ v[:, h // group] for h in range(H)]).reshape(-1)
        torch.testing.assert_close(summed, cap["o_in", i], atol=1e-5, rtol=1e-4)
        own = torch.stack([alpha[h, -1] * v[-1, h // group] for h in range(H)]).reshape(-1)
        torch.testing.assert_close(own, cap["s", i])


def test_scores_sum_over_examples_and_batching_is_harmless(models, tok):
    model, spec = models["mistral"]
    for cfg in (LocateConfig(), LocateConfig(attn_term="summed", scale="rms")):
        both = locate(model, tok, spec, [E1, E2, E3], cfg)
        parts = [locate(model, tok, spec, [e], cfg) for e in (E1, E2, E3)]
        assert both.target_token_ids == [p.target_token_ids[0] for p in parts]
        for name in SCORE_NAMES:
            summed = sum(getattr(p, name) for p in parts)
            np.testing.assert_allclose(getattr(both, name), summed, atol=ATOL)


def test_tiny_memory_budget_gives_the_same_result(models, tok):
    model, spec = models["qwen3"]
    default = locate(model, tok, spec, [E1, E3])
    for cache in (None, LocateCache()):
        tiny = locate(model, tok, spec, [E1, E3], LocateConfig(memory_budget_mb=1), cache=cache)
        for name in SCORE_NAMES:
            np.testing.assert_allclose(getattr(tiny, name), getattr(default, name), atol=1e-6)


def test_matrix_cache_reused_and_invalidated_on_edit(tok):
    model, spec = make("llama", seed=3)
    cache = LocateCache()
    first = locate(model, tok, spec, [E1], cache=cache)
    assert first.used_matrix_cache and cache.nbytes == 4 * 512 * (172 + 64) * 2
    kept = cache._store[model][0][1]["ffn"]
    again = locate(model, tok, spec, [E1], cache=cache)
    # served, not recomputed
    assert again.used_matrix_cache and cache._store[model][0][1]["ffn"] is kept
    np.testing.assert_allclose(again.ffn_neuron_scores, first.ffn_neuron_scores, atol=1e-7)
    assert not locate(model, tok, spec, [E1]).used_matrix_cache  # no cache object given
    off = LocateConfig(cache_matrices=False)
    assert not locate(model, tok, spec, [E1], off, cache=cache).used_matrix_cache
    W = model.model.layers[1].mlp.down_proj.weight
    with torch.no_grad():
        W[:, :10] += 0.5  # in-place edit (bumps the version counter)
    fresh = locate(model, tok, spec, [E1])
    np.testing.assert_allclose(locate(model, tok, spec, [E1], cache=cache).ffn_neuron_scores,
                               fresh.ffn_neuron_scores, atol=1e-6)
    W.data[:, 20:30] -= 0.5  # edit through .data (no version bump): the checksum catches it
    fresh = locate(model, tok, spec, [E1])
    np.testing.assert_allclose(locate(model, tok, spec, [E1], cache=cache).ffn_neuron_scores,
                               fresh.ffn_neuron_scores, atol=1e-6)
    cached = cache._store[model][1][1]["ffn"]
    # even a tiny edit (a freshly initialised injection)
    W.data[5, 40] += 1e-6 * W.data[5, 40].abs()
    locate(model, tok, spec, [E1], cache=cache)
    assert cache._store[model][1][1]["ffn"] is not cached  # recomputed, not served stale
    assert cache._store[model][0][1]["ffn"] is not None
    other, _ = make("qwen2", seed=5)  # one cache shared by two models: keyed by model identity
    other_spec = spec_of(other.config)
    np.testing.assert_allclose(locate(other, tok, other_spec, [E3], cache=cache).attn_neuron_scores,
                               locate(other, tok, other_spec, [E3]).attn_neuron_scores, atol=1e-7)
    assert cache.nbytes == 4 * 512 * (172 + 64) * 4
    B_down, B_o = unembed_neuron_matrices(model, spec, 1)
    assert B_down.shape == (512, 172) and B_o.shape == (512, 64)
    W_U, g = model.lm_head.weight, model.model.norm.weight
    torch.testing.assert_close(B_down[:, 3], W_U @ (g * W[:, 3]))
    W_o = model.model.layers[1].self_attn.o_proj.weight
    torch.testing.assert_close(B_o[:, 9], W_U @ (g * W_o[:, 9]))


def test_result_api_and_json(models, tok):
    model, spec = models["llama"]
    res = locate(model, tok, spec, [E1, E3], top_k=5)
    assert isinstance(res, LocateResult)
    js = res.to_json()
    for key in ("target_token_id", "target_token_ids", "attn_layer_scores", "ffn_layer_scores",
                "ffn_neuron_scores", "attn_neuron_scores", "top_attn_layers", "top_ffn_layers"):
        assert key in js
    assert js["target_token_id"] == res.target_token_ids[0] and len(js["ffn_neuron_scores"]) == 2
    assert len(js["ffn_neuron_scores"][0]) == 172 and len(js["attn_neuron_scores"][0]) == 64
    assert res.top_ffn_neurons.shape == (2, 5) and res.top_attn_neurons.shape == (2, 5)
    assert res.top_attn_layers == res.top_layers("attn") == list(np.argsort(-res.attn_layer_scores))
    for layer in range(2):
        top = res.top_neurons("ffn", layer, 5)
        assert top == res.top_ffn_neurons[layer].tolist()
        scores = res.ffn_neuron_scores[layer]
        assert list(scores[top]) == sorted(scores, reverse=True)[:5]
    res.ffn_neuron_scores[0, :] = 0.0  # all tied → index order, not 4-decimal rounding artefacts
    res.ffn_neuron_scores[0, 7] = 1e-6
    assert res.top_neurons("ffn", 0, 3) == [7, 0, 1]
    with pytest.raises(LocateError, match="kind"):
        res.top_layers("mlp")
    assert model.config._attn_implementation == "sdpa" and not model.training  # setting restored


def test_typed_accessors_and_json_round_trips(models, tok):
    model, spec = models["qwen2"]
    res = locate(model, tok, spec, [E1, E3], top_k=5)
    assert res.target_token_id == res.target_token_ids[0]
    for kind in ("ffn", "attn"):
        assert res.layer_scores(kind) is getattr(res, f"{kind}_layer_scores")
        assert res.neuron_scores(kind) is getattr(res, f"{kind}_neuron_scores")
    for bad in (res.layer_scores, res.neuron_scores):
        with pytest.raises(LocateError, match="kind"):
            bad("mlp")
    state = res.to_state()
    assert set(state) == {"target_token_ids", *SCORE_NAMES}
    full, reduced = (LocateResult.from_json(json.loads(json.dumps(d)))
                     for d in (res.to_json(), state))
    for back in (full, reduced):
        assert back.target_token_ids == res.target_token_ids
        assert back.target_token_id == res.target_token_id
        for kind in ("ffn", "attn"):  # exact: JSON floats round-trip bit for bit
            np.testing.assert_array_equal(back.layer_scores(kind), res.layer_scores(kind))
            np.testing.assert_array_equal(back.neuron_scores(kind), res.neuron_scores(kind))
            assert back.top_layers(kind) == res.top_layers(kind)
        assert back.top_ffn_layers == res.top_ffn_layers
        assert back.top_attn_layers == res.top_attn_layers
    assert full.to_json() == res.to_json()  # the full dict: everything, bookkeeping included
    # the reduced dict: top_* ranked from the scores as locate ranks them, 10 a layer unless told
    assert reduced.top_ffn_neurons.shape == reduced.top_attn_neurons.shape == (2, 10)
    np.testing.assert_array_equal(reduced.top_ffn_neurons[:, :5], res.top_ffn_neurons)
    as_located = LocateResult.from_json(state, top_k=5)
    np.testing.assert_array_equal(as_located.top_ffn_neurons, res.top_ffn_neurons)
    np.testing.assert_array_equal(as_located.top_attn_neurons, res.top_attn_neurons)
    assert not reduced.used_matrix_cache and reduced.seconds == 0.0
    assert reduced.config == LocateConfig()
    one_id = {**state, "target_token_id": 7}
    del one_id["target_token_ids"]
    assert LocateResult.from_json(one_id).target_token_ids == [7]


@pytest.mark.parametrize("drop", ["ffn_layer_scores", "attn_layer_scores", "ffn_neuron_scores",
                                  "attn_neuron_scores", "target_token_ids"])
def test_from_json_names_what_is_missing(drop):
    rng = np.random.default_rng(0)
    state = {"target_token_ids": [3], "ffn_layer_scores": [0.1, 0.2],
             "attn_layer_scores": [0.3, 0.4],
             "ffn_neuron_scores": rng.normal(size=(2, 6)).tolist(),
             "attn_neuron_scores": rng.normal(size=(2, 4)).tolist()}
    assert LocateResult.from_json(state).ffn_neuron_scores.shape == (2, 6)
    del state[drop]
    with pytest.raises(LocateError, match=f"not a locate result: missing {drop}"):
        LocateResult.from_json(state)


def test_from_json_rejects_inconsistent_shapes():
    state = {"target_token_ids": [3], "ffn_layer_scores": [0.1, 0.2], "attn_layer_scores": [0.3],
             "ffn_neuron_scores": [[0.0] * 4] * 2, "attn_neuron_scores": [[0.0] * 4] * 2}
    with pytest.raises(LocateError, match=r"attn_layer_scores \(1,\)"):
        LocateResult.from_json(state)
    with pytest.raises(LocateError, match="expected"):
        LocateResult.from_json({**state, "attn_layer_scores": [0.3, 0.4],
                                "ffn_neuron_scores": [0.0, 0.0]})


@pytest.mark.parametrize("examples,match", [
    ([("", " Amrit")], "prompt is empty"),
    ([("The capital is", "")], "answer is empty"),
    ([("The capital is", "   ")], "answer is empty"),
    ([("The capital is", ' ."\n')], "tokenises to nothing"),
    ([("The capital is", ".)]")], "tokenises to nothing"),
    ([("x" * 600, " y")], "longer than the model's context"),
    (("The capital is", " Amrit"), "single pair"),
    ([], "no examples"),
    ([("a", "b", "c")], "pair"),
])
def test_bad_inputs_raise_readable_errors(models, tok, examples, match):
    model, spec = models["llama"]
    with pytest.raises(LocateError, match=match):
        locate(model, tok, spec, examples)


def test_bad_config_model_and_numbers(tok):
    for bad in (dict(scale="std"), dict(attn_term="all"), dict(memory_budget_mb=0)):
        with pytest.raises(LocateError):
            LocateConfig(**bad)
    model, spec = make("llama", seed=1)
    with pytest.raises(LocateError, match="lacks the modules"):
        locate(model, tok, dataclasses.replace(spec, o_proj="self_attn.out_proj"), [E1])
    with torch.no_grad():
        model.model.layers[0].mlp.up_proj.weight[0, 0] = float("nan")
    with pytest.raises(LocateError, match="non-finite"):
        locate(model, tok, spec, [E1])


def test_bf16_model_scores_in_fp32(tok):
    model32, spec = make("qwen2", seed=2)
    model16 = random_model(2, dtype=torch.bfloat16, family="qwen2", n_layers=2, hidden=64, ffn=172,
                           n_heads=4, n_kv_heads=2, vocab=512)
    model16.load_state_dict({k: v.to(torch.bfloat16) for k, v in model32.state_dict().items()})
    r32 = locate(model32, tok, spec, [E1])
    r16 = locate(model16, tok, spec, [E1], cache=LocateCache())
    assert r16.ffn_neuron_scores.dtype == np.float64 and np.isfinite(r16.ffn_neuron_scores).all()
    # bf16 activations differ from fp32 ones by ~1%; the rankings' heads should largely agree
    assert np.corrcoef(r16.ffn_neuron_scores.ravel(), r32.ffn_neuron_scores.ravel())[0, 1] > 0.9


def test_locate_each_equals_one_call_per_example(models, tok):
    """The batched per-example path (LaTen's) gives each example's own locate() result."""
    from pkt_core.locate import locate_each

    model, spec = models["qwen2"]
    for cfg in (LocateConfig(), LocateConfig(attn_term="summed", scale="rms")):
        each = locate_each(model, tok, spec, [E1, E2, E3], cfg, top_k=5)
        assert len(each) == 3
        for res, ex in zip(each, (E1, E2, E3)):
            one = locate(model, tok, spec, [ex], cfg, top_k=5)
            assert res.target_token_ids == one.target_token_ids
            for name in SCORE_NAMES:
                np.testing.assert_allclose(getattr(res, name), getattr(one, name),
                                           atol=1e-5, rtol=1e-5)
            assert res.top_ffn_layers == one.top_ffn_layers
            np.testing.assert_array_equal(res.top_ffn_neurons, one.top_ffn_neurons)
