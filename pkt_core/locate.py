"""Logit-lens knowledge attribution (PAPER_NOTES §2): which layers and neurons push the answer.

For one (prompt, answer) example: text = prompt + answer with trailing `. " space ) \\n , ]` stripped,
tokenised without special tokens; the target w is the last token; the model runs on the tokens
before it and everything is read at the last position. With a per-example scale r,

    bs(v) = r · W_U (g ⊙ v)          score(v | b) = log softmax(bs(b + v))[w] − log softmax(bs(b))[w]

  attention layer:       v = o_proj output                       b = layer input
  FFN layer:             v = FFN (down_proj) output              b = layer input + attention output
  FFN neuron k:          v = m_k · W_down[:, k]                  b = layer input + attention output
  attention neuron h,j:  v = s_hj · W_o[:, h·d_head + j]         b = layer input
Scores are summed over the examples.

Why it is fast: for a fixed r, bs is linear, so every neuron's logits are a + c_k·B[:, k] with
B = W_U·diag(g)·W_down (or W_o): input-independent, hence cacheable across calls. With p = softmax(a),

    score_k = c_k·B[w, k] − log Σ_v p_v·exp(c_k·B[v, k])
            = c_k·B[w, k] − log1p(Σ_v p_v·expm1(c_k·B[v, k]))

The expm1/log1p form is the same number, costs one multiply, one expm1 and one mat-vec per element,
and keeps full relative precision for the tiny (~1e-4) scores of many attention neurons, which a
difference of two ~10-sized log-sum-exps would bury in fp32 rounding. Rows where exp overflows (or
the sum nears −1) fall back to the max-shifted log-sum-exp. Score math is fp32 on the lm_head's device
(B's products in TF32 on a GPU: tf32_matmuls). Internals are read with forward hooks and, for α_TT, an
attention function registered with transformers (sdpa plus a read-out of the last query's row):
unmodified transformers models."""
from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass, field, fields
from functools import partial
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pad_sequence

from .models.architectures import ArchSpec, UnsupportedArchitecture, decoder_layers, get_submodule
from .models.loading import tf32_matmuls

STRIP_CHARS = '. ")\n,]'
SCALES = ("sigma_sqrt", "rms")
ATTN_TERMS = ("self", "summed")
KINDS = ("attn", "ffn")
_SCORE_KEYS = ("attn_layer_scores", "ffn_layer_scores", "ffn_neuron_scores", "attn_neuron_scores")
_MIB = 1 << 20
_INNER_ELEMS = 1 << 22  # scoring sub-chunk (16 MiB fp32): few enough ops that threads pay off, L3-sized


class LocateError(ValueError):
    """Bad input or a numerically invalid run; no partial result is returned."""


@dataclass
class LocateConfig:
    # "sigma_sqrt": divide by sqrt(σ + 1e-6), σ = std(h_L), as the released code does (published numbers);
    # "rms": the final RMSNorm's own rsqrt(mean(h_L²) + eps), so that bs(h_L) is the model's own logits.
    scale: str = "sigma_sqrt"
    # "self": s_hj = α_TT · v_T, only the last token's own term (released code);
    # "summed": s_hj = the whole o_proj input Σ_s α_Ts · v_s (the original neuron-attribution method).
    attn_term: str = "self"
    # A call's extra memory: half for scoring chunks and forward sub-batches, half for cached B matrices.
    memory_budget_mb: int = 1024
    # Keep the B matrices in the LocateCache given to locate() when they fit; False recomputes them.
    cache_matrices: bool = True

    def __post_init__(self) -> None:
        for name, allowed in (("scale", SCALES), ("attn_term", ATTN_TERMS)):
            if getattr(self, name) not in allowed:
                raise LocateError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if not isinstance(self.memory_budget_mb, int) or self.memory_budget_mb < 1:
            raise LocateError(f"memory_budget_mb must be a positive integer, got {self.memory_budget_mb!r}")


