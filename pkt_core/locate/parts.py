"""The modules locate reads from a model, and the unembedded neuron matrices B built from them."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..models.architectures import ArchSpec, UnsupportedArchitecture, decoder_layers, get_submodule
from ..models.loading import tf32_matmuls
from .config import LocateError


@dataclass
class ModelParts:
    layers: nn.ModuleList
    base: nn.Module  # the decoder stack without lm_head: we never need the [N, T, V] logits
    W_U: torch.Tensor  # lm_head weight [V, d]
    g_param: torch.Tensor  # final norm weight [d] as stored (fingerprinted)
    g: torch.Tensor  # the same in fp32
    eps: float
    n_heads: int
    n_kv: int
    head_dim: int


def model_parts(model: nn.Module, spec: ArchSpec) -> ModelParts:
    """The modules and shapes locate needs; LocateError when the model lacks them."""
    try:
        layers = decoder_layers(model, spec)
        if "." in spec.layers:
            base = get_submodule(model, spec.layers.rsplit(".", 1)[0])
        else:
            base = model
        W_U = get_submodule(model, spec.lm_head).weight
        norm = get_submodule(model, spec.final_norm)
        for name in ("attn_norm", "attn", "v_proj", "o_proj", "down_proj"):
            get_submodule(layers[0], spec.block_module(name))
    except (UnsupportedArchitecture, AttributeError, IndexError, TypeError) as err:
        raise LocateError(f"model lacks the modules locate needs for family "
                          f"'{spec.family}': {err}") from err
    g = getattr(norm, "weight", None)
    if g is None or W_U.ndim != 2 or g.shape != (W_U.shape[1],):
        raise LocateError("final norm weight and lm_head do not match "
                          "(expected g [d], W_U [V, d])")
    n_heads = int(getattr(model.config, spec.heads_attr))
    head_dim = get_submodule(layers[0], spec.o_proj).weight.shape[1] // n_heads
    n_kv = get_submodule(layers[0], spec.v_proj).weight.shape[0] // head_dim
    default_eps = getattr(model.config, spec.rms_eps_attr, 1e-6)
    eps = float(getattr(norm, "variance_epsilon", default_eps))
    return ModelParts(layers, base, W_U, g, g.detach().float(), eps, n_heads, n_kv, head_dim)


def block_module(layer: nn.Module, spec: ArchSpec, name: str) -> nn.Module:
    """A decoder block's module by its ArchSpec name (e.g. "down_proj")."""
    return get_submodule(layer, spec.block_module(name))


def unembed_neuron_matrices(model: nn.Module, spec: ArchSpec, layer: int,
                            columns: slice | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """B_down = W_U·diag(g)·W_down [V, f] and B_o = W_U·diag(g)·W_o [V, n_heads·head_dim], fp32.

    The input-independent, unavoidable work of neuron attribution (what LocateCache keeps).
    `columns` restricts both to a neuron range (for chunked use; a range past o_proj's width gives
    B_o [V, 0]).
    """
    parts = model_parts(model, spec)
    cols = columns or slice(None)
    W_U = parts.W_U.detach().float()
    block = parts.layers[layer]
    weights = (block_module(block, spec, name).weight[:, cols] for name in ("down_proj", "o_proj"))
    B_down, B_o = (unembed_transposed(W_U, parts.g, W).T for W in weights)
    return B_down, B_o


def unembed_transposed(W_U: torch.Tensor, g: torch.Tensor, W_cols: torch.Tensor) -> torch.Tensor:
    """(W_U·diag(g)·W_cols)ᵀ = (W_colsᵀ ⊙ g) @ W_Uᵀ, [K, V]: each neuron's V logits in one row."""
    with tf32_matmuls(W_U.device):
        return (W_cols.detach().to(W_U.device, torch.float32).T * g.to(W_U.device)) @ W_U.T
