"""A model's size from its config alone, and the refusal of absurd or over-cap configs, before
any model is built or any weight is downloaded.

A crafted `config.json` (20,000 layers, a vocabulary of 10^9) must cost nothing: the count here is
arithmetic on the config's numbers, so no lock is taken and nothing is allocated (building even a
meta-device model of 20,000 layers held the build lock for ~50 s). The per-family differences that
change the count (biases, q/k norms) are data on `ArchSpec`.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..infra import policy
from .architectures import ModelShape, arch_for_config, shape_of

# Far beyond any real causal LM of the supported families, far below what breaks the arithmetic
# or the page: a config outside these is a mistake or an attack, in every mode.
SANE_LIMITS = {"n_layers": 1024, "hidden": 65_536, "ffn": 1_048_576, "n_heads": 1024,
               "vocab": 4_194_304, "n_params": 2 * 10**12}


class ConfigRefused(ValueError):
    """A config that cannot be a model PKT Lab may build here."""


def params_from_config(config: Any) -> int:
    """The exact parameter count of a supported causal LM, computed from its config's numbers."""
    spec = arch_for_config(config)
    shape = shape_of(config)
    d, q_dim, kv_dim = shape.hidden, shape.n_heads * shape.head_dim, shape.n_kv_heads * shape.head_dim
    attn_bias = bool(getattr(config, "attention_bias", False))
    attention = d * q_dim + 2 * d * kv_dim + q_dim * d
    if spec.qkv_bias or attn_bias:
        attention += q_dim + 2 * kv_dim
    if attn_bias:
        attention += d  # o_proj's bias
    if spec.qk_norm:
        attention += 2 * shape.head_dim
    mlp = 3 * d * shape.ffn + (2 * shape.ffn + d if getattr(config, "mlp_bias", False) else 0)
    block = attention + mlp + 2 * d  # + the two RMSNorms
    embeddings = shape.vocab * d * (1 if getattr(config, "tie_word_embeddings", False) else 2)
    return embeddings + shape.n_layers * block + d  # + the final norm


def checked_shape(config: Any, name: str, limits: policy.Limits | None = None) -> ModelShape:
    """The model's shape with its parameter count, or ConfigRefused naming what is wrong; in
    public mode a model over the parameter cap is refused too."""
    shape = shape_of(config)  # refuses an unsupported family first
    values = {"n_layers": shape.n_layers, "hidden": shape.hidden, "ffn": shape.ffn,
              "n_heads": shape.n_heads, "vocab": shape.vocab}
    for key, value in values.items():
        if not 1 <= value <= SANE_LIMITS[key]:
            raise ConfigRefused(f"'{name}' has an impossible config: {key.replace('_', ' ')} = "
                                f"{value} (allowed 1 to {SANE_LIMITS[key]:,})")
    if shape.n_heads % shape.n_kv_heads:
        raise ConfigRefused(f"'{name}' has an impossible config: {shape.n_heads} attention heads "
                            f"cannot share {shape.n_kv_heads} key/value heads")
    n_params = params_from_config(config)
    if n_params > SANE_LIMITS["n_params"]:
        raise ConfigRefused(f"'{name}' would have {n_params:.3g} parameters; refused")
    cap = policy.given(limits).max_params
    if cap is not None and n_params > cap:
        raise ConfigRefused(f"'{name}' has {n_params / 1e9:.2f} B parameters, over this public "
                            f"lab's cap of {cap / 1e9:.2f} B (PKT_MAX_PARAMS); run PKT Lab locally "
                            f"for larger models")
    return replace(shape, n_params=n_params)