class LocateCache:
    """B matrices (stored transposed, [neurons, V], fp32) kept across calls, per model and layer.

    Keyed by model identity (weakly: entries die with the model) and layer, and validated by a
    fingerprint of the weights they came from: storage pointer, autograd version counter (catches
    in-place edits such as `W[idx] += d`) and a float64 sum (catches edits through `.data`, which
    bypass the version counter). Holds at most `max_mb` (default: half the call's memory budget).
    """

    def __init__(self, max_mb: float | None = None) -> None:
        self.max_mb = max_mb
        self._store: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @property
    def nbytes(self) -> int:
        return sum(B.nbytes for per in self._store.values() for _, mats in per.values()
                   for B in mats.values())

    def clear(self) -> None:
        self._store.clear()

    def _get(self, model: nn.Module, layer: int, shared_fp: tuple, weights: dict, size: int, cap: float,
             compute) -> dict[str, torch.Tensor] | None:
        """{kind: Bᵀ} of a layer from the cache, computed and stored if it fits, else None."""
        per_model = self._store.setdefault(model, {})
        entry = per_model.get(layer)
        if entry is None and self.nbytes + size > cap:
            return None  # would not fit: skip even the fingerprint
        fp = shared_fp + _fingerprint(*weights.values())
        if entry is not None and entry[0] == fp:
            return entry[1]
        per_model.pop(layer, None)  # stale: the weights changed since
        if self.nbytes + size > cap:
            return None
        per_model[layer] = (fp, compute())
        return per_model[layer][1]


@dataclass
class LocateResult:
    target_token_ids: list[int]
    attn_layer_scores: np.ndarray  # [L]
    ffn_layer_scores: np.ndarray  # [L]
    ffn_neuron_scores: np.ndarray  # [L, f]
    attn_neuron_scores: np.ndarray  # [L, n_heads * head_dim], index h * head_dim + j
    top_attn_layers: list[int]
    top_ffn_layers: list[int]
    top_ffn_neurons: np.ndarray  # [L, top_k]
    top_attn_neurons: np.ndarray  # [L, top_k]
    used_matrix_cache: bool
    seconds: float
    config: LocateConfig = field(default_factory=LocateConfig)
    timings: dict[str, float] = field(default_factory=dict)  # forward / matrices / scoring seconds

    def _scores(self, kind: str, what: str) -> np.ndarray:
        if kind not in KINDS:
            raise LocateError(f"kind must be one of {KINDS}, got {kind!r}")
        return getattr(self, f"{kind}_{what}_scores")

    def layer_scores(self, kind: str) -> np.ndarray:  # [L] (the stored array, not a copy)
        return self._scores(kind, "layer")

    def neuron_scores(self, kind: str) -> np.ndarray:  # [L, width] (the stored array, not a copy)
        return self._scores(kind, "neuron")

    @property
    def target_token_id(self) -> int:  # the first example's target
        return self.target_token_ids[0]

    def top_layers(self, kind: str, n: int | None = None) -> list[int]:
        """Layer indices by score, descending; ties go to the lower index."""
        return _rank(self.layer_scores(kind), n)

    def top_neurons(self, kind: str, layer: int, n: int) -> list[int]:
        # Raw scores, ties to the lower index (the released code rounds to 4 decimals: ~1e-4 scores tie).
        return _rank(self.neuron_scores(kind)[layer], n)

    def to_json(self) -> dict[str, Any]:
        return {"target_token_id": self.target_token_id, "target_token_ids": self.target_token_ids,
                "n_examples": len(self.target_token_ids), **{k: getattr(self, k).tolist() for k in _SCORE_KEYS},
                "top_attn_layers": self.top_attn_layers, "top_ffn_layers": self.top_ffn_layers,
                "top_ffn_neurons": self.top_ffn_neurons.tolist(),
                "top_attn_neurons": self.top_attn_neurons.tolist(), "used_matrix_cache": self.used_matrix_cache,
                "seconds": self.seconds, "timings": self.timings, "config": dict(self.config.__dict__)}

    def to_state(self) -> dict[str, Any]:
        """Only what `from_json` needs (target ids, the four score arrays), as JSON-able lists."""
        return {"target_token_ids": list(self.target_token_ids),
                **{key: getattr(self, key).tolist() for key in _SCORE_KEYS}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, top_k: int = 10) -> LocateResult:
        """The inverse of `to_json`; also reads `to_state`'s dict. Missing top_* fields are ranked from
        the scores as locate ranks them (`top_k` neurons a layer); other bookkeeping gets defaults."""
        ids = data.get("target_token_ids", [data["target_token_id"]] if "target_token_id" in data else [])
        if missing := [k for k in _SCORE_KEYS if k not in data] + ([] if ids else ["target_token_ids"]):
            raise LocateError(f"not a locate result: missing {', '.join(missing)}")
        s = {k: np.asarray(data[k], dtype=np.float64) for k in _SCORE_KEYS}
        L = s["ffn_layer_scores"].shape[:1]  # (n_layers,)
        if any(a.ndim != (1 if "layer" in k else 2) or a.shape[:1] != L for k, a in s.items()) or not L[0]:
            raise LocateError("expected [L] layer and [L, width] neuron scores, L ≥ 1; got "
                              + ", ".join(f"{k} {a.shape}" for k, a in s.items()))
        n_top = max(0, int(top_k))  # given top_* win; missing ones are ranked as locate ranks them
        top = {**{f"top_{kd}_layers": _rank(s[f"{kd}_layer_scores"], None) for kd in KINDS},
               **{f"top_{kd}_neurons": _top_neurons(s[f"{kd}_neuron_scores"], n_top) for kd in KINDS}}
        top.update({key: np.asarray(v, dtype=np.int64).reshape(L[0], -1) if "neurons" in key
                    else [int(i) for i in v] for key in top if (v := data.get(key)) is not None})
        known = {f.name for f in fields(LocateConfig)}
        return cls([int(t) for t in ids], **s, **top, used_matrix_cache=bool(data.get("used_matrix_cache")),
                   seconds=float(data.get("seconds", 0.0)), timings=dict(data.get("timings") or {}),
                   config=LocateConfig(**{k: v for k, v in (data.get("config") or {}).items() if k in known}))


