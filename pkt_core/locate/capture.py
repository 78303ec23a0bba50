"""Tokenisation and the forward pass: each layer's states at every example's last position.

The hooks read the states of unmodified transformers models; α_TT comes from the capturing
attention (attention.py).
"""
from __future__ import annotations

from functools import partial
from typing import Any, Sequence

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pad_sequence

from ..models.architectures import ArchSpec, get_submodule
from .attention import attention_callback, last_query_self_attention
from .config import LocateError
from .parts import ModelParts, block_module

STRIP_CHARS = '. ")\n,]'


def tokenize_examples(tokenizer: Any, examples: Sequence[tuple[str, str]],
                      max_positions: int | None) -> tuple[list[list[int]], list[int]]:
    """(inputs, targets): each example's tokens before the target, and the target token.

    text = prompt + answer with trailing STRIP_CHARS stripped, tokenised without special tokens;
    the target is its last token. LocateError names the first example that cannot be used.
    """
    if (isinstance(examples, tuple) and len(examples) == 2
            and all(isinstance(e, str) for e in examples)):
        raise LocateError("examples must be a sequence of (prompt, answer) pairs; "
                          "got a single pair")
    examples = list(examples)
    if not examples:
        raise LocateError("no examples given")
    inputs, targets = [], []
    for i, example in enumerate(examples):
        ids = _example_tokens(tokenizer, i, example, max_positions)
        inputs.append(ids[:-1])
        targets.append(ids[-1])
    return inputs, targets


def _example_tokens(tokenizer: Any, i: int, example: Any, max_positions: int | None) -> list[int]:
    if not (isinstance(example, (tuple, list)) and len(example) == 2):
        raise LocateError(f"example {i}: expected a (prompt, answer) pair, got {example!r:.80}")
    prompt, answer = example
    for what, text in (("prompt", prompt), ("answer", answer)):
        if not isinstance(text, str) or not text.strip():
            raise LocateError(f"example {i}: the {what} is empty")
    # == (prompt + answer).rstrip(...) whenever kept is non-empty
    kept = answer.rstrip(STRIP_CHARS)
    if not kept or not tokenizer(kept, add_special_tokens=False)["input_ids"]:
        raise LocateError(f"example {i}: the answer {answer!r:.80} tokenises to nothing after "
                          f"stripping trailing {STRIP_CHARS!r}, so there is no target token")
    ids = list(tokenizer(prompt + kept, add_special_tokens=False)["input_ids"])
    if len(ids) < 2:
        raise LocateError(f"example {i}: prompt + answer is a single token; "
                          "nothing precedes the target")
    if max_positions and len(ids) > max_positions:
        raise LocateError(f"example {i}: prompt + answer is {len(ids)} tokens, longer than the "
                          f"model's context of {max_positions} (max_position_embeddings)")
    return ids


class StateRecorder:
    """The hooks of one capture: each keeps its module's state at every row's last real position,
    fp32 on `device`, as cur[name, layer] [n, width] for the running sub-batch (names: see
    capture_states)."""
    # (module of a block, name of the state read from its input, name of the state read from its
    # output)
    TAPS = (("attn_norm", "x", None), ("o_proj", "s", "attn"), ("down_proj", "m", "ffn"))

    def __init__(self, parts: ModelParts, spec: ArchSpec, need_alpha: bool,
                 device: torch.device) -> None:
        self.parts = parts
        self.spec = spec
        self.need_alpha = need_alpha
        self.device = device
        # [H]: the kv head each query head reads (grouped-query attention)
        self.kv_of_head = torch.arange(parts.n_heads) // (parts.n_heads // parts.n_kv)
        self.layer_of_attention = {id(block_module(block, spec, "attn")): i
                                   for i, block in enumerate(parts.layers)}
        self.cur: dict[tuple[str, int], torch.Tensor] = {}
        # [n]: each row, and its last real position T
        self.rows = self.last = torch.zeros(0, dtype=torch.long)

    def grab(self, t: torch.Tensor) -> torch.Tensor:
        """[n, T, width] → [n, width] at each row's last real position."""
        if t.shape[1] == 1:  # the last block's FFN only ran on the last positions (_on_last_ffn)
            return t[:, 0].to(self.device, torch.float32)
        at_last = t[self.rows.to(t.device), self.last.to(t.device)]
        return at_last.to(self.device, torch.float32)

    def install(self) -> list:
        """Register the hooks; → their handles, for the caller to remove."""
        handles = [block_module(block, self.spec, module).register_forward_hook(
                       partial(self._store, i, from_input, from_output), with_kwargs=True)
                   for i, block in enumerate(self.parts.layers)
                   for module, from_input, from_output in self.TAPS]
        last = self.parts.layers[-1]
        mlp = block_module(last, self.spec, "mlp")
        return handles + [
            last.register_forward_hook(partial(self._store, 0, None, "h"), with_kwargs=True),
            mlp.register_forward_pre_hook(self._on_last_ffn, with_kwargs=True)]

    def _store(self, i: int, from_input: str | None, from_output: str | None,
               mod: nn.Module, args: tuple, kwargs: dict, out: Any) -> None:
        # With need_alpha, s is α_TT·v_T instead of o_proj's input: see on_attention
        if from_input and not (from_input == "s" and self.need_alpha):
            self.cur[from_input, i] = self.grab(args[0] if args else next(iter(kwargs.values())))
        if from_output:
            self.cur[from_output, i] = self.grab(out[0] if isinstance(out, tuple) else out)

    def on_attention(self, module: nn.Module, query: torch.Tensor, key: torch.Tensor,
                     value: torch.Tensor, kwargs: dict) -> None:
        """Record s = α_TT·v_T of an attention layer; q/k/v are [batch, heads, T, head_dim]."""
        i = self.layer_of_attention.get(id(module))
        if i is None:
            return
        rows, last, kv = (t.to(query.device) for t in (self.rows, self.last, self.kv_of_head))
        scaling = kwargs.get("scaling") or self.parts.head_dim ** -0.5
        alpha = last_query_self_attention(query, key, rows, last, kv, scaling,
                                          kwargs.get("sliding_window"))  # [n, H]
        v = value[rows][:, kv][torch.arange(len(rows), device=value.device), :, last]  # [n, H, hd]
        self.cur["s", i] = (alpha[:, :, None] * v.float()).flatten(1).to(self.device)  # [n, H·hd]

    def _on_last_ffn(self, mod: nn.Module, args: tuple, kwargs: dict) -> tuple | None:
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


