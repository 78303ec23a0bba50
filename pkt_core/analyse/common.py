"""What every analysis takes and gives: models in several forms, JSON-safe numbers out."""
from __future__ import annotations

import math
from typing import Any, Protocol

import torch

from ..models.architectures import ArchSpec, arch_for_config, decoder_layers


class ModelLike(Protocol):
    """What the analysis needs: a `LoadedModel` fits; so does a (model, tokenizer, spec) tuple."""
    model: Any
    tokenizer: Any
    spec: ArchSpec


def unpack_model(m: Any) -> tuple[Any, Any, ArchSpec, str]:
    """(model, tokenizer or None, spec, display name) from a LoadedModel, a tuple or a bare
    model."""
    if isinstance(m, torch.nn.Module):  # checked first: a CausalLM also has a `.model` attribute
        model, tok, spec = m, None, None
    elif isinstance(m, (tuple, list)):
        model, tok, spec = (list(m) + [None, None])[:3]
    else:
        model, tok, spec = m.model, getattr(m, "tokenizer", None), getattr(m, "spec", None)
    spec = spec or arch_for_config(model.config)
    name = getattr(m, "name", None) or getattr(model.config, "_name_or_path", "") or \
        f"{spec.family} {len(decoder_layers(model, spec))} layers"
    return model, tok, spec, str(name)


def nan_to_none(values: Any) -> Any:
    """Nested dicts/lists of floats with NaN → None, so the JSON is strict."""
    if isinstance(values, dict):
        return {k: nan_to_none(v) for k, v in values.items()}
    if isinstance(values, (list, tuple)):
        return [nan_to_none(v) for v in values]
    return None if isinstance(values, float) and math.isnan(values) else values