def _rank(scores: np.ndarray, n: int | None) -> list[int]:
    return np.argsort(-scores, kind="stable")[:n].tolist()  # stable sort: equal scores keep index order


def _top_neurons(scores: np.ndarray, k: int) -> np.ndarray:  # [L, width] → [L, k], k ≥ 0
    return np.array([_rank(row, k) for row in scores], dtype=np.int64).reshape(len(scores), -1)


# ---- modules ----------------------------------------------------------------------------------
@dataclass
class _Parts:
    layers: nn.ModuleList
    base: nn.Module  # the decoder stack without lm_head: we never need the [N, T, V] logits
    W_U: torch.Tensor  # lm_head weight [V, d]
    g_param: torch.Tensor  # final norm weight [d] as stored (fingerprinted)
    g: torch.Tensor  # the same in fp32
    eps: float
    n_heads: int
    n_kv: int
    head_dim: int


def _parts(model: nn.Module, spec: ArchSpec) -> _Parts:
    try:
        layers = decoder_layers(model, spec)
        base = get_submodule(model, spec.layers.rsplit(".", 1)[0]) if "." in spec.layers else model
        W_U = get_submodule(model, spec.lm_head).weight
        norm = get_submodule(model, spec.final_norm)
        for name in ("attn_norm", "attn", "v_proj", "o_proj", "down_proj"):
            get_submodule(layers[0], spec.block_module(name))
    except (UnsupportedArchitecture, AttributeError, IndexError, TypeError) as err:
        raise LocateError(f"model lacks the modules locate needs for family '{spec.family}': {err}") from err
    g = getattr(norm, "weight", None)
    if g is None or W_U.ndim != 2 or g.shape != (W_U.shape[1],):
        raise LocateError("final norm weight and lm_head do not match (expected g [d], W_U [V, d])")
    n_heads = int(getattr(model.config, spec.heads_attr))
    head_dim = get_submodule(layers[0], spec.o_proj).weight.shape[1] // n_heads
    n_kv = get_submodule(layers[0], spec.v_proj).weight.shape[0] // head_dim
    eps = float(getattr(norm, "variance_epsilon", getattr(model.config, spec.rms_eps_attr, 1e-6)))
    return _Parts(layers, base, W_U, g, g.detach().float(), eps, n_heads, n_kv, head_dim)


def _module(layer: nn.Module, spec: ArchSpec, name: str) -> nn.Module:
    return get_submodule(layer, spec.block_module(name))