def capture_states(model: nn.Module, spec: ArchSpec, parts: ModelParts, inputs: list[list[int]],
                   need_alpha: bool, work_bytes: int,
                   device: torch.device) -> dict[str, torch.Tensor]:
    """Run the model with hooks; return last-position states [N, L, width] (fp32) and h_L [N, d].

    Keys: x = layer input, attn = o_proj output, ffn = down_proj output, m = down_proj input,
    s = attention-neuron coefficient (o_proj input, or α_TT·v_T when need_alpha), h = last layer
    output.
    """
    recorder = StateRecorder(parts, spec, need_alpha, device)
    per_batch = _examples_per_forward(spec, parts, inputs, need_alpha, work_bytes)
    embed_device = get_submodule(model, spec.embed).weight.device
    # (name, layer) → [n, width] per sub-batch
    pieces: dict[tuple[str, int], list[torch.Tensor]] = {}
    handles = recorder.install()
    try:
        with attention_callback(recorder.on_attention if need_alpha else None):
            for b0 in range(0, len(inputs), per_batch):
                _forward(parts, recorder, inputs[b0:b0 + per_batch], embed_device, pieces)
    finally:
        for h in handles:
            h.remove()
    return _stacked(pieces, len(parts.layers), need_alpha)


def _examples_per_forward(spec: ArchSpec, parts: ModelParts, inputs: list[list[int]],
                          need_alpha: bool, work_bytes: int) -> int:
    # Right-padded sub-batches (causal attention: padding after a sequence cannot affect it), as
    # many examples per forward as the work budget allows — usually all of them, i.e. one forward.
    d = parts.W_U.shape[1]
    f = block_module(parts.layers[0], spec, "down_proj").weight.shape[1]
    T = max(map(len, inputs))
    per_example = 4 * T * (3 * f + 8 * d + (parts.n_heads * T if need_alpha else 0))
    return max(1, work_bytes // max(per_example, 1))


def _forward(parts: ModelParts, recorder: StateRecorder, chunk: list[list[int]],
             embed_device: torch.device, pieces: dict[tuple[str, int], list[torch.Tensor]]) -> None:
    """One right-padded forward of `chunk`; appends what the recorder kept to `pieces`."""
    # pad id 0: any id will do, it comes after every real token
    ids = pad_sequence([torch.tensor(row) for row in chunk], batch_first=True, padding_value=0)
    mask = pad_sequence([torch.ones(len(row), dtype=torch.long) for row in chunk],
                        batch_first=True)
    recorder.rows = torch.arange(len(chunk))
    recorder.last = torch.tensor([len(row) - 1 for row in chunk])
    recorder.cur.clear()
    parts.base(input_ids=ids.to(embed_device), attention_mask=mask.to(embed_device),
               use_cache=False)
    for key, value in recorder.cur.items():
        pieces.setdefault(key, []).append(value)


def _stacked(pieces: dict[tuple[str, int], list[torch.Tensor]], n_layers: int,
             need_alpha: bool) -> dict[str, torch.Tensor]:
    """The sub-batches joined: {x, attn, ffn, m, s: [N, L, width], h: [N, d]}, all finite."""
    if need_alpha and any(("s", i) not in pieces for i in range(n_layers)):
        raise LocateError("could not read the attention states of every layer (the model did not "
                          "call its attention function through transformers' AttentionInterface); "
                          "use attn_term='summed'")
    out = {key: torch.stack([torch.cat(pieces[key, i]) for i in range(n_layers)], 1)
           for key in ("x", "attn", "ffn", "m", "s")}
    out["h"] = torch.cat(pieces["h", 0])
    for key, value in out.items():
        if not torch.isfinite(value).all():
            raise LocateError(f"non-finite activations ({key}) in the forward pass: the model's "
                              f"weights or inputs produce NaN/inf, so no attribution can be "
                              f"computed")
    return out
