"""The table of module paths per model family — data, not code paths.

Every piece of PKT Lab that reads or edits a model's internals (attribution, similarity, LaTen,
Seeking) asks this table where things are, so supporting a new Llama-style family is one new row.
Only families with separate q/k/v/o and gate/up/down projections and a pre-norm RMSNorm block
`x + Attn(norm(x)) → + FFN(norm(·))` qualify: the science (docs/SCIENCE.md §2–§4) is defined on them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch.nn as nn


class UnsupportedArchitecture(ValueError):
    """The model's architecture is not in the table (or has fused projections)."""


@dataclass(frozen=True)
class ArchSpec:
    family: str
    model_types: tuple[str, ...]  # values of config.model_type this row covers
    layers: str = "model.layers"  # ModuleList of decoder blocks
    embed: str = "model.embed_tokens"
    final_norm: str = "model.norm"
    lm_head: str = "lm_head"
    # Paths relative to one decoder block.
    attn_norm: str = "input_layernorm"
    ffn_norm: str = "post_attention_layernorm"
    attn: str = "self_attn"
    q_proj: str = "self_attn.q_proj"
    k_proj: str = "self_attn.k_proj"
    v_proj: str = "self_attn.v_proj"
    o_proj: str = "self_attn.o_proj"
    mlp: str = "mlp"
    gate_proj: str = "mlp.gate_proj"
    up_proj: str = "mlp.up_proj"
    down_proj: str = "mlp.down_proj"
    # Config attribute names (they differ little, but they do differ in places).
    n_layers_attr: str = "num_hidden_layers"
    hidden_attr: str = "hidden_size"
    ffn_attr: str = "intermediate_size"
    heads_attr: str = "num_attention_heads"
    kv_heads_attr: str = "num_key_value_heads"
    rms_eps_attr: str = "rms_norm_eps"
    # Parameters beyond the projections, for counting them from a config without building it.
    qkv_bias: bool = False  # q/k/v projections always carry a bias (Qwen2)
    qk_norm: bool = False  # per-head RMSNorm on queries and keys (Qwen3)

    def block_module(self, name: str) -> str:
        """Path of a per-block module by its short name (e.g. 'up_proj')."""
        return getattr(self, name)


# The supported families. Qwen2/Qwen3/Mistral differ from Llama only in details that live inside
# the attention (q/k norms, biases, sliding windows), so their paths coincide — which is the point.
ARCHITECTURES: tuple[ArchSpec, ...] = (
    ArchSpec(family="llama", model_types=("llama",)),
    ArchSpec(family="mistral", model_types=("mistral",)),
    ArchSpec(family="qwen2", model_types=("qwen2",), qkv_bias=True),
    ArchSpec(family="qwen3", model_types=("qwen3",), qk_norm=True),
)

# The per-block weight matrices every supported family has, by short name (the ArchSpec fields):
# what LoRA adapts and what parametric similarity compares.
PROJECTIONS: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                "down_proj")

# The four matrices the research studies and LaTen moves: the FFN's up/down and attention's v/o,
# whose rows or columns belong to one neuron each (docs/SCIENCE.md §3, §6).
NEURON_MODULES: tuple[str, ...] = ("up_proj", "down_proj", "v_proj", "o_proj")

# Known families we refuse on purpose, with the reason shown to the user.
REFUSED: dict[str, str] = {
    "phi3": "fuses gate/up into one gate_up_proj and q/k/v into qkv_proj",
    "gpt2": "uses a fused c_attn projection and a GELU MLP without gate/up/down",
    "gpt_neox": "uses a fused query_key_value projection and a GELU MLP",
    "gemma": "scales embeddings and uses (1 + w) norms, which the logit-lens scale here does not model",
    "gemma2": "uses extra post-norms and logit soft-capping",
    "falcon": "uses a fused query_key_value projection",
}


def supported_families() -> list[str]:
    return [spec.family for spec in ARCHITECTURES]


def arch_for_config(config: Any) -> ArchSpec:
    """The table row for a transformers config, or a readable refusal."""
    model_type = getattr(config, "model_type", None)
    for spec in ARCHITECTURES:
        if model_type in spec.model_types:
            return spec
    why = REFUSED.get(str(model_type), "is not in PKT Lab's architecture table")
    raise UnsupportedArchitecture(
        f"architecture '{model_type}' is not supported: it {why}. "
        f"Supported: {', '.join(supported_families())}."
    )


def get_submodule(root: nn.Module, path: str) -> nn.Module:
    try:
        return root.get_submodule(path)
    except AttributeError as err:
        raise UnsupportedArchitecture(f"model has no module '{path}' ({err})") from err


def decoder_layers(model: nn.Module, spec: ArchSpec) -> nn.ModuleList:
    return get_submodule(model, spec.layers)  # type: ignore[return-value]


def block_part(model: nn.Module, spec: ArchSpec, layer: int, name: str) -> nn.Module:
    """One module of one decoder block, e.g. block_part(m, spec, 3, 'down_proj')."""
    return get_submodule(decoder_layers(model, spec)[layer], spec.block_module(name))


@dataclass(frozen=True)
class ModelShape:
    """The sizes a user compares between teacher and student."""
    family: str
    n_layers: int
    hidden: int
    ffn: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    vocab: int
    n_params: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def shape_of(config: Any, n_params: int | None = None) -> ModelShape:
    spec = arch_for_config(config)
    heads = int(getattr(config, spec.heads_attr))
    kv = getattr(config, spec.kv_heads_attr, None) or heads
    hidden = int(getattr(config, spec.hidden_attr))
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    return ModelShape(
        family=spec.family,
        n_layers=int(getattr(config, spec.n_layers_attr)),
        hidden=hidden,
        ffn=int(getattr(config, spec.ffn_attr)),
        n_heads=heads,
        n_kv_heads=int(kv),
        head_dim=int(head_dim),
        vocab=int(config.vocab_size),
        n_params=n_params,
    )