def unembed_neuron_matrices(model: nn.Module, spec: ArchSpec, layer: int,
                            columns: slice | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """B_down = W_U·diag(g)·W_down [V, f] and B_o = W_U·diag(g)·W_o [V, n_heads·head_dim], in fp32.

    The input-independent, unavoidable work of neuron attribution (what LocateCache keeps). `columns`
    restricts both to a neuron range (for chunked use; a range past o_proj's width gives B_o [V, 0]).
    """
    p, cols = _parts(model, spec), columns or slice(None)
    W_U, block = p.W_U.detach().float(), p.layers[layer]
    return tuple(_unembed_T(W_U, p.g, _module(block, spec, n).weight[:, cols]).T  # type: ignore[return-value]
                 for n in ("down_proj", "o_proj"))


def _unembed_T(W_U: torch.Tensor, g: torch.Tensor, W_cols: torch.Tensor) -> torch.Tensor:
    """(W_U·diag(g)·W_cols)ᵀ = (W_colsᵀ ⊙ g) @ W_Uᵀ, [K, V]: each neuron's V logits in one row."""
    with tf32_matmuls(W_U.device):
        return (W_cols.detach().to(W_U.device, torch.float32).T * g.to(W_U.device)) @ W_U.T


# ---- the attention probabilities without eager attention ---------------------------------------
# The "self" attention term needs α_TT, the last query's attention probability on its own token. Eager
# attention materialises every probability and is ~15-30% slower than sdpa on CPU, so locate runs the
# model with an attention implementation registered under its own name: sdpa for the output, plus a
# callback that recomputes only the last query's row from the query/key states the model hands to its
# attention function — after RoPE, q/k norms and any family detail, so nothing about an architecture
# is re-implemented here.
_CAPTURING_SDPA = "pkt_locate_sdpa"
_active = threading.local()  # .on_attention: callback(module, query, key, value, kwargs) or absent


def _capturing_sdpa(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                    attention_mask: torch.Tensor | None, **kwargs: Any) -> tuple[torch.Tensor, Any]:
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    callback = getattr(_active, "on_attention", None)
    if callback is not None:
        callback(module, query, key, value, kwargs)
    return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


def _register_capturing_sdpa() -> str:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    if _CAPTURING_SDPA not in AttentionInterface._global_mapping:
        AttentionInterface.register(_CAPTURING_SDPA, _capturing_sdpa)
        AttentionMaskInterface.register(_CAPTURING_SDPA, sdpa_mask)
    return _CAPTURING_SDPA


def _last_query_self_attention(query: torch.Tensor, key: torch.Tensor, rows: torch.Tensor,
                               last: torch.Tensor, kv_of_head: torch.Tensor, scaling: float,
                               sliding_window: int | None) -> torch.Tensor:
    """α_TT [n, H]: softmax over keys s ≤ T (within the window) of q_T·k_s·scaling, taken at s = T.

    Right padding comes after position T, so causality alone excludes it; fp32 like eager's softmax."""
    q = query[rows, :, last].float()  # [n, H, hd]
    k = key[rows][:, kv_of_head].float()  # [n, H, T, hd] (grouped-query: head h reads kv h // group)
    scores = torch.einsum("nhd,nhtd->nht", q, k) * scaling
    pos = torch.arange(k.shape[2], device=k.device)
    allowed = pos[None, :] <= last[:, None]
    if sliding_window:
        allowed &= pos[None, :] > (last[:, None] - sliding_window)
    scores = scores.masked_fill(~allowed[:, None, :], float("-inf"))
    probs = torch.softmax(scores, -1)
    return probs[torch.arange(len(rows), device=probs.device), :, last]


# ---- tokenisation and the forward pass ----------------------------------------------------------
def _tokenize(tokenizer: Any, examples: Sequence[tuple[str, str]], max_positions: int | None
              ) -> tuple[list[list[int]], list[int]]:
    if isinstance(examples, tuple) and len(examples) == 2 and all(isinstance(e, str) for e in examples):
        raise LocateError("examples must be a sequence of (prompt, answer) pairs; got a single pair")
    examples = list(examples)
    if not examples:
        raise LocateError("no examples given")
    inputs, targets = [], []
    for i, example in enumerate(examples):
        if not (isinstance(example, (tuple, list)) and len(example) == 2):
            raise LocateError(f"example {i}: expected a (prompt, answer) pair, got {example!r:.80}")
        prompt, answer = example
        for what, text in (("prompt", prompt), ("answer", answer)):
            if not isinstance(text, str) or not text.strip():
                raise LocateError(f"example {i}: the {what} is empty")
        kept = answer.rstrip(STRIP_CHARS)  # == (prompt + answer).rstrip(...) whenever kept is non-empty
        if not kept or not tokenizer(kept, add_special_tokens=False)["input_ids"]:
            raise LocateError(f"example {i}: the answer {answer!r:.80} tokenises to nothing after "
                              f"stripping trailing {STRIP_CHARS!r}, so there is no target token")
        ids = list(tokenizer(prompt + kept, add_special_tokens=False)["input_ids"])
        if len(ids) < 2:
            raise LocateError(f"example {i}: prompt + answer is a single token; nothing precedes the target")
        if max_positions and len(ids) > max_positions:
            raise LocateError(f"example {i}: prompt + answer is {len(ids)} tokens, longer than the "
                              f"model's context of {max_positions} (max_position_embeddings)")
        inputs.append(ids[:-1])
        targets.append(ids[-1])
    return inputs, targets


class _Recorder:
    """The hooks of one capture: each keeps its module's state at every row's last real position, fp32
    on `device`, as cur[name, layer] [n, width] for the running sub-batch (names: see _capture)."""
    # (module of a block, name of the state read from its input, name of the state read from its output)
    TAPS = (("attn_norm", "x", None), ("o_proj", "s", "attn"), ("down_proj", "m", "ffn"))

    def __init__(self, p: _Parts, spec: ArchSpec, need_alpha: bool, device: torch.device) -> None:
        self.p, self.spec, self.need_alpha, self.device = p, spec, need_alpha, device
        self.kv_of_head = torch.arange(p.n_heads) // (p.n_heads // p.n_kv)  # [H] (grouped-query attention)
        self.layer_of_attention = {id(_module(block, spec, "attn")): i for i, block in enumerate(p.layers)}
        self.cur: dict[tuple[str, int], torch.Tensor] = {}
        self.rows = self.last = torch.zeros(0, dtype=torch.long)  # [n]: each row, its last real position T

    def grab(self, t: torch.Tensor) -> torch.Tensor:  # [n, T, width] → [n, width]
        if t.shape[1] == 1:  # the last block's FFN only ran on the last positions (see _on_last_ffn)
            return t[:, 0].to(self.device, torch.float32)
        return t[self.rows.to(t.device), self.last.to(t.device)].to(self.device, torch.float32)

    def install(self) -> list:  # → the handles, for the caller to remove
        handles = [_module(block, self.spec, module).register_forward_hook(
                       partial(self._store, i, from_input, from_output), with_kwargs=True)
                   for i, block in enumerate(self.p.layers) for module, from_input, from_output in self.TAPS]
        last, mlp = self.p.layers[-1], _module(self.p.layers[-1], self.spec, "mlp")
        return handles + [last.register_forward_hook(partial(self._store, 0, None, "h"), with_kwargs=True),
                          mlp.register_forward_pre_hook(self._on_last_ffn, with_kwargs=True)]

    def _store(self, i: int, from_input: str | None, from_output: str | None, mod, args, kwargs, out) -> None:
        if from_input and not (from_input == "s" and self.need_alpha):  # then α_TT·v_T: see on_attention
            self.cur[from_input, i] = self.grab(args[0] if args else next(iter(kwargs.values())))
        if from_output:
            self.cur[from_output, i] = self.grab(out[0] if isinstance(out, tuple) else out)

    def on_attention(self, module, query, key, value, kwargs) -> None:  # q/k/v [batch, heads, T, hd]
        i = self.layer_of_attention.get(id(module))
        if i is None:
            return
        rows, last, kv = (t.to(query.device) for t in (self.rows, self.last, self.kv_of_head))
        alpha = _last_query_self_attention(query, key, rows, last, kv, kwargs.get("scaling") or
                                           self.p.head_dim ** -0.5, kwargs.get("sliding_window"))  # [n, H]
        v = value[rows][:, kv][torch.arange(len(rows), device=value.device), :, last]  # [n, H, hd]
        self.cur["s", i] = (alpha[:, :, None] * v.float()).flatten(1).to(self.device)  # [n, H·hd]

    def _on_last_ffn(self, mod, args, kwargs):
        # After the last block nothing reads the other positions (h_L is taken at the last one), so
        # its FFN runs on the last positions only, [n, 1, d]; the residual add broadcasts, leaving
        # every row's last position exact and the others meaningless. Saves 2/3 of a block's work.
        x = args[0] if args else next(iter(kwargs.values()))
        if x.dim() != 3 or self.last.numel() != x.shape[0]:
            return None
        last = x[self.rows.to(x.device), self.last.to(x.device)][:, None]
        if args:
            return (last,) + tuple(args[1:]), kwargs
        return args, {**kwargs, next(iter(kwargs)): last}


def _capture(model: nn.Module, spec: ArchSpec, p: _Parts, inputs: list[list[int]], need_alpha: bool,
             work_bytes: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Run the model with hooks; return last-position states [N, L, width] (fp32) and h_L [N, d].

    Keys: x = layer input, attn = o_proj output, ffn = down_proj output, m = down_proj input,
    s = attention-neuron coefficient (o_proj input, or α_TT·v_T when need_alpha), h = last layer output.
    """
    recorder = _Recorder(p, spec, need_alpha, device)
    # Right-padded sub-batches (causal attention: padding after a sequence cannot affect it), as many
    # examples per forward as the work budget allows — usually all of them, i.e. one forward.
    d, f, T = p.W_U.shape[1], _module(p.layers[0], spec, "down_proj").weight.shape[1], max(map(len, inputs))
    per_example = 4 * T * (3 * f + 8 * d + (p.n_heads * T if need_alpha else 0))
    per_batch = max(1, work_bytes // max(per_example, 1))
    embed_device = get_submodule(model, spec.embed).weight.device
    parts: dict[tuple[str, int], list[torch.Tensor]] = {}  # (name, layer) → [n, width] per sub-batch
    handles = recorder.install()
    if need_alpha:
        _active.on_attention = recorder.on_attention
    try:
        for b0 in range(0, len(inputs), per_batch):
            chunk = inputs[b0:b0 + per_batch]  # pad id 0: any id will do, it comes after every real token
            ids = pad_sequence([torch.tensor(row) for row in chunk], batch_first=True, padding_value=0)
            mask = pad_sequence([torch.ones(len(row), dtype=torch.long) for row in chunk], batch_first=True)
            recorder.rows, recorder.last = torch.arange(len(chunk)), torch.tensor([len(r) - 1 for r in chunk])
            recorder.cur.clear()
            p.base(input_ids=ids.to(embed_device), attention_mask=mask.to(embed_device), use_cache=False)
            for key, value in recorder.cur.items():
                parts.setdefault(key, []).append(value)
    finally:
        _active.on_attention = None
        for h in handles:
            h.remove()
    if need_alpha and any(("s", i) not in parts for i in range(len(p.layers))):
        raise LocateError("could not read the attention states of every layer (the model did not call its "
                          "attention function through transformers' AttentionInterface); use attn_term='summed'")
    out = {k: torch.stack([torch.cat(parts[k, i]) for i in range(len(p.layers))], 1)  # [N, L, width]
           for k in ("x", "attn", "ffn", "m", "s")}
    out["h"] = torch.cat(parts["h", 0])  # [N, d]
    for k, v in out.items():
        if not torch.isfinite(v).all():
            raise LocateError(f"non-finite activations ({k}) in the forward pass: the model's weights or "
                              f"inputs produce NaN/inf, so no attribution can be computed")
    return out


# ---- scoring ------------------------------------------------------------------------------------
def _neuron_scores(logp: torch.Tensor, c: torch.Tensor, w: torch.Tensor, rows_of_BT,
                   n: int, outer: int, buf: torch.Tensor) -> torch.Tensor:
    """Every example's score of every neuron: c·B[w] − log1p(Σ_v p_v expm1(c·B[v])). → [N, n] float64.

    logp [N, V] = log softmax of the base logits, c [N, n] coefficients (already times r), w [N]
    targets, rows_of_BT(k0, k1) → [K, V] rows of Bᵀ. Chunks of `outer` rows of Bᵀ are produced,
    then scored in sub-chunks that fit `buf` (so the working set stays in cache).
    """
    N, V = logp.shape
    prob = logp.exp()
    total = torch.empty(N, n, dtype=torch.float64, device=c.device)
    # [N, 1, V] @ [N, V, k] (the delta transposed): BLAS runs this row-times-matrix form ~4x faster
    # than the equivalent [N, k, V] @ [N, V, 1], which it treats as N separate skinny products.
    p_row = prob.unsqueeze(1)
    inner = max(1, min(outer, buf.numel() // (N * V)))
    for k0 in range(0, n, outer):
        BT = rows_of_BT(k0, min(n, k0 + outer))
        K = BT.shape[0]
        cc = c[:, k0:k0 + K]
        S = torch.empty(N, K, device=c.device)
        for j0 in range(0, K, inner):  # the hot loop: 3 element passes over [N, k, V], all in cache
            k = min(inner, K - j0)
            delta = torch.mul(BT[None, j0:j0 + k], cc[:, j0:j0 + k, None], out=buf[:N * k * V].view(N, k, V))
            S[:, j0:j0 + k] = torch.bmm(p_row, delta.expm1_().transpose(1, 2)).squeeze(1)  # Σ_v p_v·expm1(c·B)
        target = cc * BT[:, w].T  # [N, K]: each example's own target-logit shift
        score = target - torch.log1p(S)
        bad = ~((S > -0.5) & (S < float("inf")))  # overflow/NaN, or an effect so large log1p loses bits
        if bad.any():
            rows, cols = bad.nonzero(as_tuple=True)
            x = logp[rows] + cc[rows, cols, None] * BT[cols]
            score[rows, cols] = target[rows, cols] - torch.logsumexp(x, -1)
        total[:, k0:k0 + K] = score.double()
    return total


def _fingerprint(*tensors: torch.Tensor) -> tuple:
    # float64 sum: any real change of an fp32 weight (≥ 1 ulp) moves it, even a 1e-9 injection
    return tuple((t.data_ptr(), t._version, tuple(t.shape), t.dtype,
                  float(t.detach().sum(dtype=torch.float64))) for t in tensors)


def locate(model: nn.Module, tokenizer: Any, spec: ArchSpec, examples: Sequence[tuple[str, str]],
           config: LocateConfig | None = None, top_k: int = 10,
           cache: LocateCache | None = None) -> LocateResult:
    """Layer and neuron attribution scores of `examples` (PAPER_NOTES §2), summed over the examples.

    One forward per model (right-padded batch) with hooks; neuron scores in chunks bounded by
    config.memory_budget_mb; B matrices reused from `cache` when given and they fit.
    """
    return _locate(model, tokenizer, spec, examples, config or LocateConfig(), top_k, cache, False)[0]


def locate_each(model: nn.Module, tokenizer: Any, spec: ArchSpec, examples: Sequence[tuple[str, str]],
                config: LocateConfig | None = None, top_k: int = 10,
                cache: LocateCache | None = None) -> list[LocateResult]:
    """One result per example — the same numbers as `locate(…, [example])` for each — from one
    batched forward and one pass over the B matrices (LaTen locates every extract example: batching
    them amortises the per-call work). `seconds` and `timings` are the batch's, divided evenly."""
    return _locate(model, tokenizer, spec, examples, config or LocateConfig(), top_k, cache, True)


def _locate(model: nn.Module, tokenizer: Any, spec: ArchSpec, examples: Sequence[tuple[str, str]],
            config: LocateConfig, top_k: int, cache: LocateCache | None,
            per_example: bool) -> list[LocateResult]:
    start = time.perf_counter()
    p = _parts(model, spec)
    inputs, targets = _tokenize(tokenizer, examples, getattr(model.config, "max_position_embeddings", None))
    work_bytes = config.memory_budget_mb * _MIB // 2  # the other half is for a LocateCache
    need_alpha = config.attn_term == "self"
    prev_impl, was_training = model.config._attn_implementation, model.training
    try:
        if was_training:  # (eval() walks every module; skip it when there is nothing to change)
            model.eval()
        if need_alpha:  # sdpa plus a callback that reads the last query's row (see _capturing_sdpa).
            # The config setter (it recurses into sub-configs) costs nothing; set_attn_implementation()
            # walks every module, twice a call.
            model.config._attn_implementation = _register_capturing_sdpa()
        with torch.no_grad():
            acts = _capture(model, spec, p, inputs, need_alpha, work_bytes, p.W_U.device)
    finally:
        model.config._attn_implementation = prev_impl
        if was_training:
            model.train()
    timings = {"forward": time.perf_counter() - start, "matrices": 0.0, "scoring": 0.0}
    with torch.no_grad():
        layer_scores, neuron_scores, used_cache = _score(model, spec, p, acts, targets, config, work_bytes,
                                                         cache, per_example, timings)
    # [groups, L] and [groups, L, width]: one group per example, or one for the sum over examples
    attn_l, ffn_l = (layer_scores[k] if per_example else layer_scores[k].sum(0, keepdim=True) for k in KINDS)
    attn_n, ffn_n = (torch.stack(neuron_scores[k], 1).cpu() for k in KINDS)
    for name, t in (("layer", attn_l), ("layer", ffn_l), ("FFN neuron", ffn_n), ("attention neuron", attn_n)):
        if not torch.isfinite(t).all():
            raise LocateError(f"non-finite {name} scores: the model gives NaN/inf logits on these examples")
    attn_l, ffn_l, ffn_n, attn_n = (t.cpu().numpy() for t in (attn_l, ffn_l, ffn_n, attn_n))
    groups, k = [[t] for t in targets] if per_example else [targets], max(0, int(top_k))
    share = 1.0 / len(groups)
    seconds = (time.perf_counter() - start) * share
    return [LocateResult(
        target_token_ids=ids, attn_layer_scores=attn_l[g], ffn_layer_scores=ffn_l[g],
        ffn_neuron_scores=ffn_n[g], attn_neuron_scores=attn_n[g],
        top_attn_layers=_rank(attn_l[g], None), top_ffn_layers=_rank(ffn_l[g], None),
        top_ffn_neurons=_top_neurons(ffn_n[g], k), top_attn_neurons=_top_neurons(attn_n[g], k),
        used_matrix_cache=used_cache, seconds=seconds, config=config,
        timings={k_: round(v * share, 4) for k_, v in timings.items()})
        for g, ids in enumerate(groups)]


def _score(model: nn.Module, spec: ArchSpec, p: _Parts, acts: dict[str, torch.Tensor], targets: list[int],
           config: LocateConfig, work_bytes: int, cache: LocateCache | None, per_example: bool,
           timings: dict[str, float]) -> tuple[dict[str, torch.Tensor], dict[str, list[torch.Tensor]], bool]:
    """Layer scores {kind: [N, L]}, neuron scores {kind: L × [N, width]} (per example) or L × [1, width]
    (summed), and whether cached B matrices were used; adds matrices/scoring seconds to `timings`."""
    W_U, h = p.W_U.detach().float(), acts["h"]  # .float() copies only for non-fp32 models
    g, device = p.g.to(W_U.device), W_U.device
    if config.scale == "sigma_sqrt":  # released: 1/sqrt(σ + 1e-6) with σ = sqrt(var + 1e-5)
        r = torch.rsqrt(torch.sqrt(h.var(-1, unbiased=False) + 1e-5) + 1e-6)  # [N]
    else:
        r = torch.rsqrt(h.pow(2).mean(-1) + p.eps)

    def unembed(W: torch.Tensor, k0: int, k1: int) -> torch.Tensor:  # rows k0:k1 of Bᵀ, timed
        t = time.perf_counter()
        out = _unembed_T(W_U, g, W[:, k0:k1])
        timings["matrices"] += time.perf_counter() - t
        return out

    w, examples = torch.tensor(targets, device=device), torch.arange(len(targets), device=device)  # [N]
    (N, V), d, n_layers = (len(targets), W_U.shape[0]), W_U.shape[1], len(p.layers)
    # Work budget: half for a chunk of Bᵀ rows (+ its [K, d] operand), a quarter for the scoring
    # buffer, a quarter for the logit lens of a group of layers.
    outer = max(1, (work_bytes // 2) // (4 * (V + d)))
    buf = torch.empty(max(N * V, min(_INNER_ELEMS, (work_bytes // 4) // 4)), device=device)
    lens_layers = max(1, (work_bytes // 4) // (4 * 6 * N * V))
    use_cache = cache is not None and config.cache_matrices
    cap = (cache.max_mb if use_cache and cache.max_mb is not None else config.memory_budget_mb / 2) * _MIB
    shared_fp = _fingerprint(p.W_U, p.g_param) if use_cache else ()
    used_cache, t_loop = False, time.perf_counter()
    layer_scores = {k: torch.zeros(N, n_layers, dtype=torch.float64) for k in KINDS}
    neuron_scores: dict[str, list[torch.Tensor]] = {k: [] for k in KINDS}
    for i, block in enumerate(p.layers):
        W = {"ffn": _module(block, spec, "down_proj").weight, "attn": _module(block, spec, "o_proj").weight}
        full = None  # {kind: Bᵀ} when cached; else Bᵀ is produced chunk by chunk
        if use_cache:
            t0 = time.perf_counter()
            full = cache._get(model, i, shared_fp, W, 4 * V * sum(w_.shape[1] for w_ in W.values()), cap,
                              lambda: {k: _unembed_T(W_U, g, W_) for k, W_ in W.items()})
            used_cache |= full is not None
            timings["matrices"] += time.perf_counter() - t0
        if i % lens_layers == 0:  # one product for the lens of bases x, x + attn and outputs attn, ffn
            x, attn, ffn = (acts[k][:, i:i + lens_layers].transpose(0, 1) for k in ("x", "attn", "ffn"))
            v = torch.stack([x, x + attn, attn, ffn], 1)  # [layers, 4, N, d]
            lens = r[:, None] * ((v * g) @ W_U.T)  # bs(v) = r·W_U(g ⊙ v): [layers, 4, N, V]
            logps = torch.log_softmax(lens[:, :2], -1)  # [layers, 2, N, V]: log p of the two bases
        for j, kind, coef in ((0, "attn", acts["s"][:, i]), (1, "ffn", acts["m"][:, i])):  # coef [N, width]
            lp, delta = logps[i % lens_layers, j], lens[i % lens_layers, 2 + j]  # [N, V] each
            # log softmax(a + Δ)[w] − log softmax(a)[w] = Δ_w − logsumexp(log p + Δ), per example
            layer_scores[kind][:, i] = (delta[examples, w] - torch.logsumexp(lp + delta, -1)).double()
            rows = ((lambda k0, k1, B=full[kind]: B[k0:k1]) if full is not None
                    else (lambda k0, k1, W_=W[kind]: unembed(W_, k0, k1)))
            # coefficients times r, since bs(b + c·u) = bs(b) + c·r·W_U(g ⊙ u)
            scores = _neuron_scores(lp, r[:, None] * coef, w, rows, coef.shape[-1], outer, buf)  # [N, width]
            neuron_scores[kind].append(scores if per_example else scores.sum(0, keepdim=True))
    timings["scoring"] = time.perf_counter() - t_loop - timings["matrices"]
    return layer_scores, neuron_scores, used_cache
